"""The store's identity: an id written once into it, so that an app started on another store than
the one holding the files (a volume named after another compose project, a new empty one, the
wrong bucket) is seen at once, in the start-up line and /readyz, instead of through 404s.

The id (a random UUID) lives beside `i/`, outside what nginx serves and what the commands walk.
It is written with the backend's never-replace write, so of two processes starting together on
a new store one id wins, and it never changes: a `tar` copy of the volume carries it, a copy
made file by file (`restore`, `migrate`) does not.

`UPLOADS_VOLUME_ID` names the id the deployment expects. With it, a store with another id, or
with none, is refused in one line, even an empty one: a new empty volume is exactly what a
changed project name or `UPLOADS_VOLUME` gives, and starting on it was the incident. A new
volume on purpose starts once without the setting, which writes its id.

The number of files is counted at start, and again in the background when a probe finds the
count older than REFRESH_SECONDS, or COST_FACTOR times the last count's duration if that is
longer: /readyz never waits for a walk, and a large bucket (a listing of 10^6 keys takes tens of
seconds) is not listed again every minute by every worker of every replica.
"""

import logging
import threading
import time
import uuid

from ..errors import StorageFull, StorageUnavailable
from ..settings import ConfigError

REFRESH_SECONDS = 60.0
COST_FACTOR = 30  # a count may take at most 1/30 of the store's time
SETTING = "UPLOADS_VOLUME_ID"
HINT = f"start once with {SETTING} empty, which writes an id, then set it to that id"
log = logging.getLogger(__name__)


class Volume:
    """What the app says about its store: the id, and about how many files it holds."""

    def __init__(self, store, volume_id: str | None, files: int,
                 refresh: float = REFRESH_SECONDS):
        self.store, self.id, self.refresh = store, volume_id, refresh
        self._files, self._counted, self._counting = files, time.monotonic(), False
        self._took = 0.0  # how long the last count took
        self._lock = threading.Lock()

    @property
    def files(self) -> int:
        """The last count; a stale one starts a recount in the background (one at a time)."""
        with self._lock:
            wait = max(self.refresh, COST_FACTOR * self._took)
            if not self._counting and time.monotonic() - self._counted > wait:
                self._counting = True
                threading.Thread(target=self._recount, name="uploads-count", daemon=True).start()
        return self._files

    def _recount(self) -> None:
        started = time.monotonic()
        try:
            self._files = count(self.store)
        except Exception as exc:  # a store that fails: /readyz reports that itself
            log.warning("could not count the stored files: %s", exc)
        finally:
            with self._lock:
                self._counted, self._counting = time.monotonic(), False
                self._took = self._counted - started


def count(store) -> int:
    return sum(1 for _ in store.walk())


def claim(store, expected: str = "") -> Volume:
    """The store's volume: its id, written first when it has none and none is expected.
    ConfigError, one line naming what was found, when it is not the volume `expected` names."""
    where = store.where()
    try:
        found, files = store.read_id(), count(store)
    except (StorageUnavailable, OSError) as exc:
        raise ConfigError(f"{where} cannot be read: {getattr(exc, 'detail', exc)}") from exc
    if found is not None and not _is_id(found):
        shown = "empty" if found == "" else "not an id this app writes (a UUID)"
        raise ConfigError(f"{where}: its volume id file is {shown}; remove it, then {HINT}")
    if found is None and not expected:
        new = str(uuid.uuid4())
        try:
            found = new if store.write_id(new) else store.read_id()  # lost a race: theirs
        except (StorageUnavailable, StorageFull) as exc:
            log.warning("could not write a volume id into %s: %s", where, exc.detail)
    if expected and found != expected:
        raise ConfigError(_refusal(where, found, expected, files))
    return Volume(store, found, files)


def _is_id(text: str) -> bool:
    try:
        return str(uuid.UUID(text)) == text
    except ValueError:
        return False


def _refusal(where: str, found: str | None, expected: str, files: int) -> str:
    wrong = "(a changed compose project name or UPLOADS_VOLUME, or another bucket?)"
    if found:
        return (f"{where} is volume {found}, but {SETTING}={expected}: another volume than the "
                f"one holding the files {wrong}; mount that one, or set {SETTING}={found} if "
                "this one is right")
    if files:
        return (f"{where} holds {files} file{'s' * (files != 1)} but no volume id, and "
                f"{SETTING}={expected}: nothing says it is that volume; if it is (a copy made "
                "file by file), " + HINT)
    return (f"{where} is empty and has no volume id, but {SETTING}={expected}: a new volume, "
            f"not the one holding the files {wrong}; for a new volume on purpose, " + HINT)
