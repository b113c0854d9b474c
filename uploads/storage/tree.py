"""A local folder tree as the local backend and `migrate` see it: listed, never followed.

The walk reports links and special files instead of reading through them (a link in the served
tree could point anywhere on the host), and lists in key order, the order an object store's
listing has, so that every backend walks alike. The mode rules are nginx's: it reads the
volume as another user, so files need o+r and folders o+rx, and nobody else may write them.
"""

import contextlib
import os
import stat
from collections.abc import Iterator

from ..errors import StorageUnavailable

FILE_MODE, DIR_MODE = 0o644, 0o755


def scan(folder: str) -> Iterator[tuple[str, str, os.stat_result]]:
    """(relative key, path, lstat) of every entry below `folder`, in key order (a folder
    sorts as its name plus '/'); an entry that vanishes while listed is skipped."""
    if not os.path.isdir(folder):
        return
    stack = [iter(_listed(folder, ""))]
    while stack:
        item = next(stack[-1], None)
        if item is None:
            stack.pop()
            continue
        rel, path, st = item
        yield item
        if stat.S_ISDIR(st.st_mode):
            stack.append(iter(_listed(path, rel + "/")))


def _listed(folder: str, rel: str) -> list[tuple[str, str, os.stat_result]]:
    found = []
    with os.scandir(folder) as items:
        for item in items:
            try:
                st = item.stat(follow_symlinks=False)
            except FileNotFoundError:
                continue
            found.append((rel + item.name, item.path, st))
    found.sort(key=lambda row: row[0] + "/" if stat.S_ISDIR(row[2].st_mode) else row[0])
    return found


def mode_problem(key: str, st: os.stat_result) -> tuple[bool, str] | None:
    """(is an error, why) when the static server cannot read this file or folder, anyone may
    change it, or its mode is just unusual; None when it is as written."""
    mode = stat.S_IMODE(st.st_mode)
    is_dir = stat.S_ISDIR(st.st_mode)
    need, usual = (0o005, DIR_MODE) if is_dir else (0o004, FILE_MODE)
    if mode & need != need:
        return True, f"mode {mode:04o}: the static server (another user) cannot read it"
    if mode & 0o002:
        return True, f"mode {mode:04o}: writable by everyone"
    if mode & (stat.S_ISUID | stat.S_ISGID):
        return True, f"mode {mode:04o}: setuid/setgid bit"
    if mode != usual and not (is_dir and key == "."):
        return False, f"mode {mode:04o}, usually {usual:04o}"
    return None


def kind_problem(st: os.stat_result) -> str | None:
    """Why an entry that is neither a file nor a folder has no place in the served tree."""
    if stat.S_ISREG(st.st_mode) or stat.S_ISDIR(st.st_mode):
        return None
    kind = "symbolic link" if stat.S_ISLNK(st.st_mode) else "special file"
    return f"{kind} in the served tree"


def audit(root: str, prefix: str) -> Iterator[tuple[str, str, bool | str]]:
    """(key, why, is_error or "stray") for the modes nginx needs (the root and the folders
    down to `prefix` too) and for links or special files: nothing served is read through them."""
    parts = prefix.split("/")
    for depth in range(len(parts) + 1):
        key = "/".join(parts[:depth]) or "."
        with contextlib.suppress(FileNotFoundError):
            st = os.stat(os.path.join(root, *parts[:depth]))
            if stat.S_ISDIR(st.st_mode) and (found := mode_problem(key, st)):
                yield key, found[1], found[0]
    for rel, _, st in scan(os.path.join(root, *parts)):
        key = f"{prefix}/{rel}"
        if why := kind_problem(st):
            yield key, why, "stray"
        elif found := mode_problem(key, st):
            yield key, found[1], found[0]


def fsync_dir(path: str) -> None:
    fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def unlink_quietly(path: str) -> None:
    with contextlib.suppress(FileNotFoundError):
        os.unlink(path)


def writer_pid(name: str, prefix: str) -> int:
    """The pid in a temp name `<prefix><pid>-...`; 0 for anything else."""
    if not name.startswith(prefix):
        return 0
    try:
        return int(name[len(prefix):].split("-", 1)[0])
    except ValueError:
        return 0


def alive(pid: int) -> bool:
    if pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def read_regular(path: str, limit: int, label: str) -> bytes | None:
    """At most `limit` bytes of a regular file (None when absent), never through a link (a
    file elsewhere would be borrowed) nor from a FIFO or device (the reader would hang)."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC)
    except (FileNotFoundError, NotADirectoryError):
        return None
    except OSError as exc:
        raise StorageUnavailable(f"{label}: {exc.strerror or exc}") from exc
    with os.fdopen(fd, "rb") as f:
        if not stat.S_ISREG(os.fstat(f.fileno()).st_mode):
            raise StorageUnavailable(f"{label} is not a regular file")
        return f.read(limit)
