"""Where accepted images go, behind one small interface.

The pipeline only ever calls `put_new(ext, data, content_type)` and gets back the key it wrote; a
backend promises that a key, once visible, holds the complete bytes and is never replaced. The
local volume is the only backend today; an S3-compatible store (SeaweedFS) fits the same
interface (`put` with If-None-Match, `exists`, `free_bytes` from a quota).
"""

from abc import ABC, abstractmethod

from .. import naming
from ..errors import StorageUnavailable

MAX_NAME_TRIES = 8


class Storage(ABC):
    @abstractmethod
    def put(self, key: str, data: bytes, content_type: str) -> bool:
        """Store `data` at `key` atomically; False (and nothing written) if `key` exists."""

    @abstractmethod
    def free_bytes(self) -> int:
        """Space left for new files."""

    @abstractmethod
    def check_writable(self) -> None:
        """Raise StorageUnavailable if a write would fail now (used by /readyz)."""

    def put_new(self, ext: str, data: bytes, content_type: str) -> str:
        """Store under a fresh name, drawing another on the (rare) clash."""
        for _ in range(MAX_NAME_TRIES):
            key = naming.new_key(ext)
            if self.put(key, data, content_type):
                return key
        raise StorageUnavailable(f"no free name after {MAX_NAME_TRIES} tries")


def from_config(config) -> Storage:
    from .local import LocalStorage

    return LocalStorage(config["ROOT"], min_free=config["MIN_FREE_BYTES"])
