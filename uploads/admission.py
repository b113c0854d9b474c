"""Who decodes next: the decode slots shared fairly between clients, with a bounded wait.

Decoding is the scarce resource (CPU and the memory of the decoded pixels). Without care, one
client sending its full rate limit of expensive images fills every slot, and every thread
waiting for one, and everyone else waits behind it. So, in each worker:

- a client (its JWT subject, else its IP) may have at most `per_client` uploads waiting for or
  holding a slot; one more is answered 503 `busy` at once, freeing its thread;
- a free slot goes to the waiting client served least recently (first come among equals), so a
  newcomer never waits behind a queue of someone else's uploads;
- nobody waits longer than `wait_seconds`: past that, 503 `busy` with Retry-After, rather than
  hanging until the edge gives up.
"""

import itertools
import threading
import time
from collections import Counter
from contextlib import contextmanager

from . import metrics
from .errors import Busy

MAX_REMEMBERED = 4096  # clients whose last turn is remembered; past it the memory starts over


class Admission:
    def __init__(self, slots: int, per_client: int, wait_seconds: float):
        self.slots = slots
        self.per_client = per_client
        self.wait_seconds = wait_seconds
        self._cond = threading.Condition()
        self._free = slots
        self._waiting: list[tuple[int, str]] = []
        self._holding: Counter[str] = Counter()  # waiting or decoding, by client
        self._served: dict[str, float] = {}  # client -> when it last got a slot
        self._tickets = itertools.count()

    @contextmanager
    def slot(self, client: str):
        """Hold one decode slot for `client` for the duration of the block."""
        self._enter(client)
        try:
            yield
        finally:
            with self._cond:
                self._free += 1
                self._leave(client)

    def _enter(self, client: str) -> None:
        with self._cond:
            if self._holding[client] >= self.per_client:
                raise Busy(f"client already has {self._holding[client]} uploads in progress",
                           retry=self._retry())
            self._holding[client] += 1
            ticket = (next(self._tickets), client)
            self._waiting.append(ticket)
            queued = time.monotonic()
            deadline = queued + self.wait_seconds
            try:
                while not (self._free and self._next() == ticket):
                    left = deadline - time.monotonic()
                    if left <= 0:
                        raise Busy(f"no decode slot within {self.wait_seconds:g} s",
                                   retry=self._retry())
                    self._cond.wait(left)
            except BaseException:
                self._waiting.remove(ticket)
                self._leave(client)
                raise
            finally:
                metrics.QUEUE_WAIT.observe(time.monotonic() - queued)
            self._waiting.remove(ticket)
            self._free -= 1
            if len(self._served) >= MAX_REMEMBERED:
                self._served.clear()
            self._served[client] = time.monotonic()

    def _leave(self, client: str) -> None:
        """Called with the lock held: one upload of `client` is done waiting or decoding."""
        self._holding[client] -= 1
        if self._holding[client] <= 0:
            del self._holding[client]
        self._cond.notify_all()

    def _next(self) -> tuple[int, str]:
        return min(self._waiting, key=lambda t: (self._served.get(t[1], 0.0), t[0]))

    def _retry(self) -> int:
        return max(1, round(self.wait_seconds))
