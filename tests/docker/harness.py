"""Helpers of the real-engine tier: commands, the compose project, polling."""

import json
import os
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

import compose
import requests
from PIL import Image

from devstack.client import clean_env
from devstack.images import encode, pad_png, photo

REPO = Path(__file__).resolve().parents[2]
COMPOSE_FILE = REPO / "docker-compose.traefik.yml"
S3_FILE = REPO / "docker-compose.s3.yml"
PROJECT = "uploads-e2e"
OTHER_PROJECT = f"{PROJECT}-other"  # the same compose file under another project name
S3_PROJECT = f"{PROJECT}-s3"  # the scale-out deployment (both files)
MOVE_PROJECT = f"{PROJECT}-move"  # a single-host deployment moved to the scale-out one
PROJECTS = (PROJECT, OTHER_PROJECT, S3_PROJECT, MOVE_PROJECT)
# Never the default `uploads_data`: that may be a real deployment's on this engine.
VOLUME = f"{PROJECT}_data"
APP_IMAGE = "uploads-e2e-app:test"
MAX_BYTES = 5 * 1024 * 1024  # the compose file's default UPLOADS_MAX_BYTES


def compose_config(files, settings: dict, *args, env_file=os.devnull):
    """`docker compose ... config` by the real Go binary (no engine needed), with `settings` as
    the only UPLOADS_/COMPOSE_ variables."""
    binary = Path(compose.__file__).parent / "docker-compose"
    paths = [arg for path in files for arg in ("-f", str(path))]
    return subprocess.run([str(binary), *paths, "--env-file", str(env_file), "config", *args],
                          env={**clean_env(("COMPOSE_",)), **settings}, capture_output=True,
                          text=True, timeout=60, cwd=REPO)


def run(*args, check=True, timeout=600, **kwargs):
    """Run a command, keep its output; on failure the output is the assertion message."""
    done = subprocess.run(args, capture_output=True, text=True, timeout=timeout, **kwargs)
    if check and done.returncode != 0:
        raise AssertionError(f"{' '.join(args)} exited {done.returncode}\n"
                             f"{done.stdout[-3000:]}\n{done.stderr[-3000:]}")
    return done


class Deployment:
    """`docker compose` on the project's compose file, with this run's project and .env file."""

    def __init__(self, workdir: Path, port: int, project: str = PROJECT, **settings):
        self.project = project
        self.files = [COMPOSE_FILE]
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
            "UPLOADS_VOLUME": VOLUME if project == PROJECT else f"{project}_data",
            **settings,
        }
        self.write_env()

    def scale_out(self, replicas: int = 2):
        """From here on, the scale-out deployment: both files, SeaweedFS, `replicas` apps."""
        self.files = [COMPOSE_FILE, S3_FILE]
        self.write_env(UPLOADS_S3_ACCESS_KEY_ID=f"E2E{self.project.upper().replace('-', '')}",
                       UPLOADS_S3_SECRET_ACCESS_KEY="e2e-secret-" + "x" * 32,
                       UPLOADS_SEAWEEDFS_VOLUME=f"{self.project}_seaweedfs",
                       UPLOADS_S3_CACHE_VOLUME=f"{self.project}_s3_cache",
                       UPLOADS_APP_REPLICAS=str(replicas))

    def write_env(self, **changes):
        self.settings.update(changes)
        self.settings = {k: v for k, v in self.settings.items() if v is not None}
        self.env_file.write_text("".join(f"{k}={v}\n" for k, v in self.settings.items()))

    def command(self, project=None, env_file=None) -> list[str]:
        """`docker compose` with the project's name, files and env file."""
        files = [arg for path in self.files for arg in ("-f", str(path))]
        return ["docker", "compose", "-p", project or self.project, *files,
                "--env-file", str(env_file or self.env_file)]

    def compose(self, *args, check=True, timeout=600, project=None, **kwargs):
        return run(*self.command(project), *args, check=check, timeout=timeout, cwd=REPO,
                   **kwargs)

    def up(self, *args, project=None):
        self.compose("up", "-d", "--wait", "--wait-timeout", "180", *args, project=project)

    def readyz(self, project=None) -> dict:
        """The app's /readyz, read inside its container (it is not routed by the edge)."""
        read = ("import sys, urllib.request; sys.stdout.write(urllib.request.urlopen("
                "'http://127.0.0.1:8000/readyz', timeout=5).read().decode())")
        return json.loads(self.compose("exec", "-T", "app", "python", "-c", read,
                                       project=project).stdout)

    def container(self, service) -> dict:
        cid = self.compose("ps", "-q", service).stdout.strip()
        assert cid, f"no {service} container"
        out = run("docker", "inspect", "-f",
                  "{{.Id}} {{.Image}} {{.State.StartedAt}}", cid).stdout.split()
        return {"id": out[0], "image": out[1], "started": out[2]}

    def volume(self) -> str:
        return self.settings["UPLOADS_VOLUME"]

    def post(self, name: str, data: bytes, base: str | None = None, **kwargs):
        return requests.post(f"{base or self.base}/api/upload/avatar",
                             files={"avatar": (name, data)}, timeout=60, **kwargs)

    def upload(self, name: str, data: bytes, base: str | None = None, **kwargs) -> dict:
        answer = self.post(name, data, base, **kwargs)
        assert answer.status_code == 201, (answer.status_code, answer.text[:300])
        return answer.json()["data"]

    def stored(self, paths) -> dict[str, str]:
        """sha256 of each URL path's file in the volume, read inside the app container."""
        out = self.compose("exec", "-T", "app", "sha256sum",
                           *("/data" + path for path in paths)).stdout
        return {name.removeprefix("/data"): digest
                for digest, name in (line.split() for line in out.splitlines())}

    def get(self, path: str) -> requests.Response:
        return requests.get(f"{self.base}{path}", timeout=30)


