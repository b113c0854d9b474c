"""Atomic writes into a local tree: a file is staged (written and fsynced in `.tmp/`, on the
same filesystem), then placed under its name by `link`, which fails if the name exists, so
nothing is ever replaced (or by `rename` for a restore that replaces); the folder is fsynced
so that the name survives a power cut. A reader or a crash sees no file or the whole file.

Staging and placing are apart so that a set of files (a main file and its variants) can be
staged side by side, each as soon as it is encoded (`Staging`), and placed in order (local.py,
`put_set`): the waits for the disk overlap the encoding and each other.
"""

import contextlib
import errno
import os
import threading
from concurrent.futures import Future, ThreadPoolExecutor

from ..errors import StorageFull, StorageUnavailable
from . import _WRITERS
from .tree import DIR_MODE, FILE_MODE, fsync_dir, unlink_quietly

FULL_ERRNOS = {errno.ENOSPC, errno.EDQUOT}


@contextlib.contextmanager
def os_errors():
    """A failing disk in the storage's terms: full, or unavailable."""
    try:
        yield
    except OSError as exc:
        if exc.errno in FULL_ERRNOS:
            raise StorageFull(str(exc)) from exc
        raise StorageUnavailable(str(exc)) from exc


def stage(temp_file, data: bytes, mode: int | None = None, mtime: float | None = None) -> str:
    """`data` in a fsynced temp file from `temp_file()` (fd, path): the caller places it, then
    unlinks the temp name."""
    fd, tmp_path = temp_file()
    try:
        with os.fdopen(fd, "wb") as out:
            out.write(data)
            out.flush()
            os.fchmod(out.fileno(), FILE_MODE if mode is None else mode)
            if mtime is not None:
                os.utime(out.fileno(), (mtime, mtime))
            os.fsync(out.fileno())
    except BaseException:
        unlink_quietly(tmp_path)
        raise
    return tmp_path


def place(root: str, tmp_path: str, final: str, replace: bool = False, sync: bool = True) -> bool:
    """The staged file under its name below `root` (False when the name is taken and not to be
    replaced); the folder fsynced unless the caller does it once for several."""
    put = os.replace if replace else os.link
    try:
        try:
            put(tmp_path, final)
        except FileNotFoundError:  # first file of the month: make the folders, once
            make_dirs(root, os.path.dirname(final))
            put(tmp_path, final)
    except FileExistsError:
        return False
    if sync:
        fsync_dir(os.path.dirname(final))
    return True


def make_dirs(root: str, folder: str) -> None:
    """The folders from `root` down to `folder`, each 0755 whatever the umask and fsynced into
    its parent."""
    current = root
    for part in os.path.relpath(folder, root).split(os.sep):
        parent, current = current, os.path.join(current, part)
        try:
            os.mkdir(current, DIR_MODE)
        except FileExistsError:
            continue
        os.chmod(current, DIR_MODE)  # the umask may have taken bits away
        fsync_dir(parent)


class Staging:
    """The files of one set, each staged by a writer thread as soon as `keep` is handed it,
    while the caller goes on encoding; `close` removes every temp file (placed ones keep their
    other name), and a file handed over after that, by a thread that outlived a failed upload,
    is refused rather than left behind."""

    def __init__(self, temp_file, check_room, writers: ThreadPoolExecutor = _WRITERS):
        self.temp_file, self.check_room, self.writers = temp_file, check_room, writers
        self.jobs: list[Future] = []
        self.lock = threading.Lock()
        self.open = True

    def keep(self, data: bytes) -> Future:
        self.check_room(len(data))
        with self.lock:
            if not self.open:
                raise StorageUnavailable("a file handed over after its upload ended")
            job = self.writers.submit(stage, self.temp_file, data)
            self.jobs.append(job)
        return job

    def close(self) -> None:
        with self.lock:
            self.open = False
        for job in self.jobs:
            if job.exception() is None:  # waits for it
                unlink_quietly(job.result())
