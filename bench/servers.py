"""The servers under test, on the server core: the product stack and the reference.

The product is `devstack.Stack` unchanged (Traefik -> nginx for `/i/`, Traefik -> gunicorn for
uploads). The reference is the same Traefik config whose static upstream is gunicorn + Flask
`send_from_directory` (`bench.refapp`) over the same volume, so the two differ only in who
reads the file. Both inherit the benchmark's CPU affinity, set before they start.
"""

import json
import os
import sys
from pathlib import Path

from devstack import Stack, http_get
from devstack.client import clean_env

REF_WORKERS, REF_THREADS = "2", "4"  # the product's gunicorn defaults (UPLOADS_WORKERS/THREADS)


def bench_env(**settings) -> dict:
    """The servers' environment: the product's defaults, but no rate limit, no per-client share
    of the decode slots (every load comes from one address, which would otherwise be one
    client's burst) and an info log (its `stored` lines are what `LogCursor` reads);
    `settings` named without UPLOADS_."""
    return clean_env(**{"RATE_LIMIT": 0, "CLIENT_SLOTS": 64, "LOG_LEVEL": "info",
                        "LANGUAGE": "en", **settings})


class ReferenceStack(Stack):
    """Traefik (the product's config) in front of gunicorn + Flask serving `root`."""

    def __init__(self, root, probe_path: str, **kwargs):
        super().__init__(root=root, **kwargs)
        self.probe_path = probe_path

    def _command(self, name):
        argv, env = super()._command(name)
        if name == "gunicorn":
            env["BENCH_ROOT"] = str(self.root)
            gunicorn = str(Path(sys.executable).parent / "gunicorn")
            return [gunicorn, "-w", REF_WORKERS, "-k", "gthread", "--threads", REF_THREADS,
                    "-b", f"127.0.0.1:{self.app_port}", "bench.refapp:app"], env
        if name == "traefik":
            env["UPLOADS_STATIC_URL"] = self.app_url
        return argv, env

    def start_one(self, name):
        if name != "nginx":  # the reference has no static server
            super().start_one(name)

    def _ready(self, name):
        base = self.url if name == "traefik" else self.app_url
        return http_get(base + self.probe_path)[0] == 200


def pin_self(core: int) -> None:
    """Pin this process; servers started afterwards inherit it (Go sizes GOMAXPROCS by it)."""
    os.sched_setaffinity(0, {core})


def status_kb(pid: int, field: str) -> int:
    with open(f"/proc/{pid}/status") as status:
        for line in status:
            if line.startswith(field + ":"):
                return int(line.split()[1])
    raise KeyError(field)


def reset_peak(pid: int) -> None:
    """Reset VmHWM to the current RSS (Linux clear_refs 5) so a peak belongs to one phase."""
    with open(f"/proc/{pid}/clear_refs", "w") as refs:
        refs.write("5")


class LogCursor:
    """The `ms` and `image_ms` of the app's `stored` lines written since the last `take()`."""

    def __init__(self, path):
        self.path = path
        self.offset = os.path.getsize(path) if os.path.exists(path) else 0

    def take(self, size: int | None = None) -> list[tuple[float, float]]:
        with open(self.path, "rb") as log:
            log.seek(self.offset)
            raw = log.read()
        raw = raw[:raw.rfind(b"\n") + 1]  # whole lines only: the rest is still being written
        self.offset += len(raw)
        records = [json.loads(line) for line in raw.decode(errors="replace").splitlines()
                   if '"msg": "stored"' in line]
        return [(r["ms"], r["image_ms"]) for r in records if size is None or r["in"] == size]
