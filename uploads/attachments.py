"""`POST /api/upload/attachment`: files attached to messages, one to ATTACHMENT_MAX_FILES parts
named `file` in one multipart request, each kind decided by its content (kinds.py).

Bodies of up to ATTACHMENT_MAX_BYTES (100 MiB) never sit whole in memory: every file part is
written, as werkzeug's parser hands it over, into a temp file in the volume's own `.tmp/`
(`Part`; in S3 mode a spool file on local disk, storage/s3files.py), counted as it goes; once
its first bytes show an image, the image limit applies, and a part is refused (413) as soon as
it passes its kind's limit. The whole upload is checked before anything is stored, and stored
all or nothing: the files are linked into place (never replacing, storage/files.py
`put_file`), or in S3 mode sent to the store in parts and completed only if the key is free
(storage/s3files.py), images re-encoded first like avatars (variants included). Temp files go
in every case, placed or not.
"""

import contextlib
import io
import logging
import time

from flask import Blueprint, current_app, jsonify, request

from . import filenames, images, kinds, links, naming, owners, variants
from .api import delete_keys, file_parts
from .auth import authenticate
from .deletion import remove_unit
from .errors import (
    AttachmentTooLarge,
    ClientGone,
    EmptyFile,
    NoAttachment,
    NotFound,
    NotMultipart,
    StorageUnavailable,
    TooManyAttachments,
    UnexpectedField,
    human_bytes,
)
from .storage import Storage
from .storage.atomic import os_errors
from .storage.tree import unlink_quietly
from .transport import client_gone

log = logging.getLogger(__name__)
bp = Blueprint("attachments", __name__)
ROUTE = "/api/upload/attachment"
FIELD = "file"
REQUEST_SLACK = 1024 * 1024  # framing and text fields beyond ATTACHMENT_MAX_BYTES (the edge's)
TEXT_PARTS = 8  # non-file parts a form may hold besides the files (the client sends none)


def request_limit(config) -> int:
    """The most a whole attachment request may carry: the edge's buffering limit too."""
    return config["ATTACHMENT_MAX_BYTES"] + REQUEST_SLACK


def too_large(detail: str, config) -> AttachmentTooLarge:
    """The 413 of a part or a whole request: it names both limits, as the edge's page does
    (Traefik's errors middleware answers every 413 of this route with that page)."""
    def sizes(limit):
        return {language: human_bytes(limit, language) for language in ("fr", "en")}

    return AttachmentTooLarge(detail, limit=sizes(config["ATTACHMENT_MAX_BYTES"]),
                              image_limit=sizes(config["ATTACHMENT_IMAGE_MAX_BYTES"]))


class Part:
    """One file part as it arrives: written to a temp file in the volume's `.tmp/` (or the
    spool of S3 mode), counted;
    its limit is the image one once its first bytes show an image, else the other kinds'."""

    def __init__(self, store: Storage, filename: str | None, config):
        self.file, self.path = store.staging()
        self.filename = filename
        self.config = config
        self.size = 0
        self.head = b""
        self.image_limit = config["ATTACHMENT_IMAGE_MAX_BYTES"]
        self.limit = config["ATTACHMENT_MAX_BYTES"]

    def write(self, data: bytes) -> int:
        if len(self.head) < 16:
            self.head += data[:16 - len(self.head)]
            if len(self.head) >= 16:
                self.check(final=False)
        self.size += len(data)
        if self.size > self.limit:
            self.refuse()
        with os_errors():  # a full volume or spool disk: 507, not a 500
            return self.file.write(data)

    def check(self, final: bool = True) -> None:
        """Choose the limit from the first bytes (at the end, for a part shorter than 16)."""
        if kinds.image_format(self.head):
            self.limit = self.image_limit
        if final and self.size > self.limit:
            self.refuse()

    def refuse(self):
        raise too_large(f"part over {self.limit} bytes", self.config)

    def seek(self, offset: int, whence: int = 0) -> int:
        return self.file.seek(offset, whence)

    def close(self) -> None:
        self.file.close()


class Receiving:
    """The parts of one request, counted as they start; `discard` removes every temp file."""

    def __init__(self, store: Storage, config):
        self.store, self.config = store, config
        self.parts: list[Part] = []

    def open(self, filename: str | None) -> Part:
        if len(self.parts) >= self.config["ATTACHMENT_MAX_FILES"]:
            raise TooManyAttachments(f"more than {len(self.parts)} file parts",
                                     count=self.config["ATTACHMENT_MAX_FILES"])
        self.parts.append(Part(self.store, filename, self.config))
        return self.parts[-1]

    def discard(self) -> None:
        for part in self.parts:
            part.close()
            unlink_quietly(part.path)


