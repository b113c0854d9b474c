"""One exception hierarchy, one JSON error shape.

Every refusal the app makes is an `UploadsError`; werkzeug's own HTTP errors (404, 405, a body
over MAX_CONTENT_LENGTH) and anything unexpected are turned into the same shape, so a client
always reads `{"success": false, "error": <message for people>, "code": <stable code>}`.

    UploadsError                      500 internal_error
    ├── BadRequest                    400 bad_request
    │   ├── NoFile                    400 no_file
    │   │   └── NoAttachment          400 no_attachment
    │   ├── EmptyFile                 400 empty_file
    │   ├── TooManyFiles              400 too_many_files
    │   ├── TooManyAttachments        400 too_many_attachments
    │   ├── UnexpectedField           400 unexpected_field
    │   ├── NotMultipart              400 not_multipart
    │   ├── MalformedForm             400 malformed_form
    │   ├── SignRequestInvalid        400 bad_sign_request (POST /api/upload/sign)
    │   └── NotAttachmentPath         400 not_attachment_path (only those are signed)
    ├── Unauthorized                  401 unauthorized
    ├── InvalidDeleteLink             403 invalid_delete_link (a delete URL altered or cut)
    ├── NotFound                      404 not_found
    │   └── NoSuchAttachment          404 no_such_attachment (a path to sign holds nothing)
    ├── MethodNotAllowed              405 method_not_allowed
    ├── ErasedMeanwhile               409 erased_meanwhile (purge --subject ran meanwhile)
    ├── TooLarge                      413 file_too_large
    │   └── AttachmentTooLarge        413 attachment_too_large (a part or a whole request)
    ├── UnsupportedFormat             415 unsupported_format
    │   └── UnsupportedKind           415 unsupported_kind (names the accepted kinds)
    ├── ClientGone                    499 client_gone (logged; nobody is left to read it)
    ├── InvalidImage                  422 invalid_image
    │   └── ImageTooLarge             422 image_too_large
    ├── InvalidFile                   422 invalid_file
    │   └── FileTruncated             422 file_truncated
    ├── RateLimited                   429 rate_limited
    ├── Busy                          503 busy (Retry-After: no decode slot in time)
    ├── StorageUnavailable            503 storage_unavailable
    └── StorageFull                   507 storage_full
"""

import logging

from flask import current_app, jsonify, request
from werkzeug.exceptions import HTTPException

from .messages import message, negotiate

log = logging.getLogger(__name__)


class UploadsError(Exception):
    status = 500
    code = "internal_error"

    def __init__(self, detail: str = "", **params):
        super().__init__(detail or self.code)
        self.detail = detail  # for logs only, never sent to the client
        self.params = params  # fill the message's placeholders
        self.headers: dict[str, str] = {}


class BadRequest(UploadsError):
    status, code = 400, "bad_request"


class NoFile(BadRequest):
    code = "no_file"


class NoAttachment(NoFile):
    code = "no_attachment"


class EmptyFile(BadRequest):
    code = "empty_file"


class TooManyFiles(BadRequest):
    code = "too_many_files"


class TooManyAttachments(BadRequest):
    code = "too_many_attachments"


class UnexpectedField(BadRequest):
    code = "unexpected_field"


class NotMultipart(BadRequest):
    code = "not_multipart"


class MalformedForm(BadRequest):
    code = "malformed_form"


class SignRequestInvalid(BadRequest):
    code = "bad_sign_request"


class NotAttachmentPath(BadRequest):
    code = "not_attachment_path"


class Unauthorized(UploadsError):
    status, code = 401, "unauthorized"


class InvalidDeleteLink(UploadsError):
    status, code = 403, "invalid_delete_link"


class ErasedMeanwhile(UploadsError):
    status, code = 409, "erased_meanwhile"


class NotFound(UploadsError):
    status, code = 404, "not_found"


class NoSuchAttachment(NotFound):
    code = "no_such_attachment"


class MethodNotAllowed(UploadsError):
    status, code = 405, "method_not_allowed"


