"""The store's private objects: small texts beside the public trees that nginx never serves,
the bucket policy never grants and no command walks as files.

Two kinds live here: the delete links' secret (`.uploads-delete-secret`, deletion.py), written
once never-replacing like the volume id, and the owners' records (`.owners/<owner>/<unit>`,
owners.py), one per upload made with a JWT, so that `purge --subject` lists one prefix instead
of the whole store. Names start with a dot, which nginx refuses everywhere (and in a bucket,
anonymous read covers `i/` only). Each backend writes them with its never-replace write:
locally staged and linked into place, mode 0600 under a 0700 `.owners/`; in a bucket a
conditional PUT.
"""

import os
import re
import stat
from collections.abc import Iterator

from ..errors import StorageUnavailable
from . import OWN_NAMES
from .atomic import os_errors, place, stage
from .tree import read_regular, scan

SECRET_NAME = OWN_NAMES[1]  # the delete links' key (deletion.py)
RECORDS = ".owners"
PRIVATE_MODE, RECORDS_MODE = 0o600, 0o700
_RECORD_RE = re.compile(r"\.owners/[0-9a-f]{32}/[fi]/p/[0-9]{4}/[0-9]{2}/[A-Za-z0-9][A-Za-z0-9_.]*")


PRIVATE_MAX = 64 * 1024  # what a private object may hold: a key, one record


def check_private(name: str) -> str:
    """The name if it is one of the private objects' names, else ValueError (a name from a
    request or an archive never reaches a path unchecked)."""
    if name == SECRET_NAME or (_RECORD_RE.fullmatch(name) and ".." not in name):
        return name
    raise ValueError(f"not a private object's name: {name!r}")


def check_prefix(prefix: str) -> str:
    if prefix != RECORDS and not re.fullmatch(r"\.owners/[0-9a-f]{32}", prefix):
        raise ValueError(f"not a private prefix: {prefix!r}")
    return prefix


class LocalPrivate:
    """A mixin of LocalStorage: `root`, `_temp_file`."""

    def put_private(self, name: str, data: bytes) -> bool:
        """Write `name` unless it exists (then False); durable, 0600."""
        final = os.path.join(self.root, *check_private(name).split("/"))
        with os_errors():
            if name.startswith(RECORDS + "/"):
                os.makedirs(os.path.join(self.root, RECORDS), RECORDS_MODE, exist_ok=True)
            staged = stage(self._temp_file, data, PRIVATE_MODE)
            try:
                return place(self.root, staged, final)
            finally:
                os.unlink(staged)

    def read_private(self, name: str) -> bytes | None:
        path = os.path.join(self.root, *check_private(name).split("/"))
        return read_regular(path, PRIVATE_MAX, name)

    def delete_private(self, name: str) -> bool:
        try:
            os.unlink(os.path.join(self.root, *check_private(name).split("/")))
        except (FileNotFoundError, NotADirectoryError):
            return False
        except OSError as exc:
            raise StorageUnavailable(exc.strerror or str(exc)) from exc
        return True

    def walk_private(self, prefix: str = RECORDS) -> Iterator[str]:
        """Names of the private objects under `prefix` (all records, or one owner's)."""
        check_prefix(prefix)
        for rel, _, st in scan(os.path.join(self.root, *prefix.split("/"))):
            name = f"{prefix}/{rel}"
            if stat.S_ISREG(st.st_mode) and _RECORD_RE.fullmatch(name):
                yield name


class S3Private:
    """A mixin of S3Storage: `_read_own`, `_write_own`, `_call`, `_listed`, `bucket`."""

    def put_private(self, name: str, data: bytes) -> bool:
        return self._write_own(check_private(name), data, "application/octet-stream")

    def read_private(self, name: str) -> bytes | None:
        return self._read_own(check_private(name), PRIVATE_MAX)

    def delete_private(self, name: str) -> bool:
        from .s3 import _Refused

        if self.read_private(name) is None:
            return False
        try:
            self._call("delete_object", Key=check_private(name))
        except _Refused as exc:
            raise StorageUnavailable(f"{name}: {exc.code} {exc.message}") from exc
        return True

    def walk_private(self, prefix: str = RECORDS) -> Iterator[str]:
        for item in self._listed(check_prefix(prefix) + "/"):
            if _RECORD_RE.fullmatch(item["Key"]):
                yield item["Key"]