@bp.post(ROUTE)
def upload_attachments():
    started = time.perf_counter()
    config = current_app.config
    if not config["ATTACHMENTS"]:
        raise NotFound("attachments are off (UPLOADS_ATTACHMENTS)")
    subject = authenticate(config, request.headers.get("Authorization"))
    store = current_app.extensions["uploads.storage"]
    if request.mimetype != "multipart/form-data":
        raise NotMultipart(f"content type {request.mimetype!r}", field=FIELD)
    request.max_content_length = request_limit(config)
    request.max_form_parts = config["ATTACHMENT_MAX_FILES"] + TEXT_PARTS
    receiving = Receiving(store, config)
    request.file_stream_factory = receiving.open
    try:
        parts = _the_parts(config)
        checked = [(part, _checked(part)) for part in parts]
        prepared = [_prepare(part, kind, config, subject) for part, kind in checked]
        if client_gone(request.environ):
            raise ClientGone("before storing")
        keys, owner = delete_keys(), owners.owner_of(store, subject, config["VARIANTS"])
        stored = _store_all(store, prepared, owner)
    finally:
        receiving.discard()
    base = config["PUBLIC_BASE_URL"]
    files = [_describe(base, key, item) for key, item in zip(stored, prepared, strict=True)]
    for key, described in zip(stored, files, strict=True):
        described["delete_url"] = keys.url(base, key, owner)
    if config["ATTACHMENTS_PRIVATE"]:
        files = [links.signed_entry(entry, config) for entry in files]
    log.info("stored attachments", extra={
        "paths": [f["path"] for f in files], "bytes": sum(f["size"] for f in files),
        "ms": round((time.perf_counter() - started) * 1000, 1), "sub": subject,
        "ip": request.remote_addr})
    response = jsonify(success=True, data={"files": files})
    response.status_code = 201
    response.headers["Cache-Control"] = "no-store"
    return response


def _the_parts(config) -> list[Part]:
    items = file_parts(lambda length: too_large(f"request of {length} bytes", config))
    if any(field != FIELD for field, _ in items):
        raise UnexpectedField("a file part not named file")
    if not items:
        raise NoAttachment("no file part named file", count=config["ATTACHMENT_MAX_FILES"])
    return [storage.stream for _, storage in items]


def _checked(part: Part) -> kinds.Kind:
    if part.size == 0:
        raise EmptyFile(f"{part.filename!r} is empty")
    part.check()
    return kinds.detect(part.file, part.size)


def _prepare(part: Part, kind: kinds.Kind, config, subject):
    """(part, kind, display name, normalised image or None), images re-encoded."""
    if kind.name != "image":
        name = filenames.safe_name(part.filename, kind.exts, config["ATTACHMENT_FILENAME_MAX"])
        return part, kind, name, None
    part.file.seek(0)
    data = io.BytesIO(part.file.read())
    with current_app.extensions["uploads.admission"].slot(subject or request.remote_addr or "-"):
        if client_gone(request.environ):
            raise ClientGone("before decoding")
        result = images.normalise(data, current_app.extensions["uploads.limits"])
    name = filenames.safe_name(part.filename, (result.ext,), config["ATTACHMENT_FILENAME_MAX"],
                               image=True)
    return part, kind, name, result


def _store_all(store: Storage, prepared, owner=None) -> list[str]:
    """Every file placed, or none: a failure removes those placed before it (and the owner's
    records of them)."""
    stored: list[str] = []
    try:
        for part, kind, name, result in prepared:
            if result is None:
                stored.append(store.put_new_file(name, part.path, part.size, owner,
                                                 content_type=kind.content_type))
            else:
                stored.append(_put_image(store, name, result, owner))
    except BaseException:
        for key in stored:  # each upload's files, folder and record, as its delete would
            with contextlib.suppress(StorageUnavailable):
                remove_unit(store, owners.unit_of(key), current_app.config["VARIANTS"],
                            owner.id if owner else None)
        raise
    return stored


def _put_image(store: Storage, name: str, result, owner=None) -> str:
    return store.put_new(result.ext, result.data, result.content_type,
                         variants.files(result.variants),
                         new_key=lambda: naming.new_attachment_key(name), owner=owner)


def _describe(base: str, key: str, item) -> dict:
    part, kind, name, result = item
    folder = key.rpartition("/")[0]
    path = f"/{folder}/{filenames.url_name(name)}"
    url = base + path
    described = {"url": url, "path": path, "filename": name,
                 "size": len(result.data) if result else part.size,
                 "content_type": result.content_type if result else kind.content_type,
                 "kind": kind.name}
    if result:
        described.update(width=result.width, height=result.height,
                         variants=[v.describe(url) for v in result.variants])
    return described
