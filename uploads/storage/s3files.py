"""A bucket's side of attachments: a file spooled to local disk while it arrives (a bucket
has no `.tmp/` of its own, and 100 MiB must not sit in a worker's memory), then sent to the
store as a multipart upload in CHUNK-sized parts, completed only if the key is still free.

Never-replace is the completion's `If-None-Match: *` (SeaweedFS honours it, as AWS S3 does:
412 when the key exists, and the parts are dropped); the key is also checked free before the
first part is sent, so a clash costs no transfer. The key holds a fresh 10-character random id
(about 51 bits), so a clash is a bug, not bad luck; a store that ignored the condition could
only ever replace a key drawn twice. Readers see the object whole or not at all: it exists
only once completed. Each part carries its Content-MD5, which the store checks.

The spool goes in the system's temp folder (`TMPDIR`: on a disk-backed volume in
docker-compose.s3.yml, a RAM tmpfs would count as memory), named as this process's, so that
what a killed worker leaves is removed at the next start (`leftovers`); incomplete multipart
uploads older than STALE_SECONDS are leftovers too (an upload never lasts that long).

A mixin of S3Storage (s3.py), which gives `_call`, `_check`, `_listed`, `stat`, `fresh` and
`bucket`.
"""

import base64
import contextlib
import hashlib
import os
import tempfile
import time
from typing import BinaryIO

from .. import naming
from ..errors import StorageUnavailable
from . import Finding
from .atomic import os_errors
from .files import STRAY
from .tree import alive, unlink_quietly, writer_pid

IMMUTABLE = "public, max-age=31536000, immutable"
TAKEN = {"PreconditionFailed", "412", "ConditionalRequestConflict", "409"}  # the key exists
CHUNK = 8 * 1024 * 1024  # bytes per part: the most a worker holds of a file at once
SPOOL_PREFIX = "uploads-spool-"
STALE_SECONDS = 3600
SPOOL = "spool/"  # how a spool leftover is named (its folder is not the bucket's)
MULTIPART = "multipart/"  # how an incomplete multipart upload is named, before its key


class S3AttachmentFiles:
    def staging(self) -> tuple[BinaryIO, str]:
        """A new spool file in the system's temp folder (open for writing and reading) and its
        path; the caller unlinks it once done, stored or not."""
        try:
            fd, path = tempfile.mkstemp(prefix=f"{SPOOL_PREFIX}{os.getpid()}-att-")
        except OSError as exc:
            raise StorageUnavailable(f"spool: {exc.strerror or exc}") from exc
        return os.fdopen(fd, "w+b"), path

    def put_new_file(self, name: str, tmp_path: str, size: int, owner=None,
                     content_type: str = "") -> str:
        """The spooled file under a fresh attachment key holding the display name `name`,
        drawing another id on the (rare) clash; `owner`'s record written first (Storage.fresh)."""
        return self.fresh(lambda: naming.new_attachment_key(name),
                          lambda key: self.put_file(key, tmp_path, content_type), owner)

    def put_file(self, key: str, path: str, content_type: str = "") -> bool:
        """The local file at `path` stored at `key` in parts, never replacing: False (nothing
        stored, the parts dropped) when `key` is taken."""
        self._check(key)
        if self.stat(key) is not None:
            return False
        upload, digests = None, []
        try:
            upload = self._call("create_multipart_upload", Key=key, CacheControl=IMMUTABLE,
                                ContentType=content_type or "application/octet-stream")["UploadId"]
            parts = self._send_parts(key, upload, path, digests)
            self._call("complete_multipart_upload", Key=key, UploadId=upload, IfNoneMatch="*",
                       MultipartUpload={"Parts": parts})
        except BaseException as exc:
            code = getattr(exc, "code", None)  # s3.py's _Refused: the store's answer
            if code is not None and exc.retried and self._holds_parts(key, digests):
                return True  # our completion landed; its answer was lost, so boto retried
            if upload is not None:
                self._abort(key, upload)
            if code in TAKEN:
                return False
            if code is not None:
                raise StorageUnavailable(f"{key}: {code} {exc.message}") from exc
            raise
        return True

    def _send_parts(self, key: str, upload: str, path: str, digests: list) -> list[dict]:
        """Every CHUNK of the file as one part (an empty file as one empty part); `digests`
        gets each part's MD5."""
        parts = []
        with os_errors(), open(path, "rb") as f:
            while (chunk := f.read(CHUNK)) or not parts:
                digests.append(hashlib.md5(chunk, usedforsecurity=False).digest())
                number = len(parts) + 1
                answer = self._call("upload_part", Key=key, UploadId=upload, PartNumber=number,
                                    Body=chunk, ContentMD5=base64.b64encode(digests[-1]).decode())
                parts.append({"PartNumber": number, "ETag": answer["ETag"]})
                if not chunk:
                    break
        return parts

    def _holds_parts(self, key: str, digests: list) -> bool:
        """Whether the key holds the object these parts make (a multipart upload's ETag is the
        MD5 of its parts' MD5s, a dash, and their count)."""
        if not digests:
            return False
        whole = hashlib.md5(b"".join(digests), usedforsecurity=False).hexdigest()
        try:
            etag = self._call("head_object", Key=key)["ETag"].strip('"')
        except Exception:  # noqa: BLE001 - not ours to claim, then
            return False
        return etag == f"{whole}-{len(digests)}"

    def _abort(self, key: str, upload: str) -> None:
        with contextlib.suppress(Exception):  # else a leftover that a later start removes
            self._call("abort_multipart_upload", Key=key, UploadId=upload)

    def audit(self, prefix=None):
        """Objects under `f/` outside the attachment layout, which `walk` skips (as the local
        volume reports its stray files)."""
        for start in self.starts(prefix):
            if start.split("/")[0] != naming.FILES_TOP:
                continue
            keys = [item["Key"] for item in self._listed(start + "/")]
            for key in keys:
                if not key.endswith("/") and not naming.is_attachment_key(key):
                    yield Finding(key, STRAY)

    # -- what dead writers left -------------------------------------------------------------
    def leftovers(self) -> list[str]:
        """Spool files of dead processes, and multipart uploads under `f/` older than
        STALE_SECONDS, as `spool/<name>` and `multipart/<key>`."""
        return [f"{SPOOL}{name}" for name in _dead_spools()] + [
            f"{MULTIPART}{key}" for key, _ in self._stale_uploads()]

    def remove_leftovers(self) -> int:
        count = 0
        for name in _dead_spools():
            unlink_quietly(os.path.join(tempfile.gettempdir(), name))
            count += 1
        try:
            stale = self._stale_uploads()
        except StorageUnavailable:  # at start-up: a store (or a key) without the listing
            stale = []
        for key, upload in stale:
            self._abort(key, upload)
            count += 1
        return count

    def _stale_uploads(self) -> list[tuple[str, str]]:
        try:
            pages = self.client.get_paginator("list_multipart_uploads").paginate(
                Bucket=self.bucket, Prefix=naming.FILES_TOP + "/")
            uploads = [item for page in pages for item in page.get("Uploads", ())]
        except Exception as exc:  # botocore's errors, or a store without the listing
            raise StorageUnavailable(f"listing multipart uploads: {exc}") from exc
        now = time.time()
        return [(item["Key"], item["UploadId"]) for item in uploads
                if now - item["Initiated"].timestamp() > STALE_SECONDS]


def _dead_spools() -> list[str]:
    try:
        names = sorted(os.listdir(tempfile.gettempdir()))
    except OSError:
        return []
    return [name for name in names if name.startswith(SPOOL_PREFIX)
            and not alive(writer_pid(name, SPOOL_PREFIX))]

