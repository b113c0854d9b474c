"""gunicorn settings, from the same UPLOADS_ settings table as the app.

gthread workers: an upload is a short burst of CPU (Pillow releases the GIL while it decodes and
encodes) between two bits of I/O, and Traefik's buffering already spares workers from slow
clients. The app is loaded once in the master (preload) so temp leftovers are cleared once,
before any worker writes, and Pillow's code is shared between workers.
"""

import atexit
import contextlib
import ctypes
import os
import shutil
import sys
import tempfile

# prometheus_client picks per-process or shared (multiprocess) metrics once, when the app's
# package below first imports it, so the workers' shared folder is named before that: the one
# given, else a folder of this run's own in the temp dir (a tmpfs in compose), removed when the
# master exits. on_starting empties it (uploads/metrics.py).
if not os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
    _metrics_dir, _master = tempfile.mkdtemp(prefix="uploads-metrics-"), os.getpid()
    os.environ["PROMETHEUS_MULTIPROC_DIR"] = _metrics_dir
    atexit.register(lambda: os.getpid() == _master and shutil.rmtree(_metrics_dir, True))
os.makedirs(os.environ["PROMETHEUS_MULTIPROC_DIR"], exist_ok=True)

from uploads import logs, settings  # noqa: E402

try:
    _config = settings.load(os.environ)
except settings.ConfigError as error:
    sys.exit(f"uploads: {error.detail}")


def _fewer_malloc_arenas() -> None:
    """glibc gives each thread its own malloc arena, and decoded images leave them full: with
    two arenas a worker's peak RSS in a burst of 5 MiB uploads fell by a third (bench/)."""
    with contextlib.suppress(OSError, AttributeError):  # not glibc: nothing to tune
        libc = ctypes.CDLL("libc.so.6")
        libc.mallopt(-8, 2)  # M_ARENA_MAX
        libc.mallopt(-3, 8 << 20)  # M_MMAP_THRESHOLD: big pixel buffers go back to the system
        libc.mallopt(-1, 32 << 20)  # M_TRIM_THRESHOLD: but keep the heap small images reuse


_fewer_malloc_arenas()

bind = [_config["BIND"]]
worker_class = "gthread"
workers = _config["WORKERS"]
threads = _config["THREADS"]
timeout = _config["TIMEOUT"]
graceful_timeout = _config["GRACEFUL_TIMEOUT"]
keepalive = 75  # longer than Traefik's idle pool timeout, so Traefik closes first
max_requests = _config["MAX_REQUESTS"]
max_requests_jitter = max(1, _config["MAX_REQUESTS"] // 10) if _config["MAX_REQUESTS"] else 0
worker_tmp_dir = "/dev/shm" if os.path.isdir("/dev/shm") else None
preload_app = True
control_socket_disable = True  # no shared socket in $HOME (read-only in the container)
# One JSON line a record on stderr, gunicorn's own messages and the app's alike. No access log:
# the app writes one `request` line per request itself, with its X-Request-Id (uploads/logs.py,
# uploads/requestid.py); gunicorn's access atoms cannot be written as safe JSON.
accesslog = None
errorlog = "-"
loglevel = _config["LOG_LEVEL"]
logconfig_dict = logs.dict_config(_config["LOG_LEVEL"])
forwarded_allow_ips = "127.0.0.1,::1"
proxy_allow_ips = "127.0.0.1,::1"
# Traefik bounds request headers (maxHeaderBytes, 64 KiB) and answers beyond it; gunicorn's own
# limits (8 KB a line) would refuse below that with an HTML page outside the JSON contract.
limit_request_line = 0  # gunicorn's own bound then: 1 MiB
limit_request_field_size = 64 * 1024 + 1024
limit_request_fields = 32768


def on_starting(server):
    """Once per master (not again on a reload): a run counts from zero."""
    from uploads import metrics

    metrics.start_fresh()


def post_worker_init(worker):
    """A stopping worker stops accepting, then finishes what it holds; gunicorn closes the
    listening socket only when its last worker exits, so until then the kernel still queues new
    connections, and resets them at that exit, after the edge has sent its request and can no
    longer send it elsewhere (a 502 during a restart or rolling upgrade). Each worker closes its
    copy as soon as it stops accepting: once all have, a new connection is refused, and the edge
    dials another replica."""
    stop_accepting = getattr(worker, "set_accept_enabled", None)  # gthread's
    if stop_accepting is None:
        return

    def set_accept_enabled(enabled):
        stop_accepting(enabled)
        if not enabled and not worker.alive:
            for listener in worker.sockets:
                listener.close()

    worker.set_accept_enabled = set_accept_enabled


def child_exit(server, worker):
    """A worker killed mid-write (SIGKILL, the OOM killer, its timeout) leaves its temp file
    behind: the master removes the leftovers of dead writers at once, not at the next start.
    Its metrics files are folded into the archive (uploads/metrics.py), whatever its end."""
    from uploads import metrics
    from uploads.storage import from_config

    try:
        metrics.worker_gone(worker.pid)
    except OSError as exc:
        server.log.warning("metrics of worker %d not archived: %s", worker.pid, exc)
    try:
        removed = from_config(_config).remove_leftovers()
    except OSError as exc:
        server.log.warning("temp leftovers not removed: %s", exc)
        return
    if removed:
        server.log.warning("removed %d temp leftovers of worker %d", removed, worker.pid)