class TooLarge(UploadsError):
    status, code = 413, "file_too_large"


class AttachmentTooLarge(TooLarge):
    code = "attachment_too_large"


class UnsupportedFormat(UploadsError):
    status, code = 415, "unsupported_format"


class UnsupportedKind(UnsupportedFormat):
    code = "unsupported_kind"


class ClientGone(UploadsError):
    """The client hung up after sending its body: its upload is abandoned, not stored."""
    status, code = 499, "client_gone"


class InvalidImage(UploadsError):
    status, code = 422, "invalid_image"


class ImageTooLarge(InvalidImage):
    code = "image_too_large"


class InvalidFile(UploadsError):
    status, code = 422, "invalid_file"


class FileTruncated(InvalidFile):
    code = "file_truncated"


class RateLimited(UploadsError):
    status, code = 429, "rate_limited"


class Busy(UploadsError):
    status, code = 503, "busy"

    def __init__(self, detail: str = "", retry: int = 1):
        super().__init__(detail)
        self.headers["Retry-After"] = str(retry)


class StorageUnavailable(UploadsError):
    status, code = 503, "storage_unavailable"

    def __init__(self, detail: str = "", **params):
        super().__init__(detail, **params)
        self.headers["Retry-After"] = "5"  # a store back from a restart answers within seconds


class StorageFull(UploadsError):
    status, code = 507, "storage_full"


# werkzeug's HTTP errors, mapped onto ours by status.
_BY_STATUS = {cls.status: cls for cls in (
    BadRequest, Unauthorized, NotFound, MethodNotAllowed, TooLarge, UnsupportedFormat,
    RateLimited, StorageUnavailable,
)}


def error_body(code: str, text: str) -> dict:
    return {"success": False, "error": text, "code": code}


def respond(error: UploadsError, status: int | None = None):
    """The JSON answer to a refusal, logged with its code and status: every error answer the
    app gives has its line (the detail may hold client text; the JSON log escapes it)."""
    status = status or error.status
    expected = status < 500 or isinstance(error, ClientGone | Busy)
    log.log(logging.INFO if expected else logging.WARNING, "refused", extra={
        "code": error.code, "status": status, "detail": error.detail or None,
        "ip": request.remote_addr})
    config = current_app.config
    language = negotiate(request.headers.get("Accept-Language"), config["LANGUAGE"])
    params = {"limit": human_bytes(config["MAX_BYTES"], language),
              "free": human_bytes(config["MIN_FREE_BYTES"], language), "field": "avatar",
              **error.params}
    # A value given per language ({"fr": ..., "en": ...}) is said in the answer's language.
    params = {k: v.get(language, v.get("en")) if isinstance(v, dict) else v
              for k, v in params.items()}
    text = message(error.code, language, **params)
    response = jsonify(error_body(error.code, text))
    response.status_code = status
    response.headers.update(error.headers)
    response.headers["Cache-Control"] = "no-store"
    response.headers["Content-Language"] = language
    response.vary.add("Accept-Language")
    return response


def human_bytes(size: int, language: str = "en") -> str:
    """5242880 -> '5MB', as the existing client's message says it."""
    for unit, factor in (("MB", 1024 * 1024), ("KB", 1024)):
        if size >= factor and size % factor == 0:
            return f"{size // factor}{unit}"
    return f"{size} {'octets' if language == 'fr' else 'bytes'}"


def register(app):
    @app.errorhandler(UploadsError)
    def handle_uploads_error(error):
        return respond(error)

    @app.errorhandler(HTTPException)
    def handle_http_exception(error):
        ours = _BY_STATUS.get(error.code, UploadsError)(type(error).__name__)
        if error.code == 405 and error.valid_methods:
            ours.headers["Allow"] = ", ".join(error.valid_methods)
        if ours.status == 500:  # an HTTP status we do not map: keep it, generic message
            return respond(ours, error.code or 500)
        return respond(ours)

    @app.errorhandler(Exception)
    def handle_unexpected(error):
        log.exception("unexpected error")
        return respond(UploadsError())
