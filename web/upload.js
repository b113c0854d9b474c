/*
 * The operator's upload page. It sends the file exactly as the existing web client does
 * (FormData with the field "avatar", POST /api/upload/avatar, then reads data.url) so that a
 * success here means the real client works too, through uploader.js, the module other web
 * apps import: a photo over the server's limits is shrunk here before it is sent. The
 * stored image can then be deleted here, through its answer's delete_url.
 * No inline code anywhere, so a strict Content-Security-Policy still allows it.
 */
import { DELETE_PATH, getLimits, prepare, remove, upload, UPLOAD_PATH } from "./uploader.js";
import { formatList, formatSize, lang, shortSize, t, translatePage } from "./texts.js";

const $ = (id) => document.getElementById(id);
const params = new URLSearchParams(window.location.search);
const limitsByBase = new Map();  // API base -> Promise of its limits, or null when unknown
let prepared = null;     // what prepare() made of the chosen file: what will be sent
let previewUrl = null;
let blockedByPolicy = null;
let controller = null;   // aborts the upload in flight
let run = 0;             // bumped by every choice and every send: older outcomes are ignored
let deleteTarget = null; // where the shown image's delete link is sent (deleteAddress)
let deleting = false;    // a delete in flight: the page takes no other file meanwhile
let storedVariants = 0;  // how many variants the shown image has (what a delete removes)

/** The API base from the field or ?api=, "" for this site; throws on a bad address. */
function apiBase() {
  const base = $("api-base").value.trim();
  if (!base) return "";
  const url = new URL(base);  // throws on a relative or malformed address
  if (url.protocol !== "http:" && url.protocol !== "https:") throw new TypeError(base);
  return url.origin + url.pathname.replace(/\/+$/, "");
}

function showTarget() {
  let shown;
  try {
    shown = new URL(apiBase() + UPLOAD_PATH, window.location.href).href;
  } catch (err) {
    shown = t("badBase");
  }
  $("target").textContent = t("target", { url: shown });
}

/** The server's limits for the current base, asked once; null when it cannot be asked (the
 * file is then sent as it is, and the server judges it). */
function currentLimits() {
  let base;
  try {
    base = apiBase();
  } catch (err) {
    return Promise.resolve(null);
  }
  if (!limitsByBase.has(base)) {
    limitsByBase.set(base, getLimits(base, { language: lang }).catch(() => {
      limitsByBase.delete(base);  // asked again next time
      return null;
    }));
  }
  return limitsByBase.get(base);
}

async function showLimits() {
  const limits = await currentLimits();
  if (!limits) return;
  $("accepted").textContent = t("accepted", {
    formats: formatList(limits.content_types), max: limits.max_bytes_text, side: limits.max_side,
  });
}

function setProgress(loaded, total) {
  const percent = total > 0 ? Math.max(0, Math.min(100, Math.round((100 * loaded) / total))) : 0;
  $("progress").value = percent;
  $("progress").textContent = percent + " %";
  $("progress-text").textContent = percent + " %";
  $("progress-bytes").textContent = total > 0
    ? t("progressBytes", { loaded: shortSize(loaded), total: shortSize(total) }) : "";
}

function setStatus(text) {
  $("status").textContent = text;
}

/** Bring the outcome into view (below the fold on a phone) and move focus to it. */
function present(element, block) {
  element.scrollIntoView({ block, behavior: "instant" });
  element.focus({ preventScroll: true });
}

function showError(message, detail) {
  $("error-message").textContent = message;
  $("error-detail").textContent = detail || "";
  $("error").classList.add("shown");
  setStatus("");
}

function clearOutcome() {
  $("error").classList.remove("shown");
  $("error-message").textContent = "";
  $("error-detail").textContent = "";
  $("retry").hidden = true;
  $("result").hidden = true;
  $("result-img").onerror = null;
  $("result-img").removeAttribute("src");
  deleteTarget = null;
  setStatus("");
}

/** The page is sending (or not): one upload at a time, cancellable. */
function busy(on) {
  $("send").disabled = on || !prepared;
  $("cancel").hidden = !on;
  if (on) $("upload-form").setAttribute("aria-busy", "true");
  else $("upload-form").removeAttribute("aria-busy");
}

function showPreview(blob) {
  if (previewUrl) URL.revokeObjectURL(previewUrl);
  previewUrl = URL.createObjectURL(blob);
  $("preview-img").hidden = false;
  $("preview-img").src = previewUrl;
  $("preview").hidden = false;
}

function showPlan(p) {
  if (p.shrunk) {
    $("plan").textContent = t("planShrunk", {
      width: p.width, height: p.height, type: p.type, size: formatSize(p.size),
      originalWidth: p.originalWidth, originalHeight: p.originalHeight,
      originalSize: formatSize(p.originalSize),
    });
  } else if (p.width) {
    $("plan").textContent = t("planKept", { width: p.width, height: p.height,
                                            size: formatSize(p.size) });
  } else {
    $("plan").textContent = t("planUnknown", { size: formatSize(p.size) });
  }
}

