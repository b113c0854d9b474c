/*
 * Uploading an image to this service from a web page: one ES module, no dependencies, no build.
 *
 *   getLimits(base)          what the server accepts (GET /api/upload/limits)
 *   prepare(file, limits)    the file as it should be sent: the original when it fits, else a
 *                            copy decoded (EXIF orientation applied) and re-encoded to fit
 *   upload(blob, options)    POST it with progress and cancel; the stored image's data, or an
 *                            UploadError saying why not
 *   remove(deleteUrl, opts)  DELETE what an upload stored, through its answer's delete_url
 *                            (language, signal, timeout)
 *
 * The server words every refusal in the request's language; this module has words only for
 * what no answer says (a lost connection, a stalled upload, a cancel). It never sends a request
 * twice by itself: a retry is the user's decision.
 */

export const UPLOAD_PATH = "/api/upload/avatar";
export const LIMITS_PATH = "/api/upload/limits";
export const DELETE_PATH = "/api/upload/delete/";  // how every delete_url's path begins

const TEXTS = {
  fr: {
    network: "La connexion a été coupée ou refusée avant la réponse du serveur (réseau ou CORS).",
    stalled: "L'envoi n'avance plus depuis {seconds} s : la connexion semble perdue.",
    noAnswer: "Le serveur n'a pas répondu dans les {seconds} s après l'envoi.",
    noReply: "Le serveur n'a pas répondu en {seconds} s ; réessayer est sans risque.",
    aborted: "Envoi annulé.",
    removeAborted: "Suppression annulée.",
    // The server's own words for its 413: said here only for a file this browser cannot
    // decode, so cannot shrink, and that the server would refuse for its size anyway.
    tooLarge: "La taille de l'image ne doit pas dépasser {max}",
    unexpected: "Réponse inattendue du serveur (HTTP {status}).",
  },
  en: {
    network: "The connection was lost or refused before the server answered (network or CORS).",
    stalled: "The upload has not moved for {seconds} s: the connection seems lost.",
    noAnswer: "The server did not answer within {seconds} s of the upload.",
    noReply: "The server did not answer within {seconds} s; trying again is safe.",
    aborted: "Upload cancelled.",
    removeAborted: "Deletion cancelled.",
    tooLarge: "The image must not be larger than {max}",
    unexpected: "Unexpected answer from the server (HTTP {status}).",
  },
};

/** "fr" or "en": the first of the browser's languages that is one of them, else French
 * (the server's default). */
export function pickLanguage(preferences = globalThis.navigator?.languages || []) {
  for (const pref of preferences) {
    const code = String(pref).slice(0, 2).toLowerCase();
    if (code === "fr" || code === "en") return code;
  }
  return "fr";
}

function say(language, key, values = {}) {
  const text = (TEXTS[language] || TEXTS.fr)[key];
  return text.replace(/\{(\w+)\}/g, (_, name) => String(values[name]));
}

/** Why an upload, a limits request or a delete did not succeed.
 * kind: "refused" (the server answered with an error: status, code, its message),
 *       "network" (no answer: connection lost, refused, or blocked by CORS),
 *       "timeout" (an upload: no progress for too long; a delete: no answer in time),
 *       "aborted" (the signal was aborted). */
export class UploadError extends Error {
  constructor(kind, message, { status = 0, code = null, retryAfter = null, body = null } = {}) {
    super(message);
    this.name = "UploadError";
    this.kind = kind;
    this.status = status;
    this.code = code;
    this.retryAfter = retryAfter; // seconds, from Retry-After, when the answer says
    this.body = body;
  }
}

function joinUrl(base, path) {
  return (base || "").replace(/\/+$/, "") + path;
}

function accept(language) {
  const headers = { Accept: "application/json" };
  if (language) headers["Accept-Language"] = language;
  return headers;
}

/** `fetch` with this module's failures: UploadError "aborted" (`signal`, its words under
 * `cancelled`), "timeout" (no whole answer within `timeout` ms; 0: no limit), "network".
 * Resolves with the answer and its JSON body (null when it has none). */
async function ask(url, init, { signal, lang, timeout = 0, cancelled = "aborted" }) {
  const stop = new AbortController();
  let timedOut = false;
  const timer = timeout > 0 && Number.isFinite(timeout)
    ? setTimeout(() => { timedOut = true; stop.abort(); }, timeout) : null;
  const onAbort = () => stop.abort();
  if (signal) {
    if (signal.aborted) stop.abort();
    signal.addEventListener("abort", onAbort, { once: true });
  }
  try {
    const response = await fetch(url, { ...init, signal: stop.signal });
    const body = await response.json().catch(() => null);
    if (timedOut) throw new Error("timed out while reading the answer");
    return { response, body };
  } catch (err) {
    if (timedOut) {
      const seconds = Math.max(1, Math.ceil(timeout / 1000));
      throw new UploadError("timeout", say(lang, "noReply", { seconds }));
    }
    if (err && err.name === "AbortError") throw new UploadError("aborted", say(lang, cancelled));
    throw new UploadError("network", say(lang, "network"));
  } finally {
    clearTimeout(timer);
    if (signal) signal.removeEventListener("abort", onAbort);
  }
}

