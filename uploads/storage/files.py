"""The local volume's side of attachments: a file staged while it arrives (streamed into the
volume's `.tmp/`, never into memory), then placed under a fresh key, never replacing.

A mixin of LocalStorage (local.py), which gives `_temp_file`, `_check_room`, `path_of` and
`root`.
"""

import contextlib
import os
from typing import BinaryIO

from .. import naming
from .atomic import os_errors, place
from .tree import FILE_MODE

STRAY = "stray file under f/: not f/p/YYYY/MM/att_<id>/<name>"


class AttachmentFiles:
    def staging(self) -> tuple[BinaryIO, str]:
        """A new temp file in `.tmp/` (open for writing and reading) and its path: an upload
        streams into it, and `put_file` places it. Named as a temp file of this process, so
        what a killed worker leaves is removed at the next start (`remove_leftovers`); the
        caller unlinks it once done, placed or not."""
        with os_errors():
            fd, path = self._temp_file("att-")
        return os.fdopen(fd, "w+b"), path

    def put_file(self, key: str, tmp_path: str) -> bool:
        """The staged file at `tmp_path` placed at `key`, never replacing (False when `key` is
        taken): made durable and 0644 first, then hard-linked, the folder fsynced. The temp
        name stays for the caller to unlink."""
        final = self.path_of(key)
        with os_errors():
            fd = os.open(tmp_path, os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC)
            try:
                os.fchmod(fd, FILE_MODE)
                os.fsync(fd)
            finally:
                os.close(fd)
            return place(self.root, tmp_path, final)

    def remove_folder(self, folder: str) -> None:
        """An attachment's folder, once a delete emptied it (a folder still holding something
        stays)."""
        if naming.attachment_folder(folder + "/x") != folder:
            raise ValueError(f"not an attachment folder: {folder!r}")
        with contextlib.suppress(OSError):
            os.rmdir(os.path.join(self.root, *folder.split("/")))

    def put_new_file(self, name: str, tmp_path: str, size: int, owner=None,
                     content_type: str = "") -> str:
        """The staged file under a fresh attachment key holding the display name `name`
        (naming.new_attachment_key), drawing another id on the (rare) clash; `owner`'s record
        written first (Storage.fresh). `content_type` is for an object store; nginx types a
        volume's files by their extension."""
        self._check_room(size)
        return self.fresh(lambda: naming.new_attachment_key(name),
                          lambda key: self.put_file(key, tmp_path), owner)
