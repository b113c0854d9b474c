"""A local SeaweedFS (`weed mini`) for `UPLOADS_STORAGE=s3 make run` and the S3 tests.

Its defaults are unsafe, so every one that matters is set: every port is bound to 127.0.0.1 and
picked free (gRPC ones included), telemetry is off, the WebDAV and Iceberg/Lance servers are
off, its unix sockets live in its own folder, and S3 identities are configured (without them it
accepts any request): the app's read-write key pair, made fresh at each start, and anonymous
read on `<bucket>/i/*` and `<bucket>/f/*` only, which is how nginx fetches images and
attachments without a credential. The filer's HTTP port reads and writes everything
unauthenticated: it is never given to Traefik or nginx, and JWT keys (WEED_JWT_*) are set so
that even a local process cannot read or write through it without one. The master's HTTP API
and the gRPC ports stay unauthenticated (SeaweedFS closes them only with mTLS certificates and
a white list): here loopback is their only fence, which keeps other hosts out but not other
local processes.
"""

import contextlib
import json
import os
import random
import secrets
import signal
import socket
import subprocess
import time
from pathlib import Path

from .tools import venv_tool

READY_SECONDS = 60
STOP_SECONDS = 15
PORTS = ("master", "volume", "filer", "s3", "admin")
# weed checks its ports without SO_REUSEADDR, so a port an outgoing connection left in
# TIME_WAIT is refused: pick below the kernel's ephemeral range, and start again on a clash.
PORT_RANGE = (20000, 32000)
START_TRIES = 3


def weed_port(taken: set) -> int:
    """A loopback port below the ephemeral range that a plain bind takes now."""
    for _ in range(200):
        port = random.randint(*PORT_RANGE)  # noqa: S311 (not a secret)
        if port in taken:
            continue
        with socket.socket() as sock:
            try:
                sock.bind(("127.0.0.1", port))
            except OSError:
                continue
        taken.add(port)
        return port
    raise RuntimeError("no free loopback port for SeaweedFS")


def identities(bucket: str, access_key: str, secret_key: str, extra=()) -> dict:
    """The S3 identity config (`-s3.config`): the app may read, write and list the bucket;
    anyone may read objects under `i/` and `f/` (and nothing else, not even a listing).
    `extra`: more
    identities (the tests' read-only one)."""
    return {"identities": [*extra,
        {"name": "anonymous", "actions": [f"Read:{bucket}/i/*", f"Read:{bucket}/f/*"]},
        {"name": "uploads-app", "credentials": [{"accessKey": access_key,
                                                  "secretKey": secret_key}],
         "actions": [f"Read:{bucket}", f"Write:{bucket}", f"List:{bucket}"]},
    ]}


class PortTaken(RuntimeError):
    """weed found one of its ports taken at start."""


