"""Clients for the real-engine tier's scale-out tests: uploaders and readers running in threads
while a test changes the deployment under them, each answer recorded."""

import collections
import hashlib
import threading
import time
from concurrent.futures import ThreadPoolExecutor

import requests

from devstack.images import make_image


def small_image(n: int) -> tuple[str, bytes]:
    fmt, ext = [("JPEG", "jpg"), ("PNG", "png"), ("WEBP", "webp")][n % 3]
    return f"t{n}.{ext}", make_image(fmt, (48 + n % 97, 40 + n % 53),
                                     color=(n * 37 % 256, 120, 60))


class Traffic:
    """`with Traffic(base, uploaders=3, readers=paths) as t:` uploads and reads until the block
    ends. `t.stored` maps each path answered 201 to the bytes served right after; `t.failures`
    lists (what, status or error, detail) for every other answer."""

    def __init__(self, base: str, uploaders: int = 0, readers: dict | None = None,
                 limit: int = 10_000, pause: float = 0.2):
        self.base = base
        self.uploaders = uploaders
        self.readers = dict(readers or {})  # path -> bytes expected
        self.limit = limit
        self.pause = pause  # between one uploader's uploads: steady load, a bounded count
        self.stored: dict[str, bytes] = {}
        self.failures: list[tuple] = []
        self.counts: collections.Counter = collections.Counter()
        self._stop = threading.Event()
        self._lock = threading.Lock()
        self._pool: ThreadPoolExecutor | None = None
        self._futures = []
        self._n = 0

    def __enter__(self):
        workers = self.uploaders + (1 if self.readers else 0)
        self._pool = ThreadPoolExecutor(max(workers, 1))
        self._futures = [self._pool.submit(self._upload_loop) for _ in range(self.uploaders)]
        if self.readers:
            self._futures.append(self._pool.submit(self._read_loop))
        return self

    def __exit__(self, *exc):
        self._stop.set()
        for future in self._futures:
            future.result()
        self._pool.shutdown()

    def _fail(self, what, status, detail):
        with self._lock:
            self.failures.append((what, status, detail[:200], round(time.monotonic(), 2)))
            self.counts[f"{what} {status}"] += 1

    def _next(self) -> int | None:
        with self._lock:
            if self._n >= self.limit:
                return None
            self._n += 1
            return self._n

    def _upload_loop(self):
        session = requests.Session()
        while not self._stop.is_set():
            n = self._next()
            if n is None:
                return
            name, data = small_image(n)
            try:
                answer = session.post(f"{self.base}/api/upload/avatar",
                                      files={"avatar": (name, data)}, timeout=120)
            except requests.RequestException as exc:
                self._fail("upload", type(exc).__name__, str(exc))
                time.sleep(0.2)
                continue
            if answer.status_code != 201:
                self._fail("upload", answer.status_code, answer.text)
                time.sleep(0.2)
                continue
            path = answer.json()["data"]["path"]
            with self._lock:
                self.counts["upload 201"] += 1
            content = self._read_own(session, path)
            with self._lock:
                self.stored[path] = content
            self._stop.wait(self.pause)

    def _read_own(self, session, path) -> bytes | None:
        """The bytes of a path just answered 201; a failed read is recorded and tried again
        (the file is there: the edge or nginx may be restarting)."""
        for _ in range(60):
            try:
                served = session.get(self.base + path, timeout=30)
            except requests.RequestException as exc:
                self._fail("read-own", type(exc).__name__, f"{path} {exc}")
            else:
                if served.status_code == 200:
                    return served.content
                self._fail("read-own", served.status_code, f"{path} {served.text}")
            time.sleep(0.5)
        return None

    def _read_loop(self):
        session = requests.Session()
        paths = list(self.readers)
        i = 0
        while not self._stop.is_set():
            path = paths[i % len(paths)]
            i += 1
            try:
                answer = session.get(self.base + path, timeout=30)
            except requests.RequestException as exc:
                self._fail("read", type(exc).__name__, f"{path} {exc}")
                time.sleep(0.1)
                continue
            if answer.status_code != 200:
                self._fail("read", answer.status_code, f"{path} {answer.text}")
            elif answer.content != self.readers[path]:
                self._fail("read", "other bytes", path)
            else:
                with self._lock:
                    self.counts["read 200"] += 1


def digests(files: dict[str, bytes]) -> dict[str, str]:
    return {path: hashlib.sha256(data).hexdigest() for path, data in files.items()}
