/*
 * Every word the upload page says, in French (the existing client's language, and the words
 * written in index.html) and in English, the choice between them, and numbers in either.
 * Refusals are not here: the server words them in the request's language, and uploader.js
 * has the few that no answer carries (connection lost, stalled, cancelled).
 * Sizes read as the server writes its limit ("5MB"), in both languages.
 */
import { pickLanguage } from "./uploader.js";

const TEXTS = {
  fr: {
    chosen: "{name} : {type}, {size}",
    unknownType: "type inconnu",
    previewFailed: "Aperçu impossible : ce fichier n'est peut-être pas une image.",
    accepted: "{formats}, {max} au plus ; une photo plus lourde ou de plus de {side} px de " +
      "côté est réduite avant l'envoi",
    or: "ou",
    preparing: "Préparation de l'image…",
    planKept: "Envoyée telle quelle : {width} × {height} px, {size}.",
    planUnknown: "Envoyé tel quel, {size} : ce navigateur ne sait pas le lire (ou ne le doit " +
      "pas : trop de pixels), le serveur en jugera.",
    planShrunk: "Réduite avant l'envoi : {width} × {height} px, {type}, {size} ; " +
      "l'original : {originalWidth} × {originalHeight} px, {originalSize}.",
    target: "Envoi vers {url}",
    sending: "Envoi en cours…",
    waiting: "Fichier envoyé, traitement par le serveur…",
    done: "Image enregistrée.",
    progressBytes: "{loaded} sur {total}",
    badBase: "Adresse de l'API invalide : une URL http(s) complète est attendue.",
    imageMissing: "L'image enregistrée ne se charge pas depuis son adresse.",
    policy: "La politique de sécurité de cette page (Content-Security-Policy) interdit cette " +
      "adresse : ouvrez la page depuis le même site que l'API.",
    retryIn: "Nouvel essai possible dans {seconds} s.",
    resultAlt: "Image enregistrée : {name}",
    noVariants: "aucune : l'image est plus petite que toutes les boîtes",
    deleting: "Suppression…",
    deleted: "Image supprimée du serveur.",
    deletedWithVariants: "Image supprimée du serveur, avec ses variantes.",
    bytes: "octets",
  },
  en: {
    title: "Image upload",
    intro: "Try this deployment: upload an image the way the web client does, then check " +
      "that it is displayed from its public address.",
    pick: "Choose an image or drop it here",
    pickTouch: "Choose an image",
    previewAlt: "Preview of the chosen image",
    settings: "Upload settings",
    token: "Access token (if uploads require one)",
    tokenHint: "Sent in the Authorization: Bearer header, never stored.",
    apiBase: "API address (empty: this site)",
    send: "Upload",
    cancel: "Cancel",
    retry: "Try again",
    progress: "Upload progress",
    stored: "Stored image",
    address: "Address",
    size: "Size",
    dimensions: "Dimensions",
    type: "Type",
    variants: "Variants",
    srcsetTitle: "Markup to copy (srcset)",
    chosen: "{name}: {type}, {size}",
    unknownType: "unknown type",
    previewFailed: "No preview: this file may not be an image.",
    acceptedPlain: "JPEG, PNG or WebP",
    accepted: "{formats}, {max} at most; a heavier photo, or one over {side} px on a side, is " +
      "shrunk before it is sent",
    or: "or",
    preparing: "Preparing the image…",
    planKept: "Sent as it is: {width} × {height} px, {size}.",
    planUnknown: "Sent as it is, {size}: this browser cannot read it (or must not: too many " +
      "pixels), the server will judge.",
    planShrunk: "Shrunk before sending: {width} × {height} px, {type}, {size}; " +
      "the original: {originalWidth} × {originalHeight} px, {originalSize}.",
    target: "Uploading to {url}",
    sending: "Uploading…",
    waiting: "File sent, the server is processing it…",
    done: "Image stored.",
    progressBytes: "{loaded} of {total}",
    badBase: "Invalid API address: a full http(s) URL is expected.",
    imageMissing: "The stored image does not load from its address.",
    policy: "This page's Content-Security-Policy forbids that address: open the page from " +
      "the same site as the API.",
    retryIn: "You can try again in {seconds} s.",
    resultAlt: "Stored image: {name}",
    noVariants: "none: the image is smaller than every box",
    delete: "Delete this image",
    deleting: "Deleting…",
    deleted: "Image deleted from the server.",
    deletedWithVariants: "Image deleted from the server, with its variants.",
    bytes: "bytes",
  },
};

/** French unless the browser prefers English (or ?lang= says otherwise). */
function chooseLanguage() {
  const forced = new URLSearchParams(window.location.search).get("lang");
  if (forced === "fr" || forced === "en") return forced;
  const prefs = navigator.languages && navigator.languages.length
    ? navigator.languages : [navigator.language || "fr"];
  return pickLanguage(prefs);
}

export const lang = chooseLanguage();

export function t(key, values) {
  const text = TEXTS[lang][key] !== undefined ? TEXTS[lang][key] : TEXTS.fr[key];
  if (!values) return text;
  return text.replace(/\{(\w+)\}/g, (_, name) => String(values[name]));
}

export function translatePage() {
  document.documentElement.lang = lang;
  if (lang === "fr") return;  // the HTML is written in French
  document.title = t("title");
  for (const el of document.querySelectorAll("[data-i18n]")) el.textContent = t(el.dataset.i18n);
  for (const el of document.querySelectorAll("[data-i18n-alt]")) el.alt = t(el.dataset.i18nAlt);
}

/** "1,4MB" / "1.4MB", "512 octets" / "512 bytes": the server's way of writing its limit. */
export function shortSize(bytes) {
  const number = new Intl.NumberFormat(lang, { maximumFractionDigits: 1 });
  if (bytes < 1024) return number.format(bytes) + " " + t("bytes");
  const [value, unit] = bytes < 1024 * 1024 ? [bytes / 1024, "KB"] : [bytes / 1048576, "MB"];
  return number.format(value) + unit;
}

/** The short size and, past 1 KB, the exact byte count: "1,4MB (1 468 006 octets)". */
export function formatSize(bytes) {
  const short = shortSize(bytes);
  if (bytes < 1024) return short;
  return short + " (" + new Intl.NumberFormat(lang).format(bytes) + " " + t("bytes") + ")";
}

/** "JPEG, PNG ou WebP" from the server's content types. */
export function formatList(contentTypes) {
  const names = contentTypes.map((type) => ({
    "image/jpeg": "JPEG", "image/png": "PNG", "image/webp": "WebP",
  }[type] || type));
  if (names.length < 2) return names.join("");
  return names.slice(0, -1).join(", ") + " " + t("or") + " " + names[names.length - 1];
}
