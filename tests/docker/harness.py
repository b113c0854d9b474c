"""Helpers of the real-engine tier: commands, the compose project, polling."""

import io
import random
import select
import socket
import struct
import subprocess
import time
import zlib
from dataclasses import dataclass
from pathlib import Path

import requests
from PIL import Image

REPO = Path(__file__).resolve().parents[2]
COMPOSE_FILE = REPO / "docker-compose.traefik.yml"
PROJECT = "uploads-e2e"
APP_IMAGE = "uploads-e2e-app:test"
MAX_BYTES = 5 * 1024 * 1024  # the compose file's default UPLOADS_MAX_BYTES


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


def push_body(port: int, target: str, total: int) -> tuple[int, str, bytes, int]:
    """POST `total` bytes of zeros announced by Content-Length, reading while writing; stop
    when the server answers. Returns status, content type, body and the bytes sent by then."""
    head = (f"POST {target} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n"
            f"Content-Type: multipart/form-data; boundary=x\r\nContent-Length: {total}\r\n\r\n")
    piece, sent, raw = b"\0" * 65536, 0, b""
    with socket.create_connection(("127.0.0.1", port), timeout=30) as sock:
        sock.sendall(head.encode())
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            readable, writable, _ = select.select([sock], [sock] if sent < total else [], [], 5)
            if readable:
                break
            if writable:
                try:
                    sent += sock.send(piece[: total - sent])
                except (BrokenPipeError, ConnectionResetError):
                    break  # refused; the answer may still be there to read
        while chunk := _recv(sock):
            raw += chunk
    head_text, _, body = raw.partition(b"\r\n\r\n")
    lines = head_text.decode("latin-1").split("\r\n")
    status = int(lines[0].split()[1]) if lines[0].startswith("HTTP/") else 0
    content_type = next((line.split(":", 1)[1].strip() for line in lines[1:]
                         if line.lower().startswith("content-type:")), "")
    return status, content_type, body, sent


def _recv(sock) -> bytes:
    try:
        return sock.recv(65536)
    except (ConnectionResetError, TimeoutError):
        return b""


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


def photo(size: tuple[int, int], grain: float, seed: int) -> Image.Image:
    """Photo-like pixels: smooth colour gradients under sensor-like grain, so that a camera-size
    image encodes to camera-size bytes (flat colours would compress to almost nothing)."""
    gradient = Image.linear_gradient("L").resize(size)
    bases = (gradient, Image.radial_gradient("L").resize(size),
             gradient.transpose(Image.Transpose.ROTATE_90).resize(size))
    rng = random.Random(seed)
    return Image.merge("RGB", [
        Image.blend(base, Image.frombytes("L", size, rng.randbytes(size[0] * size[1])), grain)
        for base in bases])


def encode(im: Image.Image, fmt: str, **options) -> bytes:
    out = io.BytesIO()
    im.save(out, fmt, **options)
    return out.getvalue()


def pad_png(data: bytes, total: int) -> bytes:
    """`data` (a PNG) grown to exactly `total` bytes by a private ancillary chunk after IHDR,
    which decoders skip: still a valid PNG."""
    ihdr_end = 8 + 8 + 13 + 4  # signature, IHDR's length and type, its 13 bytes, its CRC
    room = total - len(data) - 12  # a chunk's length, type and CRC take 12 bytes
    assert room >= 0, f"the PNG is already {len(data)} bytes"
    filler = b"\0" * room
    chunk = (struct.pack(">I", len(filler)) + b"paDd" + filler
             + struct.pack(">I", zlib.crc32(b"paDd" + filler)))
    padded = data[:ihdr_end] + chunk + data[ihdr_end:]
    assert len(padded) == total
    return padded


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
    png = encode(photo((1400, 1000), 0.3, 2), "PNG", compress_level=1)
    return {
        "jpeg-12mp-exif": ("IMG_0001.jpg", encode(photo((4000, 3000), 0.2, 1), "JPEG",
                                                  quality=85, exif=exif)),
        "png-4mb": ("Screenshot.png", png),
        # 8 MP: the app's cost budget refuses a lossy WebP over ~10.4 MP
        "webp-8mp": ("PXL_0003.webp", encode(photo((3264, 2448), 0.3, 3), "WEBP",
                                             quality=85, method=0)),
        "png-exactly-max-bytes": ("exact.png", pad_png(
            encode(photo((1200, 900), 0.3, 4), "PNG", compress_level=1), MAX_BYTES)),
    }
