"""An S3-compatible bucket (SeaweedFS, AWS S3, MinIO, Ceph RGW, Garage, R2) behind the same
interface as the local volume, so that several app processes or hosts can share one store.

The object key is the URL path without its leading slash, so any S3 tool sees the tree users
see. Never-replace is a conditional PUT (`If-None-Match: *`): of two writers of one key the
store lets exactly one win (412 for the other), across processes and hosts. A PUT is atomic to
readers, and its body is checked by the store against Content-MD5. Content-Type and
Cache-Control are stored with the object. nginx reads the bucket anonymously (read on `i/`
and `f/` only) and caches on its disk; the app's credentials never leave the app. Attachments,
too large for one PUT from memory, are spooled and sent in parts (s3files.py).
"""

import base64
import contextlib
import hashlib
import os
import socket
import threading
import uuid

from .. import naming
from ..errors import StorageUnavailable
from ..settings import ConfigError
from . import ID_MAX, ID_NAME, Entry, Space, Storage
from .private import S3Private
from .s3files import IMMUTABLE, TAKEN, S3AttachmentFiles

__all__ = ["IMMUTABLE", "S3Storage"]

PROBE_PREFIX = ".probe/"  # outside i/: never public, never walked
MISSING = {"NoSuchKey", "404", "NotFound"}
DENIED = {"AccessDenied", "403", "Forbidden", "AllAccessDisabled"}
BAD_KEYS = {"InvalidAccessKeyId", "SignatureDoesNotMatch", "InvalidToken", "ExpiredToken"}


