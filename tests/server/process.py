"""The real gunicorn, started the way production starts it (`gunicorn -c gunicorn.conf.py app:app`).

Tests here need what the in-process client cannot give: several worker processes writing at
once, workers that really die, real sockets that really close. Each server gets its own free
loopback port and its own root, and is stopped with SIGTERM;
`stop()` then makes sure that neither the master nor any worker is left behind.
"""

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import requests

from devstack import children, free_port
from devstack.client import clean_env

PROJECT = Path(__file__).resolve().parents[2]
GUNICORN = Path(sys.executable).parent / "gunicorn"
START_SECONDS = 20
STOP_SECONDS = 30


def server_env(root, port: int, **settings) -> dict:
    """The environment of one server: no UPLOADS_ variable leaks in from the caller's shell."""
    # Every client here is 127.0.0.1: admission must not take the test's many concurrent
    # uploads for one client's burst.
    defaults = {"BIND": f"127.0.0.1:{port}", "ROOT": root, "ALLOW_EPHEMERAL": "true",
                "GRACEFUL_TIMEOUT": 5, "CLIENT_SLOTS": 64, "QUEUE_SECONDS": 60}
    return clean_env(**{**defaults, **settings})


def run_to_exit(root, workdir, command="gunicorn", **settings) -> subprocess.CompletedProcess:
    """Run gunicorn (or `flask --app app migrate`) where it is expected to refuse to start."""
    env = server_env(root, free_port(), **settings)
    old_tree = Path(workdir) / "old-public-i"
    (old_tree / "p").mkdir(parents=True, exist_ok=True)
    args = {"gunicorn": [str(GUNICORN), "-c", "gunicorn.conf.py", "app:app"],
            "flask": [str(Path(sys.executable).parent / "flask"), "--app", "app", "migrate",
                      "--from", str(old_tree)]}  # a command that writes checks the storage
    proc = subprocess.Popen(args[command], cwd=PROJECT, env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True, start_new_session=True)
    try:
        out, _ = proc.communicate(timeout=START_SECONDS)
    except subprocess.TimeoutExpired:  # it started when it should not have
        proc.send_signal(signal.SIGTERM)
        out, _ = proc.communicate(timeout=STOP_SECONDS)
        raise AssertionError(f"{command} started on {root}:\n{out[-3000:]}") from None
    return subprocess.CompletedProcess(proc.args, proc.returncode, out, "")


class Gunicorn:
    def __init__(self, root, workdir, **settings):
        self.root = Path(root)
        self.workdir = Path(workdir)
        self.settings = settings
        self.proc = None
        self.log_path = self.workdir / "gunicorn.log"
        self.url = ""

    def start(self) -> "Gunicorn":
        self.workdir.mkdir(parents=True, exist_ok=True)
        port = free_port()
        self.url = f"http://127.0.0.1:{port}"
        env = server_env(self.root, port, **self.settings)
        with open(self.log_path, "ab") as log:
            self.proc = subprocess.Popen(
                [str(GUNICORN), "-c", "gunicorn.conf.py", "app:app"], cwd=PROJECT, env=env,
                stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
        self.wait_ready()
        return self

    def wait_ready(self) -> None:
        """Until /healthz answers and every configured worker is up (after start or a kill)."""
        workers = int(self.settings.get("WORKERS", 2))
        deadline = time.monotonic() + START_SECONDS
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"gunicorn exited with {self.proc.returncode}:\n{self.log()}")
            try:
                ok = requests.get(self.url + "/healthz", timeout=2).status_code == 200
            except requests.RequestException:
                ok = False
            if ok and len(self.worker_pids()) == workers:
                return
            time.sleep(0.05)
        raise RuntimeError(f"gunicorn not ready after {START_SECONDS}s:\n{self.log()}")

    def worker_pids(self) -> list[int]:
        return children(self.proc.pid)

    def kill_workers(self, pids: list[int] | None = None) -> list[int]:
        """SIGKILL the workers (`pids`, looked up beforehand, saves the /proc walk)."""
        pids = self.worker_pids() if pids is None else pids
        for pid in pids:
            os.kill(pid, signal.SIGKILL)
        return pids

    def log(self) -> str:
        try:
            return self.log_path.read_text(errors="replace")[-6000:]
        except FileNotFoundError:
            return ""

    def wait_for_log(self, needle: str, count: int = 1, seconds: float = 15) -> str:
        """Until `needle` appears `count` times in the log (a request was dealt with)."""
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            text = self.log_path.read_text(errors="replace")
            if text.count(needle) >= count:
                return text
            time.sleep(0.02)
        raise AssertionError(f"{needle!r} not {count} times in the log:\n{self.log()}")

    def stop(self) -> None:
        """SIGTERM the master, wait for it, then check that no worker outlived it."""
        if self.proc is None:
            return
        proc, self.proc = self.proc, None
        workers = children(proc.pid)
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(STOP_SECONDS)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
                raise RuntimeError("gunicorn ignored SIGTERM") from None
        left = [pid for pid in workers if _alive(pid)]
        deadline = time.monotonic() + 5
        while left and time.monotonic() < deadline:
            time.sleep(0.05)
            left = [pid for pid in left if _alive(pid)]
        if left:
            for pid in left:
                os.kill(pid, signal.SIGKILL)
            raise RuntimeError(f"gunicorn workers {left} outlived the master")


def _alive(pid: int) -> bool:
    try:
        state = Path("/proc", str(pid), "stat").read_text().rsplit(")", 1)[1].split()[0]
    except (OSError, IndexError):
        return False
    return state != "Z"
