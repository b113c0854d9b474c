"""`make run` (`python -m devstack`) as a person uses it: the banner's first URL is the upload
page and it says that anyone may upload, an upload through the stack works, and Ctrl-C, SIGTERM
or closing the terminal stops it cleanly with nothing left running; a bad setting, or a port
another stack already holds, is one line and nothing starts.

The runner writes its logs and generated configs to the test's own run folder (`--run-dir`);
leftovers are found by what is ours alone: the processes it started (recorded while it runs)
and any process that names this test's storage root.
"""

import fcntl
import os
import pty
import select
import signal
import subprocess
import sys
import termios
import time
from pathlib import Path

import pytest
import requests

from devstack import free_port, port_in_use
from devstack.client import clean_env
from devstack.images import make_image
from stack.net import upload

pytestmark = pytest.mark.stack

REPO = Path(__file__).resolve().parents[2]
BANNER_END = "Ctrl-C stops all three."
START_SECONDS = 60
STOP_SECONDS = 10  # the three stop in well under a second each when nothing hangs


def read_banner(proc, fd=None) -> str:
    """Everything the runner printed up to the banner's last line (on its stdout, or `fd`)."""
    fd = proc.stdout.fileno() if fd is None else fd
    out = b""
    deadline = time.monotonic() + START_SECONDS
    while BANNER_END.encode() not in out:
        assert proc.poll() is None, f"devstack exited ({proc.returncode}):\n{out.decode()}"
        assert time.monotonic() < deadline, f"no banner after {START_SECONDS}s:\n{out.decode()}"
        readable, _, _ = select.select([fd], [], [], 1)
        if readable:
            out += os.read(fd, 65536)
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


def devstack_env(tmp_path, **settings) -> dict:
    """A free port for the edge's metrics too: the default (8083) may be another run's."""
    return clean_env(ROOT=tmp_path / "root", ALLOW_EPHEMERAL="true", MIN_FREE_BYTES=0,
                     **{"METRICS_PORT": free_port(), **settings})


def devstack_argv(tmp_path) -> list[str]:
    return [sys.executable, "-m", "devstack", "--run-dir", str(tmp_path / "run")]


@pytest.fixture
def devstack(tmp_path):
    """Start `python -m devstack` in a session of its own, as `make run` does from a terminal;
    whatever the test leaves running is killed afterwards."""
    root = tmp_path / "root"
    port = free_port()
    stderr = open(tmp_path / "stderr.log", "wb")  # noqa: SIM115 (closed below)
    env = devstack_env(tmp_path, PORT=port)
    proc = subprocess.Popen(devstack_argv(tmp_path), cwd=REPO, env=env,
                            stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=stderr,
                            start_new_session=True)
    yield proc, port, root
    if proc.poll() is None:
        os.killpg(proc.pid, signal.SIGTERM)
        proc.wait(30)
    proc.stdout.close()
    stderr.close()


@pytest.mark.parametrize("stop", ["sigterm", "ctrl-c", "sighup"])
def test_make_run_prints_where_it_answers_and_stops_cleanly(devstack, stop):
    proc, port, root = devstack
    banner = read_banner(proc)
    url = f"http://127.0.0.1:{port}"
    assert banner.startswith(f"uploads is up: {url}/uploads/ (the upload page)\n")
    assert "  auth         NONE: anyone who can reach this port may upload" in banner
    assert f"  storage      {root}\n" in banner

    started = descendants(proc.pid)
    names = " ".join(started.values())
    assert all(name in names for name in ("traefik", "nginx", "gunicorn")), started

    printed = banner.split("uploads is up: ", 1)[1].split(" ", 1)[0]
    page = requests.get(printed, timeout=10)
    assert page.status_code == 200 and page.headers["Content-Type"].startswith("text/html")
    data = make_image("JPEG", size=(40, 30))
    answer = upload(url, data)
    assert answer.status_code == 201, answer.text
    stored = answer.json()["data"]
    assert stored["url"].startswith(url + "/i/p/")
    assert (root / stored["path"].lstrip("/")).is_file()
    image = requests.get(stored["url"], timeout=10)
    assert image.status_code == 200 and image.headers["Content-Type"] == "image/jpeg"

    if stop == "sigterm":
        proc.send_signal(signal.SIGTERM)
    else:  # what the terminal sends its foreground group on Ctrl-C, or on closing
        os.killpg(proc.pid, signal.SIGINT if stop == "ctrl-c" else signal.SIGHUP)
    assert proc.wait(STOP_SECONDS) == 0
    assert "stopping..." in proc.stdout.read().decode()
    assert left_over(started, root) == []
    with pytest.raises(requests.ConnectionError):
        requests.get(url + "/uploads/", timeout=5)


