"""Who uploaded what, for erasure requests: with JWT auth, one small record per upload under
`.owners/<owner>/<unit>`, where `<owner>` is a hash of the token's `sub` and `<unit>` what a
delete removes as a whole (an avatar's main key, an attachment's folder).

Keyed by owner so that `purge --subject` lists one prefix instead of walking the store; written
before the upload's files (Storage.fresh), so a stored file never has an unknown owner (a crash
in between leaves a record without a file, which `verify` reports and purge skips). Records are
private objects (storage/private.py): never served, never granted to anonymous readers.
"""

import contextlib
import hashlib
import json
import re
import time

from . import naming
from .errors import ErasedMeanwhile, StorageUnavailable
from .storage.private import RECORDS

OWNER_LEN = 32  # hex digits of the subject's hash kept
OWNER_RE = re.compile(f"[0-9a-f]{{{OWNER_LEN}}}")


def owner_id(subject: str) -> str:
    """The subject's folder name: a hash, so that a listing of `.owners/` names nobody."""
    digest = hashlib.sha256(b"uploads-owner\n" + subject.encode("utf-8")).hexdigest()
    return digest[:OWNER_LEN]


def unit_of(key: str) -> str:
    """What one upload's delete removes, named by any of its keys: an attachment's folder, or
    an avatar's main key."""
    return naming.attachment_folder(key) or key


def record_name(owner: str, unit: str) -> str:
    return f"{RECORDS}/{owner}/{unit}"


def unit_of_record(name: str) -> str:
    """`.owners/<owner>/<unit>` -> `<unit>`."""
    return name.split("/", 2)[2]


class Owner:
    """The uploader of one request; `claim` writes its record of a key, `release` removes it."""

    def __init__(self, store, subject: str, boxes=()):
        self.store, self.subject, self.id = store, subject, owner_id(subject)
        self.boxes = boxes  # UPLOADS_VARIANTS: an avatar's copies, to remove with it

    def claim(self, key: str) -> None:
        body = json.dumps({"sub": self.subject, "unit": unit_of(key),
                           "at": int(time.time())}).encode()
        name = record_name(self.id, unit_of(key))
        if not self.store.put_private(name, body):  # a fresh key: a record left by a crash
            raise StorageUnavailable(f"{name}: another record is in the way")

    def put(self, key: str, put) -> bool:
        """`put(key)` with this owner's record of the key written first (never a stored file
        whose owner is unknown), and removed again unless `put` took the key. A record gone
        once the files are stored was removed by a purge of this subject that ran meanwhile
        (it lists records, and may have found no files yet): the files go too, and the upload
        is refused, so that an erasure never misses an upload in flight (purge.py removes the
        files of a unit once more after its record, for the other order)."""
        self.claim(key)
        taken = False
        try:
            taken = put(key)
        finally:
            if not taken:
                self.release(key)
        if taken and self.store.read_private(record_name(self.id, unit_of(key))) is None:
            from .deletion import remove_unit
            remove_unit(self.store, unit_of(key), self.boxes)
            raise ErasedMeanwhile(f"{unit_of(key)}: its owner's record went mid-upload")
        return taken

    def release(self, key: str) -> None:
        with contextlib.suppress(StorageUnavailable):  # else verify reports it: no file
            self.store.delete_private(record_name(self.id, unit_of(key)))


def owner_of(store, subject: str | None, boxes=()):
    """The request's Owner when its token named a subject; None otherwise (no record, no
    extra write: an anonymous upload costs what it did)."""
    return Owner(store, subject, boxes) if subject else None


def records(store, subject: str | None = None, owner: str | None = None) -> list[str]:
    """Record names: one subject's or owner's (a listing of its prefix only), or every one."""
    owner = owner or (owner_id(subject) if subject is not None else None)
    prefix = RECORDS if owner is None else f"{RECORDS}/{owner}"
    return sorted(store.walk_private(prefix))
