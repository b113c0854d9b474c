"""The local volume: atomic, never-replacing writes that nginx can read.

A file is written to `<root>/.tmp/` (same filesystem, outside the served `i/` tree), fsynced,
then hard-linked into place: `link` fails if the name exists, so nothing is ever replaced, and a
reader or a crash can only ever see no file or the whole file. The folder is fsynced after the
link so the name survives a power cut. Files are 0644 and folders 0755 whatever the umask,
because nginx reads them as another user.
"""

import contextlib
import errno
import os
import tempfile
import time

from ..errors import StorageFull, StorageUnavailable
from ..settings import ConfigError
from . import Storage

TMP_DIR = ".tmp"
TMP_PREFIX = "up-"
STALE_SECONDS = 3600  # a temp file this old is a leftover whatever its owner
FULL_ERRNOS = {errno.ENOSPC, errno.EDQUOT}


class LocalStorage(Storage):
    def __init__(self, root: str, min_free: int = 0):
        self.root = os.path.abspath(root)
        self.tmp = os.path.join(self.root, TMP_DIR)
        self.min_free = min_free

    # -- the interface -------------------------------------------------------------------
    def put(self, key: str, data: bytes, content_type: str = "") -> bool:
        final = self.path_of(key)
        if self.free_bytes() - len(data) < self.min_free:
            raise StorageFull(f"free space below {self.min_free} bytes")
        tmp_path = None
        try:
            try:
                fd, tmp_path = self._temp_file()
            except FileNotFoundError:  # first write on this volume
                os.makedirs(self.tmp, mode=0o700, exist_ok=True)
                fd, tmp_path = self._temp_file()
            with os.fdopen(fd, "wb") as out:
                out.write(data)
                out.flush()
                os.fsync(out.fileno())
                os.fchmod(out.fileno(), 0o644)
            folder = os.path.dirname(final)
            try:
                os.link(tmp_path, final)
            except FileNotFoundError:  # first file of the month: make the folders, once
                self._make_dirs(folder)
                os.link(tmp_path, final)
            _fsync_dir(folder)
            return True
        except FileExistsError:
            return False  # the name is taken: never replaced
        except OSError as exc:
            if exc.errno in FULL_ERRNOS:
                raise StorageFull(str(exc)) from exc
            raise StorageUnavailable(str(exc)) from exc
        finally:
            if tmp_path:
                _unlink_quietly(tmp_path)

    def free_bytes(self) -> int:
        try:
            st = os.statvfs(self.root)
        except OSError as exc:
            raise StorageUnavailable(str(exc)) from exc
        return st.f_bavail * st.f_frsize

    def check_writable(self) -> None:
        try:
            os.makedirs(self.tmp, mode=0o700, exist_ok=True)
            with tempfile.NamedTemporaryFile(prefix="probe-", dir=self.tmp):
                pass
        except OSError as exc:
            raise StorageUnavailable(f"{self.root} is not writable: {exc}") from exc

    # -- local helpers ---------------------------------------------------------------------
    def path_of(self, key: str) -> str:
        """The file of a key; refuses anything that would leave `<root>/i/`."""
        parts = key.split("/")
        if parts[0] != "i" or any(p in ("", ".", "..") or "\0" in p for p in parts):
            raise ValueError(f"invalid storage key {key!r}")
        return os.path.join(self.root, *parts)

    def _temp_file(self) -> tuple[int, str]:
        return tempfile.mkstemp(prefix=f"{TMP_PREFIX}{os.getpid()}-", dir=self.tmp)

    def _make_dirs(self, folder: str) -> None:
        rel = os.path.relpath(folder, self.root).split(os.sep)
        current = self.root
        for part in rel:
            parent, current = current, os.path.join(current, part)
            try:
                os.mkdir(current, 0o755)
            except FileExistsError:
                continue
            os.chmod(current, 0o755)  # the umask may have taken bits away
            _fsync_dir(parent)

    def ensure_persistent(self, allow_ephemeral: bool) -> None:
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

    def leftovers(self) -> list[str]:
        """Names in the temp folder whose writer is gone (dead pid) or that are stale."""
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
            if stale or not _alive(_writer_pid(name)):
                found.append(name)
        return found

    def remove_leftovers(self) -> int:
        """Delete the leftovers of crashed or killed writers; count them."""
        found = self.leftovers()
        for name in found:
            _unlink_quietly(os.path.join(self.tmp, name))
        return len(found)


def _writer_pid(name: str) -> int:
    """The pid in a temp name `up-<pid>-...`; 0 for anything else."""
    if not name.startswith(TMP_PREFIX):
        return 0
    try:
        return int(name[len(TMP_PREFIX):].split("-", 1)[0])
    except ValueError:
        return 0


def _alive(pid: int) -> bool:
    if pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _fsync_dir(path: str) -> None:
    fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _unlink_quietly(path: str) -> None:
    with contextlib.suppress(FileNotFoundError):
        os.unlink(path)