/** A new file: whatever was being sent is abandoned (its outcome would be the old file's). */
async function choose(file) {
  if (!file || deleting) return;
  const mine = ++run;
  if (controller) controller.abort();
  controller = null;
  prepared = null;
  busy(false);
  clearOutcome();
  setProgress(0, 0);
  $("chosen").textContent = t("chosen", {
    name: file.name, type: file.type || t("unknownType"), size: formatSize(file.size),
  });
  $("plan").textContent = t("preparing");
  showPreview(file);
  try {
    const p = await prepare(file, await currentLimits(), { language: lang });
    if (mine !== run) return;
    prepared = p;
    if (p.shrunk) showPreview(p.blob);  // what will be sent, not what was chosen
    showPlan(p);
    busy(false);
  } catch (err) {
    if (mine !== run) return;
    $("plan").textContent = "";
    showError(err.message, err.code || "");
  }
}

/** Where to send an answer's delete_url: its path, at the API address this page uploaded
 * through. The link's own origin is the server's UPLOADS_PUBLIC_BASE_URL, which a page opened
 * under another name of the same site may not reach (its policy allows only its own origin). */
function deleteAddress(base, url) {
  if (typeof url !== "string") return null;
  const at = url.indexOf(DELETE_PATH);
  return at < 0 ? url : base + url.slice(at);
}

function showStored(data, base) {
  const img = $("result-img");
  img.alt = t("resultAlt", { name: data.filename || data.url });
  img.onerror = () => {
    if (!blockedByPolicy) showError(t("imageMissing"), data.url);
  };
  img.src = data.url;
  $("result-url").href = data.url;
  $("result-url").textContent = data.url;
  $("result-size").textContent = formatSize(data.size);
  $("result-dimensions").textContent = data.width + " × " + data.height + " px";
  $("result-type").textContent = data.content_type || "";
  showVariants(data);
  deleteTarget = deleteAddress(base, data.delete_url);
  storedVariants = Array.isArray(data.variants) ? data.variants.length : 0;
  $("delete").hidden = !deleteTarget;
  $("result").hidden = false;
  setStatus(t("done"));
}

/** The smaller copies the server wrote, and `<img srcset>` markup using them. */
function showVariants(data) {
  const list = $("result-variants");
  const variants = Array.isArray(data.variants) ? data.variants : [];
  list.replaceChildren(...variants.map((v) => {
    const item = document.createElement("li");
    const link = document.createElement("a");
    link.href = v.url;
    link.textContent = v.width + " × " + v.height + " px";
    item.append(link, " " + (v.content_type || ""));
    return item;
  }));
  if (!variants.length) list.textContent = t("noVariants");
  const sources = variants.slice().reverse().map((v) => v.url + " " + v.width + "w");
  sources.push(data.url + " " + data.width + "w");
  const smallest = variants.length ? variants[variants.length - 1].width : data.width;
  $("result-srcset").textContent =
    '<img src="' + data.url + '"\n     srcset="' + sources.join(",\n             ") +
    '"\n     sizes="' + smallest + 'px" alt="">';
}

/** A delete in flight: no other file may be chosen or sent until it ends (its outcome, a
 * failure above all, must not be lost behind the next file's). The button stays focusable. */
function setDeleting(on) {
  deleting = on;
  $("delete").setAttribute("aria-disabled", String(on));
  $("file").disabled = on;
  $("send").disabled = on || !prepared || Boolean(controller);
  if (on) $("result").setAttribute("aria-busy", "true");
  else $("result").removeAttribute("aria-busy");
}

/** Delete the shown image through its answer's delete link. Caches that kept it (this
 * browser's; nginx's for up to 10 s, or UPLOADS_S3_CACHE_SECONDS in S3 mode: README,
 * "Deleting uploads") may still show it for a while; the server no longer has it. */
async function removeStored() {
  if (!deleteTarget || deleting || controller) return;
  const mine = run;
  setDeleting(true);
  blockedByPolicy = null;  // any earlier violation (the image's) is not this request's
  $("error").classList.remove("shown");
  setStatus(t("deleting"));
  try {
    await remove(deleteTarget, { language: lang });
  } catch (err) {
    setDeleting(false);
    if (mine !== run) return;
    setStatus("");
    if (blockedByPolicy && err.kind === "network") return;  // the policy's message says why
    showError(err.message, refusalDetail(err));
    present($("error"), "start");  // the button, under the result's title, stays in view
    return;
  }
  setDeleting(false);
  if (mine !== run) return;
  clearOutcome();
  setProgress(0, 0);
  setStatus(t(storedVariants ? "deletedWithVariants" : "deleted"));
  $("status").scrollIntoView({ block: "center", behavior: "instant" });
  $("file").focus({ preventScroll: true });  // the button is gone: where a next file is chosen
}

