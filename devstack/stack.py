"""Traefik, nginx and gunicorn as three local processes on loopback: the deployment without Docker.

Each process runs in a session of its own, so a Ctrl-C in the terminal reaches only the runner,
which then stops the three in order (edge first, app last) and kills whatever a process leaves
behind in its group. The settings come from the table (`uploads.settings`), so a bad one stops
the stack before anything starts, in one line; so does a port someone else already listens on.
The integration tests use the same class with free ports and a temporary storage root.
With UPLOADS_STORAGE=s3 and no UPLOADS_S3_ENDPOINT, a local SeaweedFS (devstack.seaweed) is
started first and stopped last, and the app and nginx are pointed at it.
"""

import contextlib
import os
import shutil
import signal
import subprocess
import tempfile
import time
from pathlib import Path

from uploads import settings

from . import configs
from .seaweed import Seaweed
from .tools import free_port, http_get, nginx_binary, port_in_use, venv_tool

NAMES = ("gunicorn", "nginx", "traefik")  # start order; stopped in reverse
READY_SECONDS = 30
STOP_SECONDS = 15


def runs_own_store(env) -> bool:
    """UPLOADS_STORAGE=s3 without an endpoint: the stack starts a local SeaweedFS."""
    return (env.get("UPLOADS_STORAGE", "").strip().lower() == "s3"
            and not env.get("UPLOADS_S3_ENDPOINT", "").strip())


def with_own_store(env) -> dict:
    """`env` with the bucket the local SeaweedFS gets when none is named."""
    env = dict(env)
    if runs_own_store(env) and not env.get("UPLOADS_S3_BUCKET", "").strip():
        env["UPLOADS_S3_BUCKET"] = "uploads"
    return env


def one_line(error: settings.ConfigError) -> str:
    """The table's complaint as the single line a terminal shows."""
    head, *problems = [line.strip() for line in error.detail.splitlines()]
    return f"{head} {'; '.join(problems)}" if problems else head


