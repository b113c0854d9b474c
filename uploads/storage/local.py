"""The local volume: atomic writes that nginx can read, keys as paths under the root.

A file is written to `<root>/.tmp/` (same filesystem, outside the served `i/` tree), fsynced,
then hard-linked into place (`link` fails if the name exists, so nothing is replaced) or, for a
restore that replaces, renamed over the old file; either way a reader or a crash sees the old
file, no file or the whole new file, and the folder is fsynced so the name survives a power cut.
Files are 0644 and folders 0755 whatever the umask, because nginx reads them as another user.
"""

import contextlib
import os
import stat
import tempfile
import time
from concurrent.futures import Future

from .. import naming
from ..errors import StorageFull, StorageUnavailable
from ..settings import ConfigError
from . import _WRITERS, ID_MAX, ID_NAME, Entry, Finding, Space, Storage
from .atomic import Staging, os_errors, place, stage
from .files import STRAY, AttachmentFiles
from .private import LocalPrivate
from .tree import (
    alive,
    audit,
    fsync_dir,
    read_regular,
    scan,
    unlink_quietly,
    writer_pid,
)

TMP_DIR = ".tmp"
TMP_PREFIX = "up-"
STALE_SECONDS = 3600  # a temp file this old is a leftover whatever its owner
MISSING = (FileNotFoundError, NotADirectoryError)