class S3Storage(S3AttachmentFiles, S3Private, Storage):
    remote = True

    def __init__(self, bucket: str, endpoint: str = "", region: str = "us-east-1",
                 access_key: str = "", secret_key: str = "", min_free: int = 0):
        super().__init__(min_free)
        self.bucket, self.endpoint, self.region = bucket, endpoint, region
        self._keys = (access_key or None, secret_key or None)
        self._local = threading.local()
        self._pid = None

    def where(self) -> str:
        return f"s3://{self.bucket} at {self.endpoint or f'AWS S3 ({self.region})'}"

    @property
    def client(self):
        """One client per process: gunicorn forks after preloading the app, and a client's
        pooled connections must not be shared by two processes."""
        if self._pid != os.getpid():
            self._local, self._pid = threading.local(), os.getpid()
        client = getattr(self._local, "client", None)
        if client is None:
            import boto3
            from botocore.config import Config

            # At most two attempts of 3 s + 10 s each (plus a backoff under a second): a
            # store that hangs gets the client a 503 from the app in under 30 s, well before
            # the edge gives up on the app (60 s) and answers for it while the upload goes on.
            config = Config(
                region_name=self.region, connect_timeout=3, read_timeout=10,
                retries={"total_max_attempts": 2, "mode": "standard"},
                max_pool_connections=32,
                s3={"addressing_style": "path" if self.endpoint else "auto"},
                request_checksum_calculation="when_required",
                response_checksum_validation="when_required")
            client = boto3.client("s3", endpoint_url=self.endpoint or None,
                                  aws_access_key_id=self._keys[0],
                                  aws_secret_access_key=self._keys[1], config=config)
            self._local.client = client
        return client

    # -- objects -------------------------------------------------------------------------
    def put(self, key, data, content_type="", replace=False, *, mode=None, mtime=None):
        self._check(key)
        extra = {} if replace else {"IfNoneMatch": "*"}
        md5 = base64.b64encode(hashlib.md5(data, usedforsecurity=False).digest()).decode()
        try:
            self._call("put_object", Key=key, Body=data, ContentMD5=md5, CacheControl=IMMUTABLE,
                       ContentType=content_type or "application/octet-stream", **extra)
        except _Refused as exc:
            if exc.code in TAKEN and exc.retried and self._holds(key, md5):
                return True  # our first attempt landed; its answer was lost, so boto retried
            if exc.code in TAKEN:
                return False  # another writer has the key: never replaced
            raise StorageUnavailable(f"{key}: {exc.code} {exc.message}") from exc
        return True

    def _holds(self, key, md5) -> bool:
        """Whether the key holds exactly these bytes (a single PUT's ETag is its MD5)."""
        try:
            etag = self._call("head_object", Key=key)["ETag"].strip('"')
        except _Refused:
            return False
        return etag == base64.b64decode(md5).hex()

    def read(self, key):
        self._check(key)
        try:
            answer = self._call("get_object", Key=key)
            return answer["Body"].read()
        except _Refused as exc:
            if exc.code in MISSING:
                raise KeyError(key) from exc
            raise StorageUnavailable(f"{key}: {exc.code} {exc.message}") from exc

    def stat(self, key):
        self._check(key)
        try:
            head = self._call("head_object", Key=key)
        except _Refused as exc:
            if exc.code in MISSING:
                return None
            raise StorageUnavailable(f"{key}: {exc.code} {exc.message}") from exc
        return Entry(key, head["ContentLength"], head["LastModified"].timestamp())

    def _walk(self, prefix):
        for item in self._listed(prefix + "/"):
            key = item["Key"]  # not folder markers some stores list, nor strays of f/
            if not key.endswith("/") and (naming.is_attachment_key(key)
                                          or not key.startswith(f"{naming.FILES_TOP}/")):
                yield Entry(key, item["Size"], item["LastModified"].timestamp())

    def _listed(self, prefix: str):
        """Every object the bucket lists under `prefix`, page by page (ListObjectsV2): what
        the walks of public files, attachments and private records all read."""
        pages = self.client.get_paginator("list_objects_v2").paginate(
            Bucket=self.bucket, Prefix=prefix)
        try:
            for page in pages:
                yield from page.get("Contents", ())
        except Exception as exc:  # botocore's errors, told in one line
            raise StorageUnavailable(_one_line(exc)) from exc

    def delete(self, key):
        if self.stat(key) is None:
            return False
        self._call("delete_object", Key=key)
        return True

    # -- the store's identity (identity.py): an object beside i/, never public -----------
    def read_id(self):
        body = self._read_own(ID_NAME, ID_MAX)
        return None if body is None else body.decode("utf-8", "replace").strip()

    def write_id(self, volume_id):
        return self._write_own(ID_NAME, f"{volume_id}\n".encode(), "text/plain")

    def _read_own(self, key: str, limit: int) -> bytes | None:
        """A small object of the store's own (its id, a private object): None when absent."""
        try:
            return self._call("get_object", Key=key)["Body"].read(limit)
        except _Refused as exc:
            if exc.code in MISSING:
                return None
            raise StorageUnavailable(f"{key}: {exc.code} {exc.message}") from exc

    def _write_own(self, key: str, body: bytes, content_type: str) -> bool:
        """The same conditional PUT as `put`: of two writers, one wins (False for the other)."""
        try:
            self._call("put_object", Key=key, Body=body, ContentType=content_type,
                       IfNoneMatch="*")
        except _Refused as exc:
            if exc.code in TAKEN:
                return False
            raise StorageUnavailable(f"{key}: {exc.code} {exc.message}") from exc
        return True

    # -- the backend's health ------------------------------------------------------------
    def space(self):
        return Space(None, None)  # a bucket has no free space to tell

    def check_writable(self):
        """Write and remove a probe object outside the public tree: proves the endpoint
        answers, the credentials are good and the bucket takes writes."""
        probe = f"{PROBE_PREFIX}{socket.gethostname()}-{os.getpid()}-{uuid.uuid4().hex[:8]}"
        try:
            self._call("put_object", Key=probe, Body=b"", ContentType="text/plain")
            self._call("delete_object", Key=probe)
        except _Refused as exc:
            raise StorageUnavailable(f"{self.where()}: {_explain(exc)}") from exc

    def ensure_persistent(self, allow_ephemeral):
        """An object store keeps what it acknowledged; refuse one we cannot write, in one line."""
        try:
            self.check_writable()
        except StorageUnavailable as exc:
            raise ConfigError(f"{exc.detail}; the app must be able to write its bucket") from exc

    def unservable(self, key):
        return naming.unservable(key, s3=True)

    # -- helpers ---------------------------------------------------------------------------
    def _check(self, key):
        if not (naming.is_public_key(key) or naming.is_attachment_key(key)):
            raise ValueError(f"key outside the public trees: {key!r}")

    def _call(self, operation, **kwargs):
        from botocore.exceptions import BotoCoreError, ClientError

        try:
            return getattr(self.client, operation)(Bucket=self.bucket, **kwargs)
        except ClientError as exc:
            error = exc.response.get("Error", {})
            status = exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode")
            meta = exc.response.get("ResponseMetadata", {})
            raise _Refused(str(error.get("Code") or status), error.get("Message") or "",
                           status, meta.get("RetryAttempts", 0) > 0) from exc
        except BotoCoreError as exc:
            raise _Refused("unreachable", _one_line(exc), None) from exc


class _Refused(Exception):
    def __init__(self, code: str, message: str, status, retried: bool = False):
        super().__init__(code, message)
        self.code, self.message, self.status = code, message, status
        self.retried = retried  # boto sent the request more than once


def _explain(exc: _Refused) -> str:
    if exc.code == "unreachable":
        return f"the endpoint does not answer ({exc.message})"
    if exc.code in BAD_KEYS:
        return f"the credentials are refused ({exc.code})"
    if exc.code == "NoSuchBucket":
        return "the bucket does not exist"
    if exc.code in DENIED:
        return ("writing is refused (AccessDenied): bad credentials, a read-only bucket or "
                "identity, or no such bucket")
    return f"{exc.code} {exc.message}".strip()


def _one_line(exc: BaseException) -> str:
    with contextlib.suppress(Exception):
        return " ".join(str(exc).split())
    return type(exc).__name__
