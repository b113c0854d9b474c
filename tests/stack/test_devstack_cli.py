"""`make run` (`python -m devstack`) as a person uses it: the banner says where the stack answers
and that anyone may upload, an upload through the printed URL works, and Ctrl-C or SIGTERM
stops it cleanly with nothing left running.

The runner writes its logs and generated configs to the test's own run folder (`--run-dir`);
leftovers are found by what is ours alone: the processes it started (recorded while it runs)
and any process that names this test's storage root.
"""

import os
import select
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import requests

from devstack import free_port
from helpers import make_image
from stack.net import upload

pytestmark = pytest.mark.stack

REPO = Path(__file__).resolve().parents[2]
BANNER_END = "Ctrl-C stops all three."
START_SECONDS = 60
STOP_SECONDS = 10  # the three stop in well under a second each when nothing hangs


def read_banner(proc) -> str:
    """Everything the runner printed up to the banner's last line."""
    out = b""
    deadline = time.monotonic() + START_SECONDS
    while BANNER_END.encode() not in out:
        assert proc.poll() is None, f"devstack exited ({proc.returncode}):\n{out.decode()}"
        assert time.monotonic() < deadline, f"no banner after {START_SECONDS}s:\n{out.decode()}"
        readable, _, _ = select.select([proc.stdout], [], [], 1)
        if readable:
            out += os.read(proc.stdout.fileno(), 65536)
    return out.decode()


def process(pid: str) -> tuple[str, str, str] | None:
    """(start time, command line, environment) of a process, or None once it is gone."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ")
        environ = Path(f"/proc/{pid}/environ").read_bytes().replace(b"\0", b"\n")
    except OSError:
        return None
    start = stat.rsplit(")", 1)[1].split()[19]  # field 22: starttime, stable for one process
    return start, cmdline.decode(errors="replace"), environ.decode(errors="replace")


def descendants(pid: int) -> dict[tuple[str, str], str]:
    """Every process below `pid`, as {(pid, start time): command line}."""
    parents = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                stat = Path(f"/proc/{entry}/stat").read_text()
            except OSError:
                continue
            parents[entry] = stat.rsplit(")", 1)[1].split()[1]
    found, todo = {}, [str(pid)]
    while todo:
        parent = todo.pop()
        for child, ppid in parents.items():
            if ppid == parent and (info := process(child)):
                found[(child, info[0])] = info[1]
                todo.append(child)
    return found


def left_over(started: dict, root: Path) -> list[str]:
    """Processes still running that the runner started, or that name our storage root."""
    left = []
    for entry in os.listdir("/proc"):
        info = process(entry) if entry.isdigit() else None
        if info is None or int(entry) == os.getpid():
            continue
        start, cmdline, environ = info
        if ((entry, start) in started or str(root) in cmdline
                or f"UPLOADS_ROOT={root}\n" in environ):
            left.append(f"{entry}: {cmdline}")
    return left


@pytest.fixture
def devstack(tmp_path):
    """Start `python -m devstack` in a session of its own, as `make run` does from a terminal;
    whatever the test leaves running is killed afterwards."""
    root = tmp_path / "root"
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("UPLOADS_")}
    env.update(UPLOADS_PORT=str(port), UPLOADS_ROOT=str(root), UPLOADS_ALLOW_EPHEMERAL="true",
               UPLOADS_MIN_FREE_BYTES="0")
    stderr = open(tmp_path / "stderr.log", "wb")  # noqa: SIM115 (closed below)
    proc = subprocess.Popen([sys.executable, "-m", "devstack", "--run-dir", str(tmp_path / "run")],
                            cwd=REPO, env=env,
                            stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=stderr,
                            start_new_session=True)
    yield proc, port, root
    if proc.poll() is None:
        os.killpg(proc.pid, signal.SIGTERM)
        proc.wait(30)
    proc.stdout.close()
    stderr.close()


@pytest.mark.parametrize("stop", ["sigterm", "ctrl-c"])
def test_make_run_prints_where_it_answers_and_stops_cleanly(devstack, stop):
    proc, port, root = devstack
    banner = read_banner(proc)
    url = f"http://127.0.0.1:{port}"
    assert f"uploads is up: {url}\n" in banner
    assert f"  upload page  {url}/uploads/\n" in banner
    assert "  auth         NONE: anyone who can reach this port may upload" in banner
    assert f"  storage      {root}\n" in banner

    started = descendants(proc.pid)
    names = " ".join(started.values())
    assert all(name in names for name in ("traefik", "nginx", "gunicorn")), started

    printed = banner.split("uploads is up: ", 1)[1].split("\n", 1)[0]
    page = requests.get(printed + "/uploads/", timeout=10)
    assert page.status_code == 200 and page.headers["Content-Type"].startswith("text/html")
    data = make_image("JPEG", size=(40, 30))
    answer = upload(printed, data)
    assert answer.status_code == 201, answer.text
    stored = answer.json()["data"]
    assert stored["url"].startswith(url + "/i/p/")
    assert (root / stored["path"].lstrip("/")).is_file()
    image = requests.get(stored["url"], timeout=10)
    assert image.status_code == 200 and image.headers["Content-Type"] == "image/jpeg"

    if stop == "sigterm":
        proc.send_signal(signal.SIGTERM)
    else:
        os.killpg(proc.pid, signal.SIGINT)  # what the terminal sends its foreground group
    assert proc.wait(STOP_SECONDS) == 0
    assert "stopping..." in proc.stdout.read().decode()
    assert left_over(started, root) == []
    with pytest.raises(requests.ConnectionError):
        requests.get(url + "/uploads/", timeout=5)
