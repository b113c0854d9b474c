"""Messages for people, by error code, in French (the existing client's language) and English,
and the choice between them for each request.

The first three French messages begin with the old route's words, verbatim, because the web
client shows them as they are; what follows adds what the English says, so that both languages
carry the same information in the same units. Every limit is named in the message that
enforces it.
"""

import re

MESSAGES: dict[str, dict[str, str]] = {
    "no_file": {
        "fr": "Aucun fichier fourni (envoyez-le dans le champ multipart 'avatar')",
        "en": "No file provided (send it in the multipart field 'avatar')",
    },
    "unsupported_format": {
        "fr": "Format d'image non supporté (acceptés : JPEG, PNG, WebP)",
        "en": "Unsupported image format (accepted: JPEG, PNG, WebP)",
    },
    "file_too_large": {
        "fr": "La taille de l'image ne doit pas dépasser {limit}",
        "en": "The image must not be larger than {limit}",
    },
    "empty_file": {
        "fr": "Le fichier envoyé est vide",
        "en": "The file sent is empty",
    },
    "too_many_files": {
        "fr": "Un seul fichier par envoi (champ 'avatar')",
        "en": "Only one file per upload (field 'avatar')",
    },
    "not_multipart": {
        "fr": "La requête doit être de type multipart/form-data avec le champ '{field}'",
        "en": "The request must be multipart/form-data with the field '{field}'",
    },
    "malformed_form": {
        "fr": "Formulaire invalide : {parts} parties au plus, {fields} de champs texte au plus",
        "en": "Malformed form: at most {parts} parts and {fields} of text fields",
    },
    "bad_request": {
        "fr": "Requête invalide",
        "en": "Malformed request",
    },
    "invalid_image": {
        "fr": "Image illisible ou corrompue",
        "en": "The image is corrupt or cannot be decoded",
    },
    "image_too_large": {
        "fr": "Image trop grande : {pixels} pixels au plus pour une image {format} comme "
              "celle-ci, {side} px au plus par côté",
        "en": "Image too large: at most {pixels} pixels for a {format} image like this one "
              "and {side} px on any side",
    },
    # Attachments (POST /api/upload/attachment, uploads/attachments.py).
    "unsupported_kind": {
        "fr": "Type de fichier non accepté (acceptés : images JPEG, PNG, WebP ; PDF ; audio "
              "MP3, Ogg, WAV, M4A, AAC, WebM ; vidéo MP4, WebM, QuickTime ; texte UTF-8)",
        "en": "File type not accepted (accepted: images JPEG, PNG, WebP; PDF; audio MP3, Ogg, "
              "WAV, M4A, AAC, WebM; video MP4, WebM, QuickTime; UTF-8 text)",
    },
    "attachment_too_large": {  # also the edge's page: it cannot tell a part from the whole
        "fr": "Fichier trop grand : {image_limit} au plus pour une image, {limit} au plus pour "
              "un autre fichier comme pour l'envoi entier",
        "en": "File too large: at most {image_limit} for an image, {limit} for another file "
              "and for the whole upload",
    },
    "too_many_attachments": {
        "fr": "Trop de fichiers : {count} au plus par envoi (champ 'file')",
        "en": "Too many files: at most {count} per upload (field 'file')",
    },
    "unexpected_field": {
        "fr": "Champ de fichier inattendu : envoyez chaque fichier dans le champ 'file'",
        "en": "Unexpected file field: send each file in the field 'file'",
    },
    "no_attachment": {
        "fr": "Aucun fichier fourni (envoyez-les dans le champ multipart 'file', {count} au "
              "plus)",
        "en": "No file provided (send them in the multipart field 'file', at most {count})",
    },
    "invalid_file": {
        "fr": "Fichier illisible ou corrompu ({kind})",
        "en": "The file is corrupt or cannot be read ({kind})",
    },
    "file_truncated": {
        "fr": "Fichier incomplet : il a été tronqué ({kind})",
        "en": "The file is incomplete: it was truncated ({kind})",
    },
    "unauthorized": {
        "fr": "Authentification requise : jeton Bearer absent, expiré ou invalide",
        "en": "Authentication required: Bearer token missing, expired or invalid",
    },
    "invalid_delete_link": {  # DELETE on a delete_url (uploads/deletion.py)
        "fr": "Lien de suppression invalide : seul le delete_url exact reçu à l'envoi "
              "supprime un fichier",
        "en": "Invalid delete link: only the exact delete_url received with the upload "
              "deletes a file",
    },
    "erased_meanwhile": {  # purge --subject removed the uploader's record mid-upload (owners.py)
        "fr": "Envoi annulé : les fichiers de ce compte ont été effacés pendant l'envoi "
              "(demande d'effacement) ; rien n'a été gardé",
        "en": "Upload undone: this account's files were erased while it was in flight (an "
              "erasure request); nothing was kept",
    },
    "not_found": {
        "fr": "Ressource introuvable",
        "en": "Not found",
    },
    "method_not_allowed": {
        "fr": "Méthode non autorisée",
        "en": "Method not allowed",
    },
    "rate_limited": {  # answered by the edge, which knows the limits
        "fr": "Trop d'envois : {rate} par minute au plus, {burst} d'affilée, {concurrent} à la "
              "fois ; réessayez dans {retry} s",
        "en": "Too many uploads: at most {rate} a minute, {burst} in a row, {concurrent} at "
              "once; try again in {retry} s",
    },
    "busy": {
        "fr": "Service momentanément surchargé, réessayez dans un instant",
        "en": "Service temporarily overloaded, try again shortly",
    },
    "request_timeout": {  # answered by the edge: the body took longer than its read timeout
        "fr": "L'envoi a pris plus de {seconds} secondes : réessayez avec une meilleure "
              "connexion",
        "en": "The upload took longer than {seconds} seconds: try again on a better connection",
    },
    "client_gone": {  # logged only: nobody is left to read it
        "fr": "Le client s'est déconnecté avant la réponse",
        "en": "The client disconnected before the answer",
    },
    "length_required": {
        "fr": "La longueur de la requête (Content-Length) est requise",
        "en": "The request needs a Content-Length",
    },
    "precondition_failed": {
        "fr": "La condition de la requête n'est pas remplie",
        "en": "The request's precondition failed",
    },
    "request_too_large": {
        "fr": "Une lecture d'image ne prend pas de corps de requête",
        "en": "Reading an image takes no request body",
    },
    "uri_too_long": {
        "fr": "Adresse trop longue",
        "en": "The address is too long",
    },
    "range_not_satisfiable": {
        "fr": "La plage demandée est hors du fichier",
        "en": "The requested range is outside the file",
    },
    "headers_too_large": {
        "fr": "En-têtes de requête trop grands : {limit} au plus",
        "en": "Request headers too large: at most {limit}",
    },
    "storage_unavailable": {
        "fr": "Stockage indisponible, réessayez plus tard",
        "en": "Storage unavailable, try again later",
    },
    "service_unavailable": {  # answered by the edge while the app restarts
        "fr": "Service momentanément indisponible, réessayez dans un instant",
        "en": "Service temporarily unavailable, try again shortly",
    },
    "storage_full": {
        "fr": "Stockage plein : plus assez de place sur le volume (réserve : {free})",
        "en": "Storage full: not enough space left on the volume (reserve: {free})",
    },
    # Private attachments (uploads/links.py, nginx/files-private.conf).
    "link_invalid": {  # the edge's 403: no signature, or one that does not match
        "fr": "Lien non signé ou modifié : un fichier privé n'est servi qu'avec la signature "
              "(expires et sig) que le service a donnée pour ce chemin exact",
        "en": "Link unsigned or altered: a private file is served only with the signature "
              "(expires and sig) the service gave for this exact path",
    },
    "link_expired": {  # the edge's 403: a valid signature whose time has passed
        "fr": "Lien expiré : un lien signé ne vaut que jusqu'à sa date expires ; "
              "demandez-en un nouveau",
        "en": "Link expired: a signed link is valid only until its expires time; "
              "ask for a new one",
    },
    "bad_sign_request": {
        "fr": "Envoyez du JSON {{\"paths\": [...]}} avec 1 à {count} chemins de pièces jointes, "
              "ou {{\"path\": \"...\"}}, de {size} au plus",
        "en": "Send JSON {{\"paths\": [...]}} with 1 to {count} attachment paths, "
              "or {{\"path\": \"...\"}}, of at most {size}",
    },
    "not_attachment_path": {
        "fr": "Le chemin n°{number} n'est pas celui d'une pièce jointe : seuls les chemins "
              "/f/p/AAAA/MM/att_.../nom donnés par un envoi (son `path`) sont signés",
        "en": "Path {number} is not an attachment's: only the /f/p/YYYY/MM/att_.../name paths "
              "an upload gave (its `path`) are signed",
    },
    "no_such_attachment": {
        "fr": "Aucune pièce jointe au chemin n°{number} (supprimée, ou jamais envoyée)",
        "en": "No attachment at path {number} (deleted, or never uploaded)",
    },
    "internal_error": {
        "fr": "Erreur interne du serveur",
        "en": "Internal server error",
    },
}