def remove_leftovers():
    """Containers, networks and volumes of these projects, from this run or a crashed one (the
    volumes a test makes by hand carry the project's label too)."""
    for kind in ("container", "network", "volume"):
        for project in PROJECTS:
            ids = run("docker", kind, "ls", "-aq" if kind == "container" else "-q", "--filter",
                      f"label=com.docker.compose.project={project}").stdout.split()
            if ids:
                run("docker", kind, "rm", *(["-f"] if kind != "network" else []), *ids,
                    check=False)
    names = [n for n in run("docker", "volume", "ls", "-q").stdout.split()
             if n.startswith(tuple(f"{project}_" for project in PROJECTS))]
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


@dataclass(frozen=True)
class PhoneFile:
    """A file as a phone sends it, and what the app answers for it when it runs in-process on
    the same code: `answer` (size, width, height, content_type) and the bytes it stores."""

    name: str
    data: bytes
    answer: dict
    stored: bytes


def phone_images() -> dict[str, tuple[str, bytes]]:
    """Camera-size files of each accepted format, all over the 2 MiB that used to spill to
    Traefik's missing /tmp; the last is exactly MAX_BYTES."""
    exif = Image.Exif()
    exif[0x0112] = 6  # Orientation: the sensor's landscape, shown rotated 90 degrees (portrait)
    exif[0x010F], exif[0x0110] = "uploads-test", "phone"
    return {
        "jpeg-12mp-exif": ("IMG_0001.jpg", encode(photo((4000, 3000), seed=1), "JPEG",
                                                  quality=85, exif=exif)),  # ~3.3 MiB
        "png-3mb": ("Screenshot.png", encode(photo((1400, 1000), seed=2), "PNG",
                                             compress_level=1)),  # ~2.9 MiB
        # 6.75 MP: the app's cost budget refuses a lossy WebP over ~7.7 MP (4:3)
        "webp-7mp": ("PXL_0003.webp", encode(photo((3000, 2250), seed=3), "WEBP",
                                             quality=90, method=0)),  # ~2.7 MiB
        "png-exactly-max-bytes": ("exact.png", exact_max_png()),
    }


def exact_max_png() -> bytes:
    """A photo-like PNG of exactly MAX_BYTES: the largest file the deployment accepts."""
    return pad_png(encode(photo((1200, 900), seed=4), "PNG", compress_level=1), MAX_BYTES)