/** The server's limits: { field, max_bytes, max_bytes_text, max_side, max_input_side,
 * max_pixels, content_types }. Throws UploadError. */
export async function getLimits(base = "", { signal, language } = {}) {
  const lang = language || pickLanguage();
  const { response, body } = await ask(joinUrl(base, LIMITS_PATH), { headers: accept(language) },
                                       { signal, lang });
  if (!response.ok || !body || !body.success || !body.data) {
    throw refusal(lang, response.status, body, response.headers.get("Retry-After"));
  }
  return body.data;
}

// -- prepare: shrink before sending ----------------------------------------------------------

const EXTENSIONS = { "image/jpeg": ".jpg", "image/png": ".png", "image/webp": ".webp" };
const QUALITIES = [0.92, 0.85, 0.78, 0.7, 0.6, 0.5];

/** What to send for `file`: { blob, name, type, size, width, height, shrunk, originalSize,
 * originalWidth, originalHeight } (width and height are null for a file this browser cannot
 * decode; it is then sent as it is and the server judges it). The original is kept, byte for
 * byte, when it is within both max_bytes and max_side. Throws UploadError("refused",
 * code "file_too_large") for an undecodable file over max_bytes: no request could succeed. */
export async function prepare(file, limits, { language } = {}) {
  const maxBytes = (limits && limits.max_bytes) || Infinity;
  const maxSide = (limits && limits.max_side) || Infinity;
  const kept = (width, height) => ({
    blob: file, name: file.name, type: file.type, size: file.size, width, height,
    shrunk: false, originalSize: file.size, originalWidth: width, originalHeight: height,
  });
  const tooLarge = () => new UploadError("refused", say(language || pickLanguage(), "tooLarge", {
    max: limits.max_bytes_text || limits.max_bytes,
  }), { status: 0, code: "file_too_large" });
  // Over the server's pixel limit, decoding here would take seconds and gigabytes on a phone
  // (144 MP: 2 GB, the page frozen) for a file the server refuses anyway: not decoded, sent
  // as it is when it fits, so that the server says why in the user's language.
  const declared = await headerSize(file);
  const maxPixels = (limits && limits.max_pixels) || Infinity;
  if (declared && declared.width * declared.height > maxPixels) {
    if (file.size <= maxBytes) return kept(null, null);
    throw tooLarge();
  }
  let bitmap;
  try {
    bitmap = await createImageBitmap(file, { imageOrientation: "from-image" });
  } catch (err) {
    if (file.size <= maxBytes) return kept(null, null);
    throw tooLarge();
  }
  try {
    const { width, height } = bitmap;
    if (file.size <= maxBytes && Math.max(width, height) <= maxSide) return kept(width, height);
    const accepted = (limits && limits.content_types) || Object.keys(EXTENSIONS);
    const encoded = await shrink(bitmap, file.type, maxSide, maxBytes, accepted);
    if (!encoded) throw tooLarge();
    // Only larger than the stored size, and the copy is no smaller: the original costs the
    // uplink less, and the server scales it down itself.
    if (file.size <= maxBytes && encoded.blob.size >= file.size) return kept(width, height);
    return {
      blob: encoded.blob, name: renamed(file.name, encoded.blob.type), type: encoded.blob.type,
      size: encoded.blob.size, width: encoded.width, height: encoded.height, shrunk: true,
      originalSize: file.size, originalWidth: width, originalHeight: height,
    };
  } finally {
    bitmap.close();
  }
}