class LocalStorage(AttachmentFiles, LocalPrivate, Storage):
    def __init__(self, root: str, min_free: int = 0):
        super().__init__(min_free)
        self.root = os.path.abspath(root)
        self.tmp = os.path.join(self.root, TMP_DIR)

    # -- objects -------------------------------------------------------------------------
    def put(self, key, data, content_type="", replace=False, *, mode=None, mtime=None):
        final = self.path_of(key)
        self._check_room(len(data))
        return self._write(final, data, replace, mode, mtime)

    def _write(self, final, data, replace=False, mode=None, mtime=None) -> bool:
        with os_errors():
            staged = stage(self._temp_file, data, mode, mtime)
            try:
                return place(self.root, staged, final, replace)
            finally:
                unlink_quietly(staged)

    @contextlib.contextmanager
    def keeping(self):
        """Each file of a set staged by a writer thread as soon as it is made (atomic.py,
        `Staging`): the disk's wait for the main file overlaps the encoding of the copies.
        Every temp file goes when the block ends, placed or not."""
        staging = Staging(self._temp_file, self._check_room)
        try:
            yield staging.keep
        finally:
            staging.close()

    def put_set(self, key, data, content_type, extras):
        """The whole set staged side by side (files already staged by `keeping` are Futures),
        then the extras linked into place, then the main file, and the folder fsynced once:
        the copies' names are linked before the main file's, and a journal commits them in
        that order (ext4, XFS), so a main file that survives a power cut has its copies;
        should one be lost anyway, nginx answers its URL with the main file."""
        files = [*extras, (key, data, content_type)]
        finals = [self.path_of(k) for k, _, _ in files]
        mine = [d for _, d, _ in files if not isinstance(d, Future)]
        self._check_room(sum(len(d) for d in mine))
        jobs = [d if isinstance(d, Future) else _WRITERS.submit(stage, self._temp_file, d)
                for _, d, _ in files]
        placed = []
        try:
            staged = [job.exception() or job.result() for job in jobs]
            with os_errors():
                failed = next((e for e in staged if isinstance(e, BaseException)), None)
                if failed:
                    raise failed
                for tmp, final in zip(staged, finals, strict=True):
                    if not place(self.root, tmp, final, sync=False):
                        return False
                    placed.append(final)
                fsync_dir(os.path.dirname(finals[-1]))  # one folder: the stem's
                placed.clear()  # the set is complete: keep it
                return True
        finally:  # also when interrupted: what was placed goes, and what this call staged
            for path in placed:
                unlink_quietly(path)
            for job, (_, d, _) in zip(jobs, files, strict=True):
                if d is not job and job.exception() is None:
                    unlink_quietly(job.result())

    def _check_room(self, size: int) -> None:
        if self.free_bytes() - size < self.min_free:
            raise StorageFull(f"free space below {self.min_free} bytes")

    def read(self, key):
        path = self.path_of(key)
        try:
            if not stat.S_ISREG(os.lstat(path).st_mode):
                raise StorageUnavailable(f"{key}: not a regular file")
            fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC)
            with os.fdopen(fd, "rb") as f:
                return f.read()
        except MISSING as exc:
            raise KeyError(key) from exc
        except OSError as exc:
            raise StorageUnavailable(exc.strerror or str(exc)) from exc

    def stat(self, key):
        try:
            st = os.lstat(self.path_of(key))
        except MISSING:
            return None
        return _entry(key, st) if stat.S_ISREG(st.st_mode) else None

    def _walk(self, prefix):
        """Regular files with a key of the store's; a file under `f/` outside the attachment
        layout (a `.DS_Store`, a copy's temp file) is no object: `audit` reports it, and no
        command trips on it."""
        for rel, _, st in scan(os.path.join(self.root, *prefix.split("/"))):
            key = f"{prefix}/{rel}"
            if stat.S_ISREG(st.st_mode) and (naming.is_public_key(key)
                                             or naming.is_attachment_key(key)):
                yield _entry(key, st)

    def delete(self, key):
        try:
            os.unlink(self.path_of(key))
        except MISSING:
            return False
        except OSError as exc:
            raise StorageUnavailable(exc.strerror or str(exc)) from exc
        return True

    # -- the store's identity (identity.py) ----------------------------------------------
    def where(self):
        return f"storage root {self.root}"

    def read_id(self):
        """Read only from a regular file of the root itself: not through a link (another
        volume's id would be borrowed) nor from a FIFO or device (the start would hang)."""
        data = read_regular(os.path.join(self.root, ID_NAME), ID_MAX, ID_NAME)
        return None if data is None else data.decode("utf-8", "replace").strip()

    def write_id(self, volume_id):
        return self._write(os.path.join(self.root, ID_NAME), f"{volume_id}\n".encode())

    # -- the backend's health ------------------------------------------------------------
    def space(self):
        try:
            st = os.statvfs(self.root)
        except OSError as exc:
            raise StorageUnavailable(str(exc)) from exc
        return Space(free=st.f_bavail * st.f_frsize, total=st.f_blocks * st.f_frsize)

    def check_writable(self):
        try:
            os.makedirs(self.tmp, mode=0o700, exist_ok=True)
            with tempfile.NamedTemporaryFile(prefix="probe-", dir=self.tmp):
                pass
        except OSError as exc:
            raise StorageUnavailable(f"{self.root} is not writable: {exc}") from exc

    def ensure_persistent(self, allow_ephemeral):
        """Refuse a root that would vanish with its container: the incident's root cause."""
        if not os.path.isdir(self.root):
            if not allow_ephemeral:
                raise ConfigError(f"storage root {self.root} does not exist; mount the volume "
                                  "there (or set UPLOADS_ALLOW_EPHEMERAL=true for development)")
            os.makedirs(self.root, 0o755, exist_ok=True)
        if not allow_ephemeral and not os.path.ismount(self.root):
            raise ConfigError(
                f"storage root {self.root} is not a mount point of its own: files written there "
                "would be lost with the container. Mount a persistent volume at UPLOADS_ROOT, "
                "or set UPLOADS_ALLOW_EPHEMERAL=true if losing them is fine (development).")
        try:
            self.check_writable()
        except StorageUnavailable as exc:
            raise ConfigError(f"{exc.detail}; the app must be able to write its volume") from exc

    def leftovers(self):
        """`.tmp/` names whose writer is gone (dead pid) or that are stale."""
        try:
            names = sorted(os.listdir(self.tmp))
        except FileNotFoundError:
            return []
        found, now = [], time.time()
        for name in names:
            try:
                stale = now - os.lstat(os.path.join(self.tmp, name)).st_mtime > STALE_SECONDS
            except FileNotFoundError:
                continue  # its writer just finished
            if stale or not alive(writer_pid(name, TMP_PREFIX)):
                found.append(f"{TMP_DIR}/{name}")
        return found

    def remove_leftovers(self):
        found = self.leftovers()
        for name in found:
            unlink_quietly(os.path.join(self.root, name))
        return len(found)

    # -- what only the local volume can judge --------------------------------------------
    def audit(self, prefix=None):
        """Modes nginx needs and links or special files, which `walk` skips (tree.audit); the
        root, common to every tree, is judged once."""
        seen = set()
        for start in self.starts(prefix):
            for key, why, kind in audit(self.root, start):
                if (key, why) in seen:
                    continue
                seen.add((key, why))
                yield Finding(key, why, stray=True) if kind == "stray" else Finding(
                    key, why, error=kind)
            if start.split("/")[0] == naming.FILES_TOP:  # files `walk` skips: not objects
                for rel, _, st in scan(os.path.join(self.root, *start.split("/"))):
                    key = f"{start}/{rel}"
                    if stat.S_ISREG(st.st_mode) and not naming.is_attachment_key(key):
                        yield Finding(key, STRAY)

    def unservable(self, key):
        return naming.unservable(key)

    def exposes(self, path):
        path = os.path.abspath(path)
        return any(path.startswith(os.path.join(self.root, top, "")) for top in self.tops)

    @contextlib.contextmanager
    def scratch(self):
        """In `.tmp/` (the container's own filesystem is read-only and small), named as a temp
        file of this process so that a killed command's copy is a leftover like any other."""
        fd, path = self._temp_file("scratch-")
        try:
            with os.fdopen(fd, "w+b") as f:
                yield f
        finally:
            unlink_quietly(path)

    # -- local helpers -------------------------------------------------------------------
    def path_of(self, key: str) -> str:
        """The file of a key; refuses anything that would leave `<root>/i/`, or that is not
        an attachment's key under `<root>/f/`."""
        if not (naming.is_public_key(key) or naming.is_attachment_key(key)):
            raise ValueError(f"invalid storage key {key!r}")
        return os.path.join(self.root, *key.split("/"))

    def _temp_file(self, kind: str = "") -> tuple[int, str]:
        prefix = f"{TMP_PREFIX}{os.getpid()}-{kind}"
        try:
            return tempfile.mkstemp(prefix=prefix, dir=self.tmp)
        except FileNotFoundError:  # first write on this volume
            os.makedirs(self.tmp, mode=0o700, exist_ok=True)
            return tempfile.mkstemp(prefix=prefix, dir=self.tmp)

def _entry(key: str, st: os.stat_result) -> Entry:
    return Entry(key, st.st_size, st.st_mtime, stat.S_IMODE(st.st_mode))
