"""Where accepted images go, behind one interface that the app and every command use.

An object is named by its key, the URL path without its leading slash
(`i/p/YYYY/MM/avatar_….jpg`, or an attachment's `f/p/YYYY/MM/att_…/<name>`, always under one
of `naming.PUBLIC_TOPS`), and holds bytes that a reader
sees whole or not at all. `put` never replaces unless told to (restore --overwrite), so a key
once visible keeps its bytes. The local volume is one backend; an S3-compatible store fits the
same methods (`put` a conditional PUT with If-None-Match: *, `replace` a plain PUT, `walk`
ListObjectsV2 by prefix, `free_bytes` None when unbounded).

What only one backend can judge is asked of the backend, not checked by the commands:
`audit` lists its own findings about the stored tree (the local volume: file and folder modes
nginx needs, links and special files; an object store: nothing, or e.g. objects with a wrong
Content-Type), `unservable` says why the public server would refuse a key (nginx hides dot
names), `leftovers` names what crashed writers left (temp files; incomplete multipart
uploads). Commands treat these as data and never look behind them.

Beside the public tree each store keeps one small text of its own, its id (`read_id`,
`write_id`, written never-replacing like `put`; identity.py says why), outside `i/` and `f/` so
that no command walks it and the public server never serves it; so do the delete links' key
and the owners' records (private.py: `put_private`, `read_private`, `walk_private`).
"""

import contextlib
import tempfile
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import BinaryIO

from .. import naming
from ..errors import StorageUnavailable

MAX_NAME_TRIES = 8
FILE_MODE = 0o644  # what an object looks like on a backend without modes: readable by all
ID_NAME = ".uploads-volume-id"  # the store's id: a file at the root, an object at the top
ID_MAX = 200  # bytes of it read: an id is 36
# Names at the store's top that are its own, not uploads: the id, the delete links' key.
OWN_NAMES = (ID_NAME, ".uploads-delete-secret")


@dataclass(frozen=True)
class Entry:
    """One stored object as a listing gives it."""

    key: str
    size: int
    mtime: float  # seconds since the epoch; gc's age, kept by restore where the backend can
    mode: int = FILE_MODE  # permission bits where the backend has them


@dataclass(frozen=True)
class Finding:
    """Something a backend reports about its tree (`audit`), for `verify` to print."""

    key: str  # a key, or a name relative to the backend's root ('.', 'i/p', '.tmp/…')
    problem: str
    error: bool = True  # False: a warning
    stray: bool = False  # in the tree but not an object (a link, a FIFO): `walk` skips it


@dataclass(frozen=True)
class Space:
    free: int | None  # bytes left for new objects; None: no bound the backend can tell
    total: int | None  # the volume's size; None: unknown


# The files of a set are written side by side (each waits on its own fsync, or on the store's
# answer); a few uploads at once each have a set in flight.
_WRITERS = ThreadPoolExecutor(max_workers=8, thread_name_prefix="uploads-writers")


