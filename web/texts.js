/*
 * Every word the upload page says, in French (the existing client's language, and the words
 * written in index.html) and in English, the choice between them, and numbers in either.
 */
"use strict";

const TEXTS = {
  fr: {
    chosen: "{name} : {type}, {size}",
    unknownType: "type inconnu",
    previewFailed: "Aperçu impossible : ce fichier n'est peut-être pas une image.",
    target: "Envoi vers {url}",
    sending: "Envoi en cours…",
    waiting: "Fichier envoyé, traitement par le serveur…",
    done: "Image enregistrée.",
    network: "Le serveur est injoignable ou a refusé la requête (réseau ou CORS).",
    timeout: "Le serveur n'a pas répondu à temps.",
    http401: "Authentification requise : indiquez un jeton valide.",
    http413: "Fichier trop volumineux.",
    http415: "Format de fichier refusé.",
    http429: "Trop d'envois, réessayez dans un instant.",
    http5xx: "Le serveur n'a pas pu traiter l'envoi.",
    httpOther: "Réponse inattendue du serveur.",
    noUrl: "Réponse inattendue du serveur : pas d'adresse d'image.",
    badBase: "Adresse de l'API invalide : une URL http(s) complète est attendue.",
    imageMissing: "L'image enregistrée ne se charge pas depuis son adresse.",
    policy: "La politique de sécurité de cette page (Content-Security-Policy) interdit cette " +
      "adresse : ouvrez la page depuis le même site que l'API.",
    resultAlt: "Image enregistrée : {name}",
    noVariants: "aucune : l'image est plus petite que toutes les boîtes",
    bytes: "octets",
    units: ["o", "Ko", "Mo"],
  },
  en: {
    title: "Image upload",
    intro: "Try this deployment: upload an image the way the web client does, then check " +
      "that it is displayed from its public address.",
    pick: "Choose an image or drop it here",
    accepted: "JPEG, PNG or WebP, 5MB at most",
    previewAlt: "Preview of the chosen image",
    settings: "Upload settings",
    token: "Access token (if uploads require one)",
    tokenHint: "Sent in the Authorization: Bearer header, never stored.",
    apiBase: "API address (empty: this site)",
    send: "Upload",
    progress: "Upload progress",
    stored: "Stored image",
    address: "Address",
    size: "Size",
    dimensions: "Dimensions",
    type: "Type",
    variants: "Variants",
    srcsetTitle: "Markup to copy (srcset)",
    noVariants: "none: the image is smaller than every box",
    chosen: "{name}: {type}, {size}",
    unknownType: "unknown type",
    previewFailed: "No preview: this file may not be an image.",
    target: "Uploading to {url}",
    sending: "Uploading…",
    waiting: "File sent, the server is processing it…",
    done: "Image stored.",
    network: "The server cannot be reached or refused the request (network or CORS).",
    timeout: "The server did not answer in time.",
    http401: "Authentication required: enter a valid token.",
    http413: "File too large.",
    http415: "File type refused.",
    http429: "Too many uploads, try again shortly.",
    http5xx: "The server could not process the upload.",
    httpOther: "Unexpected answer from the server.",
    noUrl: "Unexpected answer from the server: no image address.",
    badBase: "Invalid API address: a full http(s) URL is expected.",
    imageMissing: "The stored image does not load from its address.",
    policy: "This page's Content-Security-Policy forbids that address: open the page from " +
      "the same site as the API.",
    resultAlt: "Stored image: {name}",
    bytes: "bytes",
    units: ["B", "KB", "MB"],
  },
};

/** French unless the browser prefers English (or ?lang= says otherwise). */
function pickLanguage() {
  const forced = new URLSearchParams(window.location.search).get("lang");
  if (forced === "fr" || forced === "en") return forced;
  const prefs = navigator.languages && navigator.languages.length
    ? navigator.languages : [navigator.language || "fr"];
  for (const pref of prefs) {
    const code = String(pref).slice(0, 2).toLowerCase();
    if (code === "fr" || code === "en") return code;
  }
  return "fr";
}

function t(key, values) {
  const text = TEXTS[lang][key] !== undefined ? TEXTS[lang][key] : TEXTS.fr[key];
  if (!values) return text;
  return text.replace(/\{(\w+)\}/g, (_, name) => String(values[name]));
}

function translatePage() {
  document.documentElement.lang = lang;
  if (lang === "fr") return;  // the HTML is written in French
  document.title = t("title");
  for (const el of document.querySelectorAll("[data-i18n]")) el.textContent = t(el.dataset.i18n);
  for (const el of document.querySelectorAll("[data-i18n-alt]")) el.alt = t(el.dataset.i18nAlt);
}

function formatSize(bytes) {
  const number = new Intl.NumberFormat(lang, { maximumFractionDigits: 1 });
  const units = t("units");
  let value = bytes;
  let unit = 0;
  while (value >= 1024 && unit < units.length - 1) {
    value /= 1024;
    unit += 1;
  }
  const short = number.format(value) + " " + units[unit];
  return unit === 0 ? short : short + " (" + number.format(bytes) + " " + t("bytes") + ")";
}

const lang = pickLanguage();
