/*
 * The operator's upload page. It sends the file exactly as the existing web client does
 * (FormData with the field "avatar", POST /api/upload/avatar, then reads data.url) so that a
 * success here means the real client works too. XHR rather than fetch: only XHR reports
 * upload progress. No inline code anywhere, so a strict Content-Security-Policy still allows it.
 * The words, in French and English, and their formatting are in texts.js, loaded first.
 */
"use strict";

const UPLOAD_PATH = "/api/upload/avatar";
const TIMEOUT_MS = 120000;

const $ = (id) => document.getElementById(id);
const params = new URLSearchParams(window.location.search);
let chosenFile = null;
let previewUrl = null;
let blockedByPolicy = null;

/** Where to POST: this site by default, or the API base from the field or ?api=. */
function uploadUrl() {
  const base = $("api-base").value.trim();
  if (!base) return UPLOAD_PATH;
  const url = new URL(base);  // throws on a relative or malformed address
  if (url.protocol !== "http:" && url.protocol !== "https:") throw new TypeError(base);
  return url.origin + url.pathname.replace(/\/+$/, "") + UPLOAD_PATH;
}

function showTarget() {
  let shown;
  try {
    shown = new URL(uploadUrl(), window.location.href).href;
  } catch (err) {
    shown = t("badBase");
  }
  $("target").textContent = t("target", { url: shown });
}

function setProgress(percent) {
  const value = Math.max(0, Math.min(100, Math.round(percent)));
  $("progress").value = value;
  $("progress").textContent = value + " %";
  $("progress-text").textContent = value + " %";
}

function setStatus(text) {
  $("status").textContent = text;
}

function showError(message, detail) {
  $("error-message").textContent = message;
  $("error-detail").textContent = detail || "";
  $("error").hidden = false;
  setStatus("");
}

function clearOutcome() {
  $("error").hidden = true;
  $("error-message").textContent = "";
  $("error-detail").textContent = "";
  $("result").hidden = true;
  $("result-img").removeAttribute("src");
  setStatus("");
}

function choose(file) {
  if (!file) return;
  chosenFile = file;
  clearOutcome();
  setProgress(0);
  if (previewUrl) URL.revokeObjectURL(previewUrl);
  previewUrl = URL.createObjectURL(file);
  $("chosen").textContent = t("chosen", {
    name: file.name, type: file.type || t("unknownType"), size: formatSize(file.size),
  });
  $("preview-img").hidden = false;
  $("preview-img").src = previewUrl;
  $("preview").hidden = false;
  $("send").disabled = false;
}

/** The message to show for a refusal: the server's own `error` first, else one by status. */
function refusalMessage(status, body) {
  if (body && typeof body.error === "string" && body.error) return body.error;
  if (status === 401 || status === 413 || status === 415 || status === 429) {
    return t("http" + status);
  }
  return status >= 500 ? t("http5xx") : t("httpOther");
}

function parseJson(xhr) {
  const type = xhr.getResponseHeader("Content-Type") || "";
  if (!/[/+]json\b/i.test(type)) return null;
  try {
    return JSON.parse(xhr.responseText);
  } catch (err) {
    return null;
  }
}

function showStored(data) {
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

/** The request is over, whatever its outcome: the form may be used again. */
function settle() {
  $("upload-form").removeAttribute("aria-busy");
  $("send").disabled = false;
}

function finish(xhr) {
  settle();
  const body = parseJson(xhr);
  if (xhr.status >= 200 && xhr.status < 300 && body && body.success && body.data
      && typeof body.data.url === "string") {
    showStored(body.data);
    return;
  }
  const code = body && body.code ? " · " + body.code : "";
  const message = xhr.status >= 200 && xhr.status < 300 ? t("noUrl") : refusalMessage(xhr.status, body);
  showError(message, "HTTP " + xhr.status + code);
  if (xhr.status === 401) {
    $("settings").open = true;
    $("token").focus();
  }
}

function upload(event) {
  event.preventDefault();
  if (!chosenFile) return;
  let url;
  try {
    url = uploadUrl();
  } catch (err) {
    showError(t("badBase"));
    return;
  }
  clearOutcome();
  blockedByPolicy = null;
  setProgress(0);
  setStatus(t("sending"));
  $("send").disabled = true;
  $("upload-form").setAttribute("aria-busy", "true");

  const form = new FormData();
  form.append("avatar", chosenFile, chosenFile.name);
  const xhr = new XMLHttpRequest();
  xhr.open("POST", url);
  xhr.timeout = TIMEOUT_MS;
  const token = $("token").value.trim();
  if (token) xhr.setRequestHeader("Authorization", "Bearer " + token);
  xhr.upload.onprogress = (e) => {
    if (e.lengthComputable && e.total > 0) setProgress((100 * e.loaded) / e.total);
  };
  xhr.upload.onload = () => {
    setProgress(100);
    setStatus(t("waiting"));
  };
  xhr.onload = () => finish(xhr);
  xhr.onerror = () => {
    settle();
    if (!blockedByPolicy) showError(t("network"), url);
  };
  xhr.ontimeout = () => {
    settle();
    showError(t("timeout"), url);
  };
  xhr.send(form);
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
  $("api-base").addEventListener("input", showTarget);
  $("file").addEventListener("change", () => choose($("file").files[0]));
  $("preview-img").addEventListener("error", () => {
    if (!$("preview-img").getAttribute("src")) return;
    $("preview-img").hidden = true;  // no broken-image icon: the caption says why
    $("chosen").textContent += " — " + t("previewFailed");
  });
  $("upload-form").addEventListener("submit", upload);
  // Served with a strict policy, the page may not reach another API or image host: say so,
  // whichever of this event and the request's own error comes last.
  document.addEventListener("securitypolicyviolation", (e) => {
    blockedByPolicy = e.blockedURI || e.violatedDirective;
    showError(t("policy"), blockedByPolicy);
  });
  wireDropZone();
  document.body.classList.add("ready");
}

init();
