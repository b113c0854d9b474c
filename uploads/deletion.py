"""Deleting what was uploaded: every upload's answer carries a `delete_url`, a capability that
`DELETE` takes to remove the file and its variants (an attachment: its whole folder).

The capability is stateless, an HMAC-SHA256 over the unit it removes (and its owner's record
name, when there is one), so it costs an upload no write, stays valid across restarts and is
checked alike by every replica sharing the store. Its secret is `UPLOADS_DELETE_SECRET` when
set, else one made at random once and kept in the store (`.uploads-delete-secret`, a private
object: storage/private.py), written never-replacing so that of several replicas starting
together one secret wins, and read by all.

    DELETE /api/upload/delete/<capability>/<unit>
    <capability> = base64url(HMAC(secret, "uploads-delete/1\\n<unit>\\n<owner>")) [ "." <owner> ]

A capability that does not match is 403 (checked before the store is asked: the answer says
nothing of what exists); a unit that is not a name the service makes is 404; a matching one
is 204 whether or not the file was still there (a retried DELETE succeeds).
"""

import base64
import hashlib
import hmac
import logging
import os
import re
import secrets
import threading

from flask import Blueprint, current_app, request

from . import naming, settings
from .errors import InvalidDeleteLink, NotFound, StorageUnavailable
from .owners import record_name, unit_of
from .storage.private import SECRET_NAME

log = logging.getLogger(__name__)
bp = Blueprint("deletion", __name__)
PREFIX = "/api/upload/delete/"
CAPABILITY_RE = re.compile(r"([A-Za-z0-9_-]{43})(?:\.([0-9a-f]{32}))?")
SECRET_RE = re.compile(r"[0-9a-f]{64}")
ALWAYS_BOXES = settings.default("VARIANTS")  # copies made before a change of the boxes


class DeleteKeys:
    """The capabilities' secret: the setting's, else the store's (read, or made once)."""

    def __init__(self, store, configured: str = ""):
        self.store = store
        self._secret = configured.encode() if configured else None
        self._lock = threading.Lock()

    @property
    def secret(self) -> bytes:
        with self._lock:
            if self._secret is None:
                self._secret = self._from_store()
            return self._secret

    def _from_store(self) -> bytes:
        found = self.store.read_private(SECRET_NAME)
        if found is None:
            self.store.put_private(SECRET_NAME, secrets.token_hex(32).encode() + b"\n")
            found = self.store.read_private(SECRET_NAME)  # ours, or the replica's that won
        text = (found or b"").decode("ascii", "replace").strip()
        if not SECRET_RE.fullmatch(text):
            raise StorageUnavailable(f"{SECRET_NAME} is not 64 hex digits: remove it (every "
                                     "delete link given so far stops working) or set "
                                     "UPLOADS_DELETE_SECRET")
        return text.encode()

    def capability(self, unit: str, owner: str | None = None) -> str:
        message = f"uploads-delete/1\n{unit}\n{owner or ''}".encode()
        mac = hmac.new(self.secret, message, hashlib.sha256).digest()
        token = base64.urlsafe_b64encode(mac).decode().rstrip("=")
        return f"{token}.{owner}" if owner else token

    def url(self, base: str, key: str, owner=None) -> str:
        """The delete URL of the upload stored at `key` (an attachment: any key of its folder)."""
        unit = unit_of(key)
        return f"{base}{PREFIX}{self.capability(unit, owner and owner.id)}/{unit}"

    def check(self, capability: str, unit: str) -> str | None:
        """The owner the capability names (None: none); InvalidDeleteLink when it does not
        match the unit."""
        match = CAPABILITY_RE.fullmatch(capability)
        if not match or not hmac.compare_digest(
                self.capability(unit, match.group(2)), capability):
            raise InvalidDeleteLink("capability does not match")
        return match.group(2)


def is_unit(unit: str) -> bool:
    """An avatar's main key or an attachment's folder, as the service names them."""
    return bool(naming.PATH_RE.fullmatch(unit) or naming.ATTACHMENT_FOLDER_RE.fullmatch(unit))


def unit_keys(store, unit: str, boxes) -> list[str]:
    """The keys a unit may hold, variants first and the main file last: a delete cut short
    leaves the main file, so the same DELETE again finishes it."""
    if unit.startswith(naming.FILES_TOP + "/"):
        keys = [entry.key for entry in store.walk(unit)]
        return sorted(keys, key=lambda key: naming.main_stem(key) is None)
    every = sorted(set(boxes) | set(ALWAYS_BOXES))
    return [*(naming.variant_key(unit, box) for box in every), unit]


def remove_unit(store, unit: str, boxes, owner: str | None = None, also=(),
                again: bool = False) -> int:
    """Remove every file of the unit (from `store`, and from each store of `also`: served_from),
    then its owner's record, and `again` (a purge) whatever the unit holds by then: an upload
    still in flight may have stored its files after the first pass (its record was written
    before them; owners.py checks it after them, for the other order). A delete link is only
    given once its upload is stored, so a DELETE has nothing to look for again. How many files
    went."""
    removed = sum(_remove_files(each, unit, boxes) for each in (*also, store))
    if owner:
        store.delete_private(record_name(owner, unit))
    if again:
        removed += _remove_files(store, unit, boxes)
    return removed


def served_from(store, config) -> tuple:
    """The other stores nginx may serve a unit from: in S3 mode, the volume it falls back to
    for a key the bucket lacks (docs/deploy.md, "Moving to S3"), when the app holds it at
    UPLOADS_ROOT, as it does to migrate. Left there, a migrated file's copy would be served
    again once the bucket's is deleted."""
    root = config["ROOT"]
    if not store.remote or not any(os.path.isdir(os.path.join(root, top))
                                   for top in naming.PUBLIC_TOPS):
        return ()
    from .storage.local import LocalStorage
    return (LocalStorage(root),)


def _remove_files(store, unit: str, boxes) -> int:
    removed = sum(1 for key in unit_keys(store, unit, boxes) if store.delete(key))
    if unit.startswith(naming.FILES_TOP + "/"):
        store.remove_folder(unit)
    return removed


@bp.route(PREFIX + "<capability>/<path:unit>", methods=["DELETE"], merge_slashes=False)
def delete_upload(capability, unit):
    if not is_unit(unit):
        raise NotFound("not a delete URL of this service")
    owner = current_app.extensions["uploads.delete"].check(capability, unit)
    store = current_app.extensions["uploads.storage"]
    removed = remove_unit(store, unit, current_app.config["VARIANTS"], owner,
                          also=served_from(store, current_app.config))
    log.info("deleted", extra={"unit": unit, "files": removed, "owner": owner,
                               "ip": request.remote_addr})
    return "", 204, {"Cache-Control": "no-store"}


def redact(path: str | None) -> str | None:
    """A request path with a delete capability hidden, for the log (whoever reads a
    capability can use it)."""
    if path and path.startswith(PREFIX):
        rest = path[len(PREFIX):].partition("/")[2]
        return f"{PREFIX}[capability]/{rest}"
    return path
