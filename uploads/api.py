"""The HTTP surface: the existing client's upload route and the health probes.

`POST /api/upload/avatar` keeps the old route's contract (multipart field `avatar`, `data.url`
in the answer) so the web client works unchanged; `GET /api/upload/limits` tells a client what
an upload may be, so that it can shrink a phone photo before sending it rather than after a
refusal. Everything under `/i/` is a 404 here on
purpose: image bytes are nginx's job, and the app must never become a second way to read them.
"""

import io
import logging
import time

from flask import Blueprint, current_app, jsonify, request
from werkzeug.exceptions import RequestEntityTooLarge

from . import images, metrics, owners, variants
from .auth import authenticate
from .errors import (
    ClientGone,
    EmptyFile,
    MalformedForm,
    NoFile,
    NotFound,
    NotMultipart,
    StorageFull,
    TooLarge,
    TooManyFiles,
    human_bytes,
)
from .messages import negotiate
from .naming import url_path
from .transport import client_gone

log = logging.getLogger(__name__)
bp = Blueprint("api", __name__)
FILE_FIELDS = ("avatar", "file")


@bp.post("/api/upload/avatar")
def upload_avatar():
    started = time.perf_counter()
    config = current_app.config
    subject = authenticate(config, request.headers.get("Authorization"))
    data, size = _the_file(config["MAX_BYTES"])
    metrics.sniffed(data)
    store, keys = current_app.extensions["uploads.storage"], delete_keys()
    owner = owners.owner_of(store, subject, config["VARIANTS"])  # with a JWT subject only
    # Each file is written as soon as it is encoded (`keeping`), while the next is encoded.
    with store.keeping() as keep:
        # Decoded pixels are the big cost: a slot, shared fairly between clients (admission.py).
        with current_app.extensions["uploads.admission"].slot(
                subject or request.remote_addr or "-"):
            _still_there("before decoding")
            decoded = time.perf_counter()
            result = images.normalise(data, current_app.extensions["uploads.limits"], keep)
            image_ms = (time.perf_counter() - decoded) * 1000
        _still_there("before storing")
        key = store.put_new(result.ext, result.stored(), result.content_type,
                            variants.files(result.variants), owner=owner)
    metrics.stored(len(result.data), time.perf_counter() - started)
    path = url_path(key)
    url = config["PUBLIC_BASE_URL"] + path
    log.info("stored", extra={
        "path": path, "bytes": len(result.data), "in": size, "width": result.width,
        "height": result.height, "ms": round((time.perf_counter() - started) * 1000, 1),
        "image_ms": round(image_ms, 1), "sub": subject, "ip": request.remote_addr})
    response = jsonify(success=True, data={
        "url": url, "filename": key.rsplit("/", 1)[1], "path": path, "size": len(result.data),
        "width": result.width, "height": result.height, "content_type": result.content_type,
        "variants": [v.describe(url) for v in result.variants],
        "delete_url": keys.url(config["PUBLIC_BASE_URL"], key, owner),
    })
    response.status_code = 201
    response.headers["Location"] = url
    response.headers["Cache-Control"] = "no-store"
    return response


@bp.get("/api/upload/limits")
def upload_limits():
    """The limits an upload is checked against, as numbers and as the errors word them."""
    config = current_app.config
    language = negotiate(request.headers.get("Accept-Language"), config["LANGUAGE"])
    response = jsonify(success=True, data={
        "field": "avatar", "max_bytes": config["MAX_BYTES"],
        "max_bytes_text": human_bytes(config["MAX_BYTES"], language),
        "max_side": config["MAX_SIDE"],
        "max_input_side": config["MAX_INPUT_SIDE"], "max_pixels": config["MAX_PIXELS"],
        "content_types": [content_type for _, content_type in images.FORMATS.values()],
    })
    response.headers["Cache-Control"] = "public, max-age=300"
    response.headers["Content-Language"] = language
    response.vary.add("Accept-Language")
    return response