class Storage(ABC):
    """Keys in, bytes out. Every method but `put_new` and the defaults below is the backend's.

    Errors: a key outside the public tree raises ValueError; a backend that cannot do the work
    raises StorageUnavailable (StorageFull when out of room), whose `detail` says why.
    """

    remote = False  # across a network: /readyz probes it in the background (readiness.py)
    tops = naming.PUBLIC_TOPS  # the public trees it holds, in key order (walk, audit)

    def __init__(self, min_free: int = 0):
        self.min_free = min_free  # the reserve `put` keeps free (UPLOADS_MIN_FREE_BYTES)

    # -- objects -------------------------------------------------------------------------
    @abstractmethod
    def put(self, key: str, data: bytes, content_type: str = "", replace: bool = False, *,
            mode: int | None = None, mtime: float | None = None) -> bool:
        """Store `data` at `key` atomically and durably. Without `replace`: False, and nothing
        written, if `key` is taken. `content_type` is what an object store serves it as (the
        local volume leaves that to nginx, which goes by the extension); `mode` and `mtime` are
        what restore carries over from an archive, ignored (or kept as metadata) where the
        backend has no such thing."""

    @abstractmethod
    def read(self, key: str) -> bytes:
        """The object's bytes. KeyError when nothing is stored at `key`; StorageUnavailable
        when something is there that is not a readable object (locally: a link, a folder)."""

    @abstractmethod
    def stat(self, key: str) -> Entry | None:
        """The object's entry, None when there is no object at `key`."""

    def walk(self, prefix: str | None = None) -> Iterator[Entry]:
        """Every object whose key starts with `prefix/`, in key order (ListObjectsV2's);
        without a prefix, every object of every public tree the backend holds (`tops`: the
        attachments' `f/`, then the images' `i/`). ValueError for a prefix outside them."""
        for start in self.starts(prefix):
            yield from self._walk(start)

    @abstractmethod
    def _walk(self, prefix: str) -> Iterator[Entry]:
        """`walk` under one checked prefix (a top, or a path below one)."""

    def starts(self, prefix: str | None = None) -> tuple[str, ...]:
        """Where a walk or an audit of `prefix` begins: the backend's tops, or the prefix
        itself once it is known to lie inside one of them."""
        if prefix is None:
            return self.tops
        prefix = prefix.strip("/")
        if not naming.in_public_tree(prefix, self.tops):
            raise ValueError(f"prefix outside the public trees: {prefix!r}")
        return (prefix,)

    @abstractmethod
    def delete(self, key: str) -> bool:
        """Remove the object; False when it was already gone."""

    def put_new(self, ext: str, data: bytes, content_type: str,
                variants: Iterable[tuple[int, bytes, str]] = (), new_key=None,
                owner=None) -> str:
        """Store under a fresh name (`new_key()`, an avatar's by default), drawing another on
        the (rare) clash. `variants` (box, bytes, content type) are stored first under the same
        stem (naming.variant_key): once the main file is visible, its variants exist. On any
        failure, or a clash, the variants written for that name are removed again. `owner`
        (owners.Owner): its record of the name is written before anything else."""
        variants = list(variants)

        def put(key):
            extras = [(naming.variant_key(key, box), extra, extra_type)
                      for box, extra, extra_type in variants]
            return self.put_set(key, data, content_type, extras)

        return self.fresh(new_key or (lambda: naming.new_key(ext)), put, owner)

    def remove_folder(self, folder: str) -> None:
        """An attachment's folder, once a delete emptied it: the volume's (files.py); a bucket
        has no folders."""
        return None

    @contextlib.contextmanager
    def keeping(self) -> Iterator[Callable[[bytes], object]]:
        """`keep(data)` for each file of a set as soon as it is made (in any thread): what it
        returns stands for the bytes in `put_new`/`put_set`. Here the bytes themselves; the
        local volume starts writing them (local.py)."""
        yield lambda data: data

    @staticmethod
    def fresh(new_key, put, owner=None) -> str:
        """`put(key)` under keys from `new_key()` until one is free (`put` says False on a
        clash, having left nothing): the key it took; an `owner` records it first (owners.py)."""
        for _ in range(MAX_NAME_TRIES):
            key = new_key()
            if owner.put(key, put) if owner is not None else put(key):
                return key
        raise StorageUnavailable(f"no free name after {MAX_NAME_TRIES} tries")

    def put_set(self, key: str, data: bytes, content_type: str, extras: list) -> bool:
        """`extras` (key, bytes, content type), side by side, then `key`; none replaces
        anything. False, with nothing of the set left, when a name is taken."""
        jobs = [_WRITERS.submit(self.put, k, extra, extra_type) for k, extra, extra_type in extras]
        done = [job.exception() or job.result() for job in jobs]  # waits for every one
        written = [k for (k, _, _), ok in zip(extras, done, strict=True) if ok is True]
        try:
            failed = next((e for e in done if isinstance(e, BaseException)), None)
            if failed:
                raise failed
            if len(written) == len(extras) and self.put(key, data, content_type):
                return True
        except BaseException:
            self._remove_quietly(written)
            raise
        self._remove_quietly(written)  # a clash: someone else's name
        return False

    def _remove_quietly(self, keys):
        for key in keys:
            with contextlib.suppress(StorageUnavailable):  # else gc finds it: no main file
                self.delete(key)

    # -- the store's identity -------------------------------------------------------------
    def where(self) -> str:
        """The store in words, for a start-up line."""
        return type(self).__name__

    @abstractmethod
    def read_id(self) -> str | None:
        """The id written into the store (ID_NAME, outside `i/`), None when it has none."""

    @abstractmethod
    def write_id(self, volume_id: str) -> bool:
        """Write the id unless one is there already (then False): it is never replaced."""

    # -- the backend's health ------------------------------------------------------------
    @abstractmethod
    def space(self) -> Space:
        """Free and total bytes, each None where the backend has no bound."""

    def free_bytes(self) -> int | None:
        """Space left for new objects (None: unbounded)."""
        return self.space().free

    @abstractmethod
    def check_writable(self) -> None:
        """Raise StorageUnavailable if a write would fail now (used by /readyz)."""

    @abstractmethod
    def ensure_persistent(self, allow_ephemeral: bool) -> None:
        """Raise ConfigError unless objects written now survive a restart of the container."""

    @abstractmethod
    def leftovers(self) -> list[str]:
        """Names (relative to the backend's root) of what dead writers left behind."""

    @abstractmethod
    def remove_leftovers(self) -> int:
        """Delete the leftovers; count them."""

    # -- backend-specific judgement, with the answers of a store that has none -----------
    def audit(self, prefix: str | None = None) -> Iterator[Finding]:
        """The backend's own findings about the tree under `prefix` (and the folders above);
        without a prefix, about every tree it holds."""
        return iter(())

    def unservable(self, key: str) -> str | None:
        """Why the public server would not serve this stored key (a 404), or None."""
        return None

    def exposes(self, path: str) -> bool:
        """Whether a local file written at `path` would be published (it lies in the tree)."""
        return False

    @contextlib.contextmanager
    def scratch(self) -> Iterator[BinaryIO]:
        """An anonymous read-write file for a command's working copy, removed afterwards."""
        with tempfile.TemporaryFile() as f:
            yield f


def from_config(config) -> Storage:
    if config.get("STORAGE") == "s3":
        from .s3 import S3Storage

        return S3Storage(config["S3_BUCKET"], config["S3_ENDPOINT"], config["S3_REGION"],
                         config["S3_ACCESS_KEY_ID"], config["S3_SECRET_ACCESS_KEY"],
                         min_free=config["MIN_FREE_BYTES"])
    from .local import LocalStorage

    return LocalStorage(config["ROOT"], min_free=config["MIN_FREE_BYTES"])
