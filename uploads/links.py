"""Private attachments (`UPLOADS_ATTACHMENTS_PRIVATE=true`): links nginx serves only with a
valid, unexpired signature, and `POST /api/upload/sign`, which re-signs stored paths.

The check is nginx's own `secure_link` (nginx/files-private.conf), in the official image and
in the local stack alike, so Python never sees a download. Its only keyed hash is MD5 (the
official image loads no module with HMAC-SHA256), used with the secret last, which is what
makes it safe here (README, "Private attachments"):

    sig = base64url(md5(f"{expires}{path} {secret}")) without `=`
    url = f"{base}{path}?expires={expires}&sig={sig}"

`path` is the stored path exactly as an upload answer gives it (its name percent-encoded),
`expires` a unix time inside the signed text, so neither can be changed or stretched.
nginx learns the secret from a generated include (`nginx_include`), never from the repository.
"""

import base64
import hashlib
import os
import re
import tempfile
import time
from urllib.parse import unquote

from flask import Blueprint, current_app, jsonify, request

from . import filenames, naming
from .auth import authenticate
from .deletion import served_from
from .errors import NoSuchAttachment, NotAttachmentPath, NotFound, SignRequestInvalid
from .storage.atomic import place, stage
from .storage.tree import unlink_quietly

bp = Blueprint("links", __name__)
ROUTE = "/api/upload/sign"
MAX_PATHS = 100  # paths one request may re-sign
MAX_BODY = 64 * 1024  # its JSON body: 100 paths of the longest names fit many times over
# A stored path as an answer gives it: the folder, then the name as its URL spells it.
PATH = re.compile("/" + naming.ATTACHMENT_FOLDER_RE.pattern + r"/(?P<name>[^/?#]+)")


def signature(path: str, expires: int, secret: str) -> str:
    """What nginx's secure_link_md5 computes for `path` valid until `expires`."""
    # MD5: all that secure_link checks; the secret last, so no length extension applies.
    digest = hashlib.md5(f"{expires}{path} {secret}".encode()).digest()  # noqa: S324
    return base64.urlsafe_b64encode(digest).decode().rstrip("=")


def signed(path: str, config, now: float | None = None) -> tuple[str, int]:
    """(url, expires) of `path` for LINK_SECONDS from `now`: the query nginx checks."""
    expires = int(now if now is not None else time.time()) + config["LINK_SECONDS"]
    sig = signature(path, expires, config["LINK_SECRET"])
    return f"{config['PUBLIC_BASE_URL']}{path}?expires={expires}&sig={sig}", expires


def signed_entry(entry: dict, config, now: float | None = None) -> dict:
    """An upload answer's file in private mode: `url` and its variants' signed, `expires`
    added; `path` stays the stored path (what a gateway keeps and signs again)."""
    now = time.time() if now is None else now
    base = config["PUBLIC_BASE_URL"]
    entry["url"], entry["expires"] = signed(entry["path"], config, now)
    for variant in entry.get("variants", ()):
        variant["url"] = signed(variant["url"].removeprefix(base), config, now)[0]
    return entry


def nginx_include(config) -> str:
    """The http-level include that tells nginx the secret; empty in public mode, where
    nginx/files-private.conf then checks nothing."""
    secret = config["LINK_SECRET"] if config["ATTACHMENTS_PRIVATE"] else ""
    return ("# Generated at start-up from UPLOADS_ATTACHMENTS_PRIVATE and UPLOADS_LINK_SECRET\n"
            "# (uploads/links.py): do not edit, never commit. Empty: links are not checked.\n"
            f'map $host $uploads_link_secret {{ default "{secret}"; }}\n')


def write_nginx_include(config, path: str) -> bool:
    """Write the include at `path` (atomically, readable by nginx's user); False if it held
    that text already."""
    text = nginx_include(config)
    try:
        with open(path, encoding="utf-8") as f:
            if f.read() == text:
                return False
    except FileNotFoundError:
        pass
    folder = os.path.dirname(path) or "."
    # The store's own atomic write: fsynced in a temp file beside it, then renamed over it;
    # 0644, as nginx reads it as another user (only nginx's container mounts it).
    tmp = stage(lambda: tempfile.mkstemp(prefix=".link-", dir=folder), text.encode(), 0o644)
    try:
        place(folder, tmp, path, replace=True)
    finally:
        unlink_quietly(tmp)
    return True


def stored_key(path: object) -> str | None:
    """The storage key of an attachment's stored path in its one canonical spelling, else
    None: only what an upload answer's `path` (or a variant's) can be."""
    if not isinstance(path, str):
        return None
    found = PATH.fullmatch(path)
    if not found:
        return None
    try:
        name = unquote(found["name"], errors="strict")
    except UnicodeDecodeError:
        return None
    if name.startswith(".") or "/" in name or "\0" in name or len(name.encode()) > 255 \
            or filenames.url_name(name) != found["name"]:
        return None
    return path[1:].rpartition("/")[0] + "/" + name


def _asked_paths() -> list:
    refused = SignRequestInvalid("not {path} or {paths: [1..100]} within 64 KiB",
                                 count=MAX_PATHS, size="64 KiB")
    if request.content_length is None or request.content_length > MAX_BODY:
        raise refused  # before reading it: a sign request is small
    try:
        body = request.get_json(silent=True)
    except RecursionError:  # nesting deeper than the parser goes
        raise refused from None
    if isinstance(body, dict) and set(body) == {"path"}:
        return [body["path"]]
    if isinstance(body, dict) and set(body) == {"paths"} and isinstance(body["paths"], list) \
            and 1 <= len(body["paths"]) <= MAX_PATHS:
        return body["paths"]
    raise refused


@bp.post(ROUTE)
def sign():
    """Fresh links for stored attachment paths, for a client or gateway that cannot sign."""
    config = current_app.config
    if not config["ATTACHMENTS_PRIVATE"]:
        raise NotFound("attachments are public (UPLOADS_ATTACHMENTS_PRIVATE)")
    authenticate(config, request.headers.get("Authorization"))
    store = current_app.extensions["uploads.storage"]
    stores = (store, *served_from(store, config))  # S3 mode: nginx's volume fallback too
    now = time.time()
    links = []
    for number, path in enumerate(_asked_paths(), start=1):
        key = stored_key(path)
        if key is None:
            raise NotAttachmentPath(f"path {number}: {str(path)[:200]!r}", number=number)
        if all(each.stat(key) is None for each in stores):
            raise NoSuchAttachment(f"path {number}: {key[:200]}", number=number)
        url, expires = signed(path, config, now)
        links.append({"path": path, "url": url, "expires": expires})
    response = jsonify(success=True, data={"links": links})
    response.headers["Cache-Control"] = "no-store"
    return response
