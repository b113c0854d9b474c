"""Whether the store takes a write, as /readyz tells it, without making the probe wait on it.

A volume on local disk answers a probe write in microseconds, so it is probed on each request.
A store across the network (S3) is probed in a background thread instead, at most every
PROBE_EVERY seconds and only while someone asks: /readyz answers from the last result at once,
and the next one from the probe it started. A busy store, or a machine short of CPU, then makes
probes slow, not the health check, which must stay fast: the edge takes a replica out when its
check times out.

The store counts as down when the last probe failed, or when a probe has had no answer for
STALE_AFTER seconds (a hung store). Only a process that never wrote to it waits for a probe
(WAIT at most); one that just started was checked at start-up, and starts from that result.
"""

import threading
import time

from .errors import StorageUnavailable

PROBE_EVERY = 2.0  # seconds between two probe writes of one process, at most
STALE_AFTER = 4.0  # a probe unanswered this long means not ready (it takes ms when well)
WAIT = 3.0  # how long /readyz waits for a first probe, in a process that has no result yet


class Readiness:
    def __init__(self, storage, checked=False, clock=time.monotonic):
        self.storage = storage
        self.clock = clock
        self.lock = threading.Lock()
        self.probe = None  # (started, finished event) of the last probe
        self.result = None  # (finished, failure detail or None) of the last finished probe
        if checked:  # the start-up check just wrote to the store: a fresh process (a replica
            # Docker restarted) answers its first /readyz from that, without waiting
            self.result = (clock(), None)

    def check(self) -> None:
        """Raise StorageUnavailable unless the store took a probe write lately."""
        if not self.storage.remote:
            self.storage.check_writable()
            return
        started, finished = self._probe_if_due()
        with self.lock:
            result = self.result
        if result is None:  # a process that has never written to the store: wait for it
            finished.wait(WAIT)
            with self.lock:
                result = self.result
        now = self.clock()
        if not finished.is_set() and now - started > STALE_AFTER:
            raise StorageUnavailable(f"{self.storage.where()}: a probe write has had no answer "
                                     f"for {now - started:.0f} s (limit {STALE_AFTER:.0f} s)")
        if result is None:
            raise StorageUnavailable(f"{self.storage.where()}: no answer to a probe write "
                                     f"within {WAIT:.0f} s")
        if result[1]:
            raise StorageUnavailable(result[1])

    def _probe_if_due(self):
        now = self.clock()
        with self.lock:
            if self.probe and (not self.probe[1].is_set() or now - self.probe[0] < PROBE_EVERY):
                return self.probe
            self.probe = (now, threading.Event())
            probe = self.probe
        threading.Thread(target=self._run, args=(probe[1],), name="uploads-readiness",
                         daemon=True).start()
        return probe

    def _run(self, finished):
        failure = None
        try:
            self.storage.check_writable()
        except StorageUnavailable as exc:
            failure = exc.detail
        except Exception as exc:  # noqa: BLE001 - a probe that broke says not ready, and why
            failure = f"{self.storage.where()}: probe failed: {exc!r}"
        with self.lock:
            self.result = (self.clock(), failure)
        finished.set()

