"""Prometheus metrics of the app, at `/metrics` on the app's own port. The edge never routes
that path (traefik/dynamic/uploads.yml claims only the service's own paths), so only what can
reach the app's port directly (Prometheus in the compose network) reads them.

Under gunicorn every worker writes its samples into files of its own in
PROMETHEUS_MULTIPROC_DIR (named by gunicorn.conf.py before the app is imported, cleared when
the master starts), and a scrape, whichever worker answers it, adds them all up. A recycled
worker's counts must neither vanish nor be counted twice, and its files must not pile up: when
a worker exits the master adds them into one archive file per kind (`worker_gone`), holding a
lock that every scrape shares, so no scrape sees a worker's counts both in the archive and in
its own file. Without the variable (the test client, the operator commands) the samples live in
the process.
"""

import fcntl
import glob
import os
from contextlib import contextmanager

from flask import Response, current_app, g, request
from prometheus_client import CollectorRegistry, Counter, Histogram
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.exposition import choose_encoder
from prometheus_client.mmap_dict import MmapedDict
from prometheus_client.multiprocess import MultiProcessCollector, mark_process_dead

from .errors import StorageUnavailable
from .images import sniff

# Read once, as prometheus_client itself chooses its mode once, at its import.
SHARED_DIR = os.environ.get("PROMETHEUS_MULTIPROC_DIR") or None
UPLOAD_ENDPOINT = "api.upload_avatar"
UNKNOWN = "unknown"  # the format of an upload refused before its content was looked at

REGISTRY = CollectorRegistry()
UPLOADS = Counter(
    "uploads", "Uploads the app answered, by outcome (`created` or the JSON error code) and "
    "format (jpeg, png, webp; other: no accepted format; unknown: refused before looking).",
    ["code", "format"], registry=REGISTRY)
STORED_BYTES = Counter(
    "uploads_stored_bytes", "Bytes of the images stored (as normalised), by format.",
    ["format"], registry=REGISTRY)
PROCESSING = Histogram(
    "uploads_processing_seconds", "The app's time for each stored upload, from the request "
    "reaching the upload route to the image stored (decode-queue wait included), by format.",
    ["format"], registry=REGISTRY,
    buckets=(0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2, 5, 10, 30))
QUEUE_WAIT = Histogram(
    "uploads_decode_queue_wait_seconds", "How long each upload waited for a decode slot, "
    "those that gave up (503 busy) included.", registry=REGISTRY,
    buckets=(0.001, 0.01, 0.05, 0.1, 0.25, 0.5, 1, 2, 5, 10, 30, 60))
ARCHIVED = ("counter", "histogram")  # the kinds of files this module's metrics write


def register(app) -> None:
    """The scrape route and the count of every upload answer, on `app`."""
    app.add_url_rule("/metrics", "metrics", scrape)
    app.after_request(_count)


def sniffed(stream) -> None:
    """Note the format an upload's first bytes announce, for every outcome's count."""
    head = stream.read(16)
    stream.seek(0)
    g.upload_format = (sniff(head) or "other").lower()


def stored(size: int, seconds: float) -> None:
    """Once the image is written: an upload that failed to store adds no bytes and no time."""
    fmt = g.get("upload_format", UNKNOWN)
    STORED_BYTES.labels(fmt).inc(size)
    PROCESSING.labels(fmt).observe(seconds)


def _count(response):
    """Every answer of the upload route, by the code its JSON carries (an edge refusal never
    reaches here: those are in Traefik's metrics)."""
    if request.endpoint == UPLOAD_ENDPOINT:
        if response.status_code == 201:
            code = "created"
        else:
            code = (response.get_json(silent=True) or {}).get("code", UNKNOWN)
        UPLOADS.labels(code, g.get("upload_format", UNKNOWN)).inc()
    return response


class _Scrape:
    """What one scrape answers: the counts (every worker's, or this process's) and the
    storage's free space, read now."""

    def __init__(self, store, min_free: int):
        self.store, self.min_free = store, min_free

    def collect(self):
        if SHARED_DIR:
            yield from MultiProcessCollector(None, SHARED_DIR).collect()
        else:
            yield from REGISTRY.collect()
        try:
            free = self.store.free_bytes()
        except StorageUnavailable:  # /readyz says so; the counts still go out
            free = None
        if free is not None:  # a bucket has no free space to tell: no sample at all
            yield GaugeMetricFamily("uploads_storage_free_bytes",
                                    "Bytes free for new images on the volume.", value=free)
        yield GaugeMetricFamily("uploads_storage_min_free_bytes",
                                "The reserve kept free (UPLOADS_MIN_FREE_BYTES): below it "
                                "uploads get 507.", value=self.min_free)


def scrape():
    encode, content_type = choose_encoder(request.headers.get("Accept"))
    what = _Scrape(current_app.extensions["uploads.storage"],
                   current_app.config["MIN_FREE_BYTES"])
    with _locked(fcntl.LOCK_SH):
        body = encode(what)
    return Response(body, content_type=content_type, headers={"Cache-Control": "no-store"})


@contextmanager
def _locked(mode: int, folder: str | None = SHARED_DIR):
    """Scrapes share the folder's lock; folding a dead worker's files takes it alone."""
    if not folder:
        yield
        return
    with open(os.path.join(folder, ".lock"), "a") as lock:
        fcntl.flock(lock, mode)
        try:
            yield
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)


def start_fresh(folder: str | None = SHARED_DIR) -> None:
    """At the master's start: counts of an earlier run must not be added to this one's."""
    if folder:
        for path in glob.glob(os.path.join(folder, "*.db")):
            os.remove(path)


def worker_gone(pid: int, folder: str | None = SHARED_DIR) -> None:
    """In the master, once worker `pid` has exited: add its counts into the archive files and
    remove its own, so the folder holds the live workers' files and one archive per kind."""
    if not folder:
        return
    mark_process_dead(pid, folder)  # live gauges, should any be added
    with _locked(fcntl.LOCK_EX, folder):
        for kind in ARCHIVED:
            dead = os.path.join(folder, f"{kind}_{pid}.db")
            if not os.path.exists(dead):
                continue
            archive = MmapedDict(os.path.join(folder, f"{kind}_archive.db"))
            try:
                for key, value, _timestamp, _pos in MmapedDict.read_all_values_from_file(dead):
                    archive.write_value(key, archive.read_value(key)[0] + value, 0.0)
            finally:
                archive.close()
            os.remove(dead)