class Seaweed:
    """`with Seaweed(data_dir, bucket) as weed:` runs it; `weed.endpoint`, `weed.settings()`."""

    def __init__(self, data_dir, bucket: str = "uploads", log_path=None, extra_identities=()):
        self.data_dir = Path(data_dir)
        self.extra_identities = list(extra_identities)
        self.bucket = bucket
        self.log_path = Path(log_path) if log_path else self.data_dir / "weed.log"
        self._pick_ports()
        self.access_key = "UPLOADS" + secrets.token_hex(8).upper()
        self.secret_key = secrets.token_urlsafe(30)
        self.proc: subprocess.Popen | None = None
        self._log = None

    def _pick_ports(self):
        taken: set = set()
        self.ports = {name: weed_port(taken) for name in PORTS}
        self.grpc = {name: weed_port(taken) for name in PORTS}

    endpoint = property(lambda self: f"http://127.0.0.1:{self.ports['s3']}")
    filer_url = property(lambda self: f"http://127.0.0.1:{self.ports['filer']}")

    def settings(self) -> dict:
        """The UPLOADS_* variables that point the app at this store."""
        return {"UPLOADS_STORAGE": "s3", "UPLOADS_S3_ENDPOINT": self.endpoint,
                "UPLOADS_S3_BUCKET": self.bucket, "UPLOADS_S3_REGION": "us-east-1",
                "UPLOADS_S3_ACCESS_KEY_ID": self.access_key,
                "UPLOADS_S3_SECRET_ACCESS_KEY": self.secret_key}

    def command(self) -> list[str]:
        data, p, g = self.data_dir, self.ports, self.grpc
        return [venv_tool("weed"), "mini", f"-dir={data / 'data'}", "-ip=127.0.0.1",
                "-ip.bind=127.0.0.1", "-master.telemetry=false", "-webdav=false",
                "-admin.ui=false", "-s3.port.iceberg=0", "-s3.port.lance=0",
                f"-s3.config={data / 's3.json'}", f"-bucket={self.bucket}",
                "-filer.disableDirListing", "-filer.exposeDirectoryData=false",
                f"-filer.localSocket={data / 'filer.sock'}", f"-s3.localSocket={data / 's3.sock'}",
                *(f"-{name}.port={p[name]}" for name in PORTS),
                *(f"-{name}.port.grpc={g[name]}" for name in PORTS)]

    def env(self) -> dict:
        env = {k: v for k, v in os.environ.items()
               if not k.startswith(("WEED_", "AWS_", "S3_"))}
        keys = self.data_dir / "jwt.json"
        if not keys.exists():  # kept across restarts of `make run`: the same data, same keys
            keys.write_text(json.dumps({n: secrets.token_hex(24) for n in
                                        ("signing", "read", "filer", "filer_read")}))
            keys.chmod(0o600)
        jwt = json.loads(keys.read_text())
        env.update(WEED_JWT_SIGNING_KEY=jwt["signing"], WEED_JWT_SIGNING_READ_KEY=jwt["read"],
                   WEED_JWT_FILER_SIGNING_KEY=jwt["filer"],
                   WEED_JWT_FILER_SIGNING_READ_KEY=jwt["filer_read"])
        return env

    def start(self):
        (self.data_dir / "data").mkdir(parents=True, exist_ok=True)
        self.data_dir.chmod(0o700)
        config = self.data_dir / "s3.json"
        config.write_text(json.dumps(identities(self.bucket, self.access_key, self.secret_key,
                                                  self.extra_identities)))
        config.chmod(0o600)
        for attempt in range(START_TRIES):
            self._log = open(self.log_path, "ab")  # noqa: SIM115 (closed in stop)
            self.proc = subprocess.Popen(self.command(), cwd=self.data_dir, env=self.env(),
                                         stdin=subprocess.DEVNULL, stdout=self._log,
                                         stderr=subprocess.STDOUT, start_new_session=True)
            try:
                self._wait_ready()
                return self
            except PortTaken:
                self.stop()
                if attempt == START_TRIES - 1:
                    raise
                self._pick_ports()  # someone took one meanwhile
            except BaseException:
                self.stop()
                raise
        return self

    def _wait_ready(self):
        from uploads.storage.s3 import S3Storage

        store = S3Storage(self.bucket, self.endpoint, "us-east-1", self.access_key,
                          self.secret_key)
        deadline, last = time.monotonic() + READY_SECONDS, ""
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                if "Port allocation failed" in self.tail():
                    raise PortTaken(self.tail())
                raise RuntimeError(f"weed exited at start:\n{self.tail()}")
            try:
                store.check_writable()
                return
            except Exception as exc:  # not up yet: the bucket or the gateway is still coming
                last = str(exc)
            time.sleep(0.3)
        raise RuntimeError(f"SeaweedFS not ready after {READY_SECONDS}s ({last}):\n{self.tail()}")

    def tail(self, lines: int = 30) -> str:
        text = self.log_path.read_text(errors="replace") if self.log_path.exists() else ""
        return "\n".join(text.splitlines()[-lines:])

    def stop(self):
        if self.proc is not None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.proc.pid, signal.SIGTERM)
            with contextlib.suppress(subprocess.TimeoutExpired):
                self.proc.wait(timeout=STOP_SECONDS)
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait()
            self.proc = None
        if self._log is not None:
            self._log.close()
            self._log = None

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.stop()