def delete_keys():
    """The delete links' key, read before anything is stored: a store that cannot give it
    refuses the upload (503) rather than keep a file nobody can delete."""
    keys = current_app.extensions["uploads.delete"]
    keys.secret  # noqa: B018 (cached after the first read)
    return keys


def _still_there(stage: str) -> None:
    """Abandon an upload whose client has hung up: nobody would learn its URL, so storing it
    would only leave an orphan (and decoding it would spend a slot other clients wait for)."""
    if client_gone(request.environ):
        raise ClientGone(stage)


def _the_file(max_bytes: int) -> tuple[io.BytesIO, int]:
    """The one uploaded file, after the multipart checks the old route made."""
    if request.mimetype != "multipart/form-data":
        raise NotMultipart(f"content type {request.mimetype!r}")
    parts = file_parts()
    if len(parts) > 1:
        raise TooManyFiles(f"{len(parts)} file parts")
    if not parts or parts[0][0] not in FILE_FIELDS:
        raise NoFile("no file part named avatar")
    stream = parts[0][1].stream
    size = stream.seek(0, 2)
    if size == 0:
        raise EmptyFile()
    if size > max_bytes:
        raise TooLarge(f"{size} bytes")
    stream.seek(0)
    return stream, size  # the in-memory part itself (UploadRequest): no copy of the body


def file_parts(too_large=None) -> list:
    """The request's (field, file) parts, its body read to the end. A body over the request's
    limit raises `too_large(length)` (without one, werkzeug's 413: file_too_large); a form
    werkzeug cannot parse (broken framing, bad encoding), or whose shape (parts, text) is over
    the form limits, is MalformedForm naming those limits."""
    try:
        parts = list(request.files.items(multi=True))
    except (ValueError, RequestEntityTooLarge) as exc:
        length = request.content_length
        if isinstance(exc, RequestEntityTooLarge) and (
                length is None or length > request.max_content_length):
            if too_large is None:
                raise
            raise too_large(length) from exc
        raise MalformedForm(str(exc), parts=request.max_form_parts, fields=(
            f"{current_app.config['MAX_FORM_MEMORY_SIZE'] // 1024}KB")) from exc
    # The parser may finish before the announced Content-Length; a client that is gone before
    # the end will never read our answer, so storing its file would only leave an orphan.
    request.stream.exhaust()  # raises ClientDisconnected (400) when the body was cut short
    return parts


@bp.route("/i/", defaults={"rest": ""}, methods=["GET", "HEAD", "POST", "PUT", "DELETE"])
@bp.route("/i/<path:rest>", methods=["GET", "HEAD", "POST", "PUT", "DELETE"])
def never_serve_images(rest):
    raise NotFound("image paths are served by the static server")


@bp.get("/healthz")
def healthz():
    return {"status": "ok"}


@bp.get("/readyz")
def readyz():
    """Ready: the store takes the largest upload. Also which volume it is and about how many
    files it holds (counted at start, recounted in the background when a minute old, longer
    for a store that takes long to count: a probe never waits for a walk), so that an app on
    the wrong volume shows here, not in 404s."""
    storage = current_app.extensions["uploads.storage"]
    current_app.extensions["uploads.readiness"].check()
    free = storage.free_bytes()
    # Ready means an upload of the largest size can be stored and still leave the reserve.
    needed = current_app.config["MIN_FREE_BYTES"] + current_app.config["MAX_BYTES"]
    if free is not None and free < needed:  # None: a store with no bound (a bucket)
        error = StorageFull(f"{free} bytes free, {needed} needed")
        error.status = 503  # not ready, whatever the cause
        raise error
    volume = current_app.extensions.get("uploads.volume")  # None: not started to serve
    return jsonify(status="ready", free_bytes=free, volume_id=volume and volume.id,
                   files=volume and volume.files)