def test_make_run_in_s3_mode_runs_its_own_locked_down_seaweedfs(tmp_path):
    """`UPLOADS_STORAGE=s3 make run` without an endpoint: a SeaweedFS starts with the stack
    (loopback only, telemetry off, identities), its data beside the run folder (var/seaweedfs
    for `make run`), images go through it, and it stops with the rest."""
    port = free_port()
    proc = subprocess.Popen(devstack_argv(tmp_path), cwd=REPO,
                            env=devstack_env(tmp_path, PORT=port, STORAGE="s3"),
                            stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                            stderr=subprocess.DEVNULL, start_new_session=True)
    try:
        banner = read_banner(proc)
        assert "  storage      s3://uploads at http://127.0.0.1:" in banner
        assert "(a local SeaweedFS, data in " in banner
        started = descendants(proc.pid)
        weed = [cmd for cmd in started.values() if " mini " in cmd]
        assert len(weed) == 1, started
        for flag in ("-ip.bind=127.0.0.1", "-master.telemetry=false", "-webdav=false",
                     "-s3.config="):
            assert flag in weed[0]
        assert (tmp_path / "seaweedfs" / "data").is_dir()
        data = make_image("PNG", size=(30, 20))
        answer = upload(f"http://127.0.0.1:{port}", data, "PNG", "a.png", "image/png")
        assert answer.status_code == 201, answer.text
        image = requests.get(answer.json()["data"]["url"], timeout=10)
        assert image.status_code == 200 and image.headers["Content-Type"] == "image/png"
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(STOP_SECONDS + 15) == 0
        assert left_over(started, tmp_path / "root") == []
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGTERM)
            proc.wait(30)
        proc.stdout.close()


@pytest.mark.parametrize("leader", ["runner", "make"])
def test_closing_the_terminal_stops_all_three(tmp_path, leader):
    """A real hang-up: the terminal goes away while the runner runs, and it can no longer print.
    The kernel signals the session's leader only: the runner itself, or a make that catches
    SIGHUP and waits for its recipe (a shell ignoring SIGHUP stands in for it here, as in
    `ssh -t host make run`). Either way the three stop and the port is free again."""
    primary, secondary = pty.openpty()
    port = free_port()
    argv = devstack_argv(tmp_path)
    if leader == "make":
        argv = ["/bin/sh", "-c", 'trap "" HUP; "$@"; exit $?', "sh", *argv]
    proc = subprocess.Popen(argv, cwd=REPO, env=devstack_env(tmp_path, PORT=port),
                            stdin=secondary, stdout=secondary, stderr=secondary,
                            start_new_session=True,
                            preexec_fn=lambda: fcntl.ioctl(0, termios.TIOCSCTTY, 0))
    os.close(secondary)
    try:
        try:
            read_banner(proc, primary)
            started = descendants(proc.pid)
            assert len(started) >= 3, started
        finally:
            os.close(primary)  # the terminal window closes
        assert proc.wait(STOP_SECONDS) == 0
        assert left_over(started, tmp_path / "root") == []
        assert not port_in_use(port)
    finally:
        if proc.poll() is None:  # failed: the runner still stops the three on SIGTERM
            os.killpg(proc.pid, signal.SIGTERM)
            proc.wait(30)


def run_refused(tmp_path, **settings) -> subprocess.CompletedProcess:
    done = subprocess.run(devstack_argv(tmp_path), cwd=REPO, env=devstack_env(tmp_path, **settings),
                          stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=30,
                          check=False)
    assert done.stdout == "" and done.stderr.count("\n") == 1, done
    return done


def test_a_bad_setting_is_one_line_and_starts_nothing(tmp_path):
    done = run_refused(tmp_path, PORT="abc")
    assert done.returncode == 2
    assert done.stderr == ("uploads: invalid configuration: UPLOADS_PORT='abc': "
                           "expected a whole number from 1 to 65535\n")
    assert not (tmp_path / "run").exists() and not (tmp_path / "root").exists()
    typo = run_refused(tmp_path, PORTT="8080")
    assert "UPLOADS_PORTT is not a setting; did you mean UPLOADS_PORT?" in typo.stderr


def test_a_port_another_stack_holds_is_one_line_and_that_stack_is_not_taken_for_ours(
        tmp_path, stack):
    started = time.monotonic()
    done = run_refused(tmp_path, PORT=stack.port)
    assert done.returncode == 1 and time.monotonic() - started < 10
    assert done.stderr == (f"could not start the stack: port {stack.port} is already in use by "
                           "another Traefik, probably another `make run`: stop it, or set "
                           "UPLOADS_PORT to a free port\n")
    assert requests.get(stack.url + "/uploads/", timeout=10).status_code == 200