/** "HTTP 429 · rate_limited · Nouvel essai possible dans 30 s." for a refusal, else "". */
function refusalDetail(err) {
  if (err.kind !== "refused") return "";
  let detail = "HTTP " + err.status + (err.code ? " · " + err.code : "");
  if (err.retryAfter) detail += " · " + t("retryIn", { seconds: err.retryAfter });
  return detail;
}

/** Worth trying again as it is: the connection, the time, or the server's state failed,
 * not the file. */
function retryable(err) {
  return err.kind !== "refused" || err.status === 408 || err.status === 429 || err.status >= 500;
}

function failed(err, url) {
  setProgress(0, 0);  // a full bar must never stand for a refusal
  if (err.kind === "aborted") {
    setStatus(err.message);
    $("retry").hidden = false;
    present($("retry"), "center");
    return;
  }
  const detail = refusalDetail(err) || url;
  if (blockedByPolicy && err.kind === "network") return;  // the policy's message says why
  showError(err.message, detail);
  $("retry").hidden = !retryable(err);
  if (err.status === 401) {
    $("settings").open = true;
    $("token").focus();
    return;
  }
  present($("error"), "center");
}

async function send(event) {
  if (event) event.preventDefault();
  if (!prepared || controller || deleting) return;
  let base;
  try {
    base = apiBase();
  } catch (err) {
    showError(t("badBase"));
    present($("error"), "center");
    return;
  }
  const url = new URL(base + UPLOAD_PATH, window.location.href).href;
  const mine = ++run;
  $("delete").hidden = true;  // the shown image is about to be replaced: no delete meanwhile
  deleteTarget = null;
  const limits = await currentLimits();
  if (mine !== run) return;
  clearOutcome();
  blockedByPolicy = null;
  setProgress(0, 0);
  setStatus(t("sending"));
  controller = new AbortController();
  busy(true);
  try {
    const data = await upload(prepared.blob, {
      url: base + UPLOAD_PATH, field: (limits && limits.field) || "avatar", name: prepared.name,
      token: $("token").value.trim(), language: lang, signal: controller.signal,
      onProgress: ({ loaded, total, sent }) => {
        if (mine !== run) return;
        setProgress(loaded, total);
        if (sent) setStatus(t("waiting"));
      },
    });
    if (mine !== run) return;
    controller = null;
    busy(false);
    showStored(data, base);
    present($("result"), "start");
  } catch (err) {
    if (mine !== run) return;  // a newer file or upload took over: this outcome is stale
    controller = null;
    busy(false);
    failed(err, url);
  }
}

/** The origin of a blocked address, not the address itself: a delete link is a secret. */
function originOf(uri) {
  try {
    return new URL(uri).origin;
  } catch (err) {
    return uri;  // "inline", "eval": no address
  }
}

function wireDropZone() {
  const zone = $("drop-zone");
  const over = (e) => {
    e.preventDefault();
    zone.classList.add("over");
  };
  zone.addEventListener("dragenter", over);
  zone.addEventListener("dragover", over);
  zone.addEventListener("dragleave", () => zone.classList.remove("over"));
  zone.addEventListener("drop", (e) => {
    e.preventDefault();
    zone.classList.remove("over");
    const files = e.dataTransfer && e.dataTransfer.files;
    if (files && files.length) choose(files[0]);
  });
}

function init() {
  translatePage();
  const api = params.get("api");
  if (api) {
    $("api-base").value = api;
    $("settings").open = true;  // a page posting elsewhere says so where it can be seen
  }
  showTarget();
  showLimits();
  $("api-base").addEventListener("input", showTarget);
  $("api-base").addEventListener("change", showLimits);
  $("file").addEventListener("change", () => choose($("file").files[0]));
  $("preview-img").addEventListener("error", () => {
    if (!$("preview-img").getAttribute("src")) return;
    $("preview-img").hidden = true;  // no broken-image icon: the caption says why
    $("chosen").textContent += " — " + t("previewFailed");
  });
  $("upload-form").addEventListener("submit", send);
  $("cancel").addEventListener("click", () => controller && controller.abort());
  $("retry").addEventListener("click", () => send());
  $("delete").addEventListener("click", removeStored);
  // Served with a strict policy, the page may not reach another API or image host: say so,
  // whichever of this event and the request's own error comes last.
  document.addEventListener("securitypolicyviolation", (e) => {
    blockedByPolicy = e.blockedURI || e.violatedDirective;
    showError(t("policy"), originOf(blockedByPolicy));
    present($("error"), "center");
  });
  wireDropZone();
  document.body.classList.add("ready");
}

init();