class Stack:
    """The three processes. `with Stack() as stack:` starts them and always stops them."""

    def __init__(self, root=None, port=None, env=None, run_dir=None, s3_dir=None,
                 metrics_port=None):
        base = dict(os.environ if env is None else env)
        self.env = {k: v for k, v in base.items() if not k.startswith("TRAEFIK_")}
        self._temp = Path(tempfile.mkdtemp(prefix="uploads-stack-"))
        self.weed = None
        if runs_own_store(self.env):
            self.env = with_own_store(self.env)
            self.weed = Seaweed(Path(s3_dir) if s3_dir else self._temp / "seaweedfs",
                                self.env["UPLOADS_S3_BUCKET"].strip())
            self.env.update(self.weed.settings())
        try:  # the table's values, and a bad setting stops us before anything is made
            self.config = settings.load(self.env)
        except settings.ConfigError as error:
            raise settings.ConfigError(one_line(error)) from None
        self.run_dir = Path(run_dir) if run_dir else self._temp / "run"
        self.root = Path(root) if root else self._temp / "root"
        self.port = port or free_port()
        self.app_port = free_port()
        self.static_port = free_port()
        self.metrics_port = metrics_port or free_port()  # the edge's (UPLOADS_METRICS_PORT)
        # The edge's whole-request timeout (UPLOADS_READ_TIMEOUT), in seconds.
        self.read_timeout = self.config["READ_TIMEOUT"]
        self.procs: dict[str, subprocess.Popen] = {}
        self._logs: dict[str, object] = {}

    url = property(lambda self: f"http://127.0.0.1:{self.port}")
    app_url = property(lambda self: f"http://127.0.0.1:{self.app_port}")
    static_url = property(lambda self: f"http://127.0.0.1:{self.static_port}")
    metrics_url = property(lambda self: f"http://127.0.0.1:{self.metrics_port}")

    def log_path(self, name: str) -> Path:
        return self.run_dir / f"{name}.log"

    def log(self, name: str) -> str:
        path = self.log_path(name)
        return path.read_text(errors="replace") if path.exists() else ""

    # -- life cycle ---------------------------------------------------------------------------

    def start(self):
        try:
            self.refuse_busy("traefik", wait=0)  # first: its holder would pass for our edge
            if port_in_use(self.metrics_port):
                raise RuntimeError(f"port {self.metrics_port} is already in use: stop what "
                                   "holds it, or set UPLOADS_METRICS_PORT to a free port")
            self.run_dir.mkdir(parents=True, exist_ok=True)
            (self.run_dir / "nginx-tmp").mkdir(exist_ok=True)
            self.root.mkdir(parents=True, exist_ok=True)
            self.root.chmod(0o755)
            if self.weed is not None:
                self.weed.log_path = self.log_path("seaweedfs")
                self.weed.start()
                self.env.update(self.weed.settings())  # its ports, if it had to pick again
                self.config = settings.load(self.env)
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
        if self.weed is not None:
            self.weed.stop()
        shutil.rmtree(self._temp, ignore_errors=True)

    def restart(self, name: str):
        """Stop one process and start it again on the same port."""
        self.stop_one(name)
        self.start_one(name)

    def dead(self) -> str | None:
        """The name of a process that exited on its own, if any."""
        weed = self.weed.proc if self.weed is not None else None
        if weed is not None and weed.poll() is not None:
            return "seaweedfs"
        return next((n for n, p in self.procs.items() if p.poll() is not None), None)

    @property
    def storage(self):
        """The storage the app writes, for tests to look behind the edge."""
        from uploads.storage import from_config
        from uploads.storage.local import LocalStorage

        if self.config["STORAGE"] == "s3":
            return from_config(self.config)
        return LocalStorage(str(self.root))

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.stop()

    # -- the three processes ------------------------------------------------------------------

    def _write_configs(self):
        (self.run_dir / "traefik.yml").write_text(configs.traefik_static(
            self.port, f"{self.read_timeout}s", self.config["TRUSTED_PROXIES"],
            self.metrics_port))
        (self.run_dir / "nginx.conf").write_text(configs.nginx_main(
            self.static_port, self.root, self.run_dir, self.config["LANGUAGE"], self.config))

    def _command(self, name: str) -> tuple[list[str], dict]:
        env = dict(self.env)
        if name == "gunicorn":
            env.update(UPLOADS_BIND=f"127.0.0.1:{self.app_port}", UPLOADS_ROOT=str(self.root),
                       PYTHONUNBUFFERED="1")
            env.setdefault("UPLOADS_ALLOW_EPHEMERAL", "true")
            env.setdefault("UPLOADS_PUBLIC_BASE_URL", self.url)
            return [venv_tool("gunicorn"), "-c", "gunicorn.conf.py", "app:app"], env
        if name == "nginx":
            conf = self.run_dir / "nginx.conf"
            return [nginx_binary(), "-p", f"{self.run_dir}/", "-c", str(conf)], env
        env.update(UPLOADS_APP_URL=self.app_url, UPLOADS_STATIC_URL=self.static_url)
        return [venv_tool("traefik"), f"--configFile={self.run_dir / 'traefik.yml'}"], env

    def port_of(self, name: str) -> int:
        return {"gunicorn": self.app_port, "nginx": self.static_port, "traefik": self.port}[name]

    def refuse_busy(self, name: str, wait: float = 1):
        """One line instead of a server's bind error, or worse, another stack's answers taken
        for ours: the readiness checks would reach whoever holds the port. `wait`: a worker
        killed a moment ago (a restart) may still hold it."""
        port = self.port_of(name)
        deadline = time.monotonic() + wait
        while port_in_use(port) and time.monotonic() < deadline:
            time.sleep(0.05)
        if not port_in_use(port):
            return
        if name != "traefik":
            raise RuntimeError(f"port {port}, picked at random for {name}, was taken meanwhile; "
                               "start again")
        who = ("another Traefik, probably another `make run`"
               if http_get(f"{self.url}/ping", timeout=0.5)[0] == 200 else "another program")
        raise RuntimeError(f"port {port} is already in use by {who}: stop it, or set "
                           "UPLOADS_PORT to a free port")

    def start_one(self, name: str):
        """Start one of the three (again) and wait until it answers."""
        self.refuse_busy(name)
        argv, env = self._command(name)
        log = open(self.log_path(name), "ab")  # noqa: SIM115 (closed in _stop)
        self._logs[name] = log
        self.procs[name] = subprocess.Popen(
            argv, cwd=configs.REPO, env=env, stdin=subprocess.DEVNULL, stdout=log,
            stderr=subprocess.STDOUT, start_new_session=True)
        self._wait_ready(name)

    def _ready(self, name: str) -> bool:
        if name == "gunicorn":
            return http_get(self.app_url + "/healthz")[0] == 200
        if name == "nginx":
            return http_get(self.static_url + "/healthz")[0] == 200
        # Traefik answers /ping before it has read the routes; nginx's JSON 404 for /i/
        # proves the dynamic configuration is loaded and nginx is reachable through it.
        if http_get(self.url + "/ping")[0] != 200:
            return False
        status, content_type, _ = http_get(self.url + "/i/")
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