LANGUAGES = ("fr", "en")
_RANGE = re.compile(  # one language range and its weight: "en-GB;q=0.8"
    r"^\s*([A-Za-z]{1,8}|\*)(?:-[A-Za-z0-9]{1,8})*\s*(?:;\s*q\s*=\s*([01](?:\.\d{0,3})?))?\s*$")


def negotiate(header: str | None, default: str) -> str:
    """The language of LANGUAGES a client's Accept-Language prefers (RFC 9110 12.5.4: by q,
    then by order; a range of q=0 is refused; `*` means any we speak but those). A client that
    names none we speak, or sends no header, gets `default` (UPLOADS_LANGUAGE)."""
    ranges, refused = [], set()
    for position, item in enumerate((header or "")[:1024].split(",")):
        found = _RANGE.match(item)
        if not found:
            continue
        tag = found.group(1).lower()
        weight = float(found.group(2)) if found.group(2) else 1.0
        if weight > 0:
            ranges.append((-weight, position, tag))
        else:
            refused.add(tag)
    for _, _, tag in sorted(ranges):
        if tag in LANGUAGES:
            return tag
        if tag == "*":
            return next((x for x in (default, *LANGUAGES) if x not in refused), default)
    return default


def message(code: str, language: str, **params) -> str:
    texts = MESSAGES.get(code, MESSAGES["internal_error"])
    text = texts.get(language, texts["en"])
    try:
        return text.format(**params)
    except (KeyError, IndexError):
        return text