/** Width and height from the first bytes of a JPEG, PNG or WebP (no decoding), else null. */
export async function headerSize(file) {
  const b = new Uint8Array(await file.slice(0, 256 * 1024).arrayBuffer());
  const u16 = (i) => (b[i] << 8) | b[i + 1];
  const u24le = (i) => b[i] | (b[i + 1] << 8) | (b[i + 2] << 16);
  if (b[0] === 0x89 && b[1] === 0x50 && b.length >= 24) {  // PNG: IHDR
    return { width: (u16(16) << 16) | u16(18), height: (u16(20) << 16) | u16(22) };
  }
  if (b[0] === 0xff && b[1] === 0xd8) {  // JPEG: the first start-of-frame marker
    for (let i = 2; i + 9 < b.length;) {
      if (b[i] !== 0xff) return null;
      const marker = b[i + 1];
      if (marker >= 0xc0 && marker <= 0xcf && ![0xc4, 0xc8, 0xcc].includes(marker)) {
        return { width: u16(i + 7), height: u16(i + 5) };
      }
      i += 2 + (marker >= 0xd0 && marker <= 0xd9 ? 0 : u16(i + 2));
    }
    return null;
  }
  const text = (i, n) => String.fromCharCode(...b.slice(i, i + n));
  if (text(0, 4) === "RIFF" && text(8, 4) === "WEBP" && b.length >= 30) {
    const chunk = text(12, 4);
    if (chunk === "VP8X") return { width: u24le(24) + 1, height: u24le(27) + 1 };
    if (chunk === "VP8 ") {
      return { width: (b[26] | (b[27] << 8)) & 0x3fff, height: (b[28] | (b[29] << 8)) & 0x3fff };
    }
    if (chunk === "VP8L") {
      const bits = b[21] | (b[22] << 8) | (b[23] << 16) | (b[24] << 24);
      return { width: (bits & 0x3fff) + 1, height: ((bits >>> 14) & 0x3fff) + 1 };
    }
  }
  return null;
}

function renamed(name, type) {
  const stem = (name || "image").replace(/\.[^.]*$/, "") || "image";
  return stem + (EXTENSIONS[type] || "");
}

/** Re-encode at most maxSide on the long side, lowering the quality and then the size until the
 * file is within maxBytes (null if even a fifth of the side is not). JPEG unless the picture
 * has transparency: then WebP (or PNG where this browser cannot encode WebP), so transparent
 * parts do not turn black. */
async function shrink(bitmap, sourceType, maxSide, maxBytes, accepted) {
  let scale = Math.min(1, maxSide / Math.max(bitmap.width, bitmap.height));
  let type = "image/jpeg";
  for (let step = 0; step < 8; step += 1) {
    const width = Math.max(1, Math.round(bitmap.width * scale));
    const height = Math.max(1, Math.round(bitmap.height * scale));
    const canvas = draw(bitmap, width, height);
    if (step === 0 && sourceType !== "image/jpeg" && hasAlpha(canvas)) {
      type = accepted.includes("image/webp") ? "image/webp" : "image/png";
    }
    const qualities = type === "image/png" ? [undefined] : QUALITIES;
    for (const quality of qualities) {
      let blob = await encode(canvas, type, quality);
      if (blob.type !== type) {  // this browser does not encode WebP: lossless PNG instead
        type = "image/png";
        blob = await encode(canvas, type);
      }
      if (blob.size <= maxBytes) return { blob, width, height };
      if (type === "image/png") break;
    }
    scale *= 0.8;  // still too large at the lowest quality: fewer pixels
  }
  return null;
}

function draw(bitmap, width, height) {
  const canvas = typeof OffscreenCanvas === "function"
    ? new OffscreenCanvas(width, height)
    : Object.assign(document.createElement("canvas"), { width, height });
  const context = canvas.getContext("2d", { willReadFrequently: true });
  context.imageSmoothingEnabled = true;
  context.imageSmoothingQuality = "high";
  context.drawImage(bitmap, 0, 0, width, height);
  return canvas;
}

function hasAlpha(canvas) {
  const { data } = canvas.getContext("2d").getImageData(0, 0, canvas.width, canvas.height);
  for (let i = 3; i < data.length; i += 4) if (data[i] < 255) return true;
  return false;
}

function encode(canvas, type, quality) {
  if (canvas.convertToBlob) return canvas.convertToBlob({ type, quality });
  return new Promise((resolve, reject) => canvas.toBlob(
    (blob) => (blob ? resolve(blob) : reject(new Error("encoding failed"))), type, quality));
}

// -- upload ----------------------------------------------------------------------------------

/** POST `blob` as multipart form data. Options: url (default /api/upload/avatar), field
 * (default "avatar"), name (the file name sent), token (sent as a Bearer token), language
 * ("fr" or "en": sent as Accept-Language and used for this module's own words; default: the
 * browser's), onProgress({loaded, total, sent}) as the body leaves the browser, signal (an
 * AbortSignal: cancels), stallTimeout (ms without any progress before giving up, default 60 s:
 * a slow uplink that moves is never cut, the edge allows 300 s per request), answerTimeout (ms
 * to wait for the answer once the body is sent, default 90 s).
 * Resolves with the answer's `data` ({url, width, height, size, variants, ...}); rejects with
 * an UploadError. No retry here: the browser may itself re-send once when a kept-alive
 * connection fails before any answer, and a second upload must be the user's choice. */
