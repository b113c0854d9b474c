"""Helpers of the real-engine tier: commands, the compose project, polling."""

import io
import socket
import subprocess
import time
from pathlib import Path

import requests
from PIL import Image

REPO = Path(__file__).resolve().parents[2]
COMPOSE_FILE = REPO / "docker-compose.traefik.yml"
PROJECT = "uploads-e2e"
APP_IMAGE = "uploads-e2e-app:test"


def run(*args, check=True, timeout=600, **kwargs):
    """Run a command, keep its output; on failure the output is the assertion message."""
    done = subprocess.run(args, capture_output=True, text=True, timeout=timeout, **kwargs)
    if check and done.returncode != 0:
        raise AssertionError(f"{' '.join(args)} exited {done.returncode}\n"
                             f"{done.stdout[-3000:]}\n{done.stderr[-3000:]}")
    return done


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Deployment:
    """`docker compose` on the project's compose file, with this run's project and .env file."""

    def __init__(self, workdir: Path, port: int):
        self.port = port
        self.base = f"http://127.0.0.1:{port}"
        self.env_file = workdir / "e2e.env"
        self.settings = {
            "UPLOADS_AUTH": "none",
            "UPLOADS_PUBLIC_BASE_URL": self.base,
            "UPLOADS_LISTEN": f"127.0.0.1:{port}",
            "UPLOADS_APP_IMAGE": APP_IMAGE,
            "UPLOADS_RATE_LIMIT": "0",
            "UPLOADS_LANGUAGE": "en",
        }
        self.write_env()

    def write_env(self, **changes):
        self.settings.update(changes)
        self.settings = {k: v for k, v in self.settings.items() if v is not None}
        self.env_file.write_text("".join(f"{k}={v}\n" for k, v in self.settings.items()))

    def compose(self, *args, check=True, timeout=600):
        return run("docker", "compose", "-p", PROJECT, "-f", str(COMPOSE_FILE),
                   "--env-file", str(self.env_file), *args, check=check, timeout=timeout,
                   cwd=REPO)

    def up(self, *args):
        self.compose("up", "-d", "--wait", "--wait-timeout", "180", *args)

    def container(self, service) -> dict:
        cid = self.compose("ps", "-q", service).stdout.strip()
        assert cid, f"no {service} container"
        out = run("docker", "inspect", "-f",
                  "{{.Id}} {{.Image}} {{.State.StartedAt}}", cid).stdout.split()
        return {"id": out[0], "image": out[1], "started": out[2]}

    def volume(self) -> str:
        return self.settings.get("UPLOADS_VOLUME") or f"{PROJECT}_data"

    def upload(self, name: str, data: bytes) -> dict:
        answer = requests.post(f"{self.base}/api/upload/avatar",
                               files={"avatar": (name, data)}, timeout=30)
        assert answer.status_code == 201, answer.text
        return answer.json()["data"]

    def get(self, path: str) -> requests.Response:
        return requests.get(f"{self.base}{path}", timeout=30)


def remove_leftovers():
    """Containers, networks and volumes of this project, from this run or a crashed one."""
    for kind, label in (("container", "com.docker.compose.project"),
                        ("network", "com.docker.compose.project"),
                        ("volume", "com.docker.compose.project")):
        ids = run("docker", kind, "ls", "-aq" if kind == "container" else "-q", "--filter",
                  f"label={label}={PROJECT}").stdout.split()
        if ids:
            run("docker", kind, "rm", *(["-f"] if kind != "network" else []), *ids, check=False)
    names = [n for n in run("docker", "volume", "ls", "-q").stdout.split()
             if n.startswith(f"{PROJECT}_")]
    if names:
        run("docker", "volume", "rm", "-f", *names, check=False)


def wait_until(probe, timeout=60.0, step=0.5):
    """Poll `probe` until it returns a truthy value (the deployment settling, not a timing
    assertion); return its last value."""
    deadline = time.monotonic() + timeout
    while True:
        value = probe()
        if value or time.monotonic() > deadline:
            return value
        time.sleep(step)


def image(fmt: str, size: tuple[int, int], seed: int) -> bytes:
    """A small image with some structure, so each one encodes to different bytes."""
    im = Image.new("RGB", size, (seed * 40 % 256, 90, 200))
    for x in range(0, size[0], 7):
        im.putpixel((x, (x * seed) % size[1]), (255, 255, 0))
    out = io.BytesIO()
    im.save(out, fmt)
    return out.getvalue()