export function upload(blob, options = {}) {
  const {
    url = UPLOAD_PATH, field = "avatar", name, token, onProgress, signal,
    stallTimeout = 60000, answerTimeout = 90000,
  } = options;
  const language = options.language || pickLanguage();
  return new Promise((resolve, reject) => {
    if (signal && signal.aborted) {
      reject(new UploadError("aborted", say(language, "aborted")));
      return;
    }
    const xhr = new XMLHttpRequest();
    let timer = null;
    let why = null;  // what made us abort: "timeout" or "aborted"
    let timeoutText = "";
    const arm = (ms, key) => {
      clearTimeout(timer);
      timer = setTimeout(() => {
        why = "timeout";
        timeoutText = say(language, key, { seconds: Math.round(ms / 1000) });
        xhr.abort();
      }, ms);
    };
    const onAbort = () => {
      why = why || "aborted";
      xhr.abort();
    };
    const done = (settle, value) => {
      clearTimeout(timer);
      if (signal) signal.removeEventListener("abort", onAbort);
      settle(value);
    };

    xhr.open("POST", url);
    xhr.setRequestHeader("Accept", "application/json");
    if (options.language) xhr.setRequestHeader("Accept-Language", options.language);
    if (token) xhr.setRequestHeader("Authorization", "Bearer " + token);
    // An upload listener makes a cross-origin request preflighted: a refused origin sends nothing.
    xhr.upload.onprogress = (e) => {
      arm(stallTimeout, "stalled");
      if (onProgress && e.lengthComputable) onProgress({ loaded: e.loaded, total: e.total, sent: false });
    };
    xhr.upload.onload = (e) => {
      arm(answerTimeout, "noAnswer");
      if (onProgress) onProgress({ loaded: e.total || e.loaded, total: e.total || e.loaded, sent: true });
    };
    xhr.onload = () => {
      const body = parseJson(xhr);
      if (xhr.status >= 200 && xhr.status < 300 && body && body.success && body.data
          && typeof body.data.url === "string") {
        done(resolve, body.data);
        return;
      }
      done(reject, refusal(language, xhr.status, body, xhr.getResponseHeader("Retry-After")));
    };
    xhr.onerror = () => done(reject, new UploadError("network", say(language, "network")));
    xhr.onabort = () => done(reject, why === "timeout"
      ? new UploadError("timeout", timeoutText)
      : new UploadError("aborted", say(language, "aborted")));
    if (signal) signal.addEventListener("abort", onAbort, { once: true });

    const form = new FormData();
    form.append(field, blob, name || blob.name || "image");
    arm(stallTimeout, "stalled");
    xhr.send(form);
  });
}

/** Delete what an upload stored (the image and its variants, or an attachment), through the
 * `delete_url` its answer gave: the link is the permission, so no token is sent. Options:
 * language, signal, timeout (ms to wait for the answer, default 30 s, 0 for no limit: a
 * stalled phone link would otherwise keep it pending for minutes). Resolves once the server
 * says it is gone (a link used twice is still a success); rejects with an UploadError, whose
 * message is the server's own for a refusal (403 for a link that is not one of its own). */
export async function remove(deleteUrl, { signal, language, timeout = 30000 } = {}) {
  if (typeof deleteUrl !== "string" || !deleteUrl) {
    throw new TypeError("remove() takes the delete_url of an upload's answer");
  }
  const lang = language || pickLanguage();
  const { response, body } = await ask(deleteUrl, { method: "DELETE", headers: accept(language) },
                                       { signal, lang, timeout, cancelled: "removeAborted" });
  if (!response.ok) throw refusal(lang, response.status, body, response.headers.get("Retry-After"));
}

function parseJson(xhr) {
  if (!/[/+]json\b/i.test(xhr.getResponseHeader("Content-Type") || "")) return null;
  try {
    return JSON.parse(xhr.responseText);
  } catch (err) {
    return null;
  }
}

/** An error answer: the server's own message and code when it sent them. */
function refusal(language, status, body, retryAfter) {
  const message = body && typeof body.error === "string" && body.error
    ? body.error : say(language, "unexpected", { status });
  return new UploadError("refused", message, {
    status, code: (body && body.code) || null, retryAfter: seconds(retryAfter), body,
  });
}

function seconds(retryAfter) {
  if (!retryAfter) return null;
  if (/^\d+$/.test(retryAfter.trim())) return Number(retryAfter);
  const when = Date.parse(retryAfter);
  return Number.isNaN(when) ? null : Math.max(0, Math.round((when - Date.now()) / 1000));
}
