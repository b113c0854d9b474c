"""Uploads over a real socket, a PNG that suits them, and checks of what landed on disk.
Other images come from `devstack.images`, multipart bodies from `devstack.client`."""

import os
import stat
import struct
import zlib
from pathlib import Path
from urllib.parse import urlsplit

import requests
from PIL import Image

from devstack.client import BOUNDARY
from devstack.images import PNG_SIGNATURE, png_chunk
from uploads import naming
from uploads.naming import PATH_RE
from uploads.storage import OWN_NAMES

FORMATS = {"image/jpeg": "JPEG", "image/png": "PNG", "image/webp": "WEBP"}
EXTENSIONS = {"JPEG": "jpg", "PNG": "png", "WEBP": "webp"}
PNG_HEAD = 33  # signature and IHDR (whose length, 13, is a CR)
NO_LINE_BREAKS = bytes.maketrans(b"\r\n", b"\x0e\x0b")


def png_without_line_breaks(size: tuple[int, int]) -> bytes:
    """A PNG of random pixels, unfiltered and stored uncompressed, as large as raw RGB.

    Built by hand so that no byte of it is CR or LF after its first few: werkzeug's multipart
    parser then never holds back bytes that might start a boundary, so a test of kills or
    disconnects stays about those, whatever the parser's buffering does."""
    width, height = size
    for _attempt in range(100):  # fresh pixels each time: other checksums, same size
        pixels = os.urandom(width * height * 3).translate(NO_LINE_BREAKS)
        rows = b"".join(b"\0" + pixels[y * width * 3:(y + 1) * width * 3] for y in range(height))
        ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
        png = PNG_SIGNATURE + png_chunk(b"IHDR", ihdr)
        png += png_chunk(b"IDAT", zlib.compress(rows, 0)) + png_chunk(b"IEND", b"")
        if b"\r" not in png[PNG_HEAD:] and b"\n" not in png[PNG_HEAD:]:
            return png
    raise AssertionError("no PNG without line breaks")


def post_image(url: str, data: bytes, filename="avatar.jpg", field="avatar",
               content_type="image/jpeg", timeout=60) -> requests.Response:
    """What the web client sends: one multipart part, no other header."""
    return requests.post(url + "/api/upload/avatar",
                         files={field: (filename, data, content_type)}, timeout=timeout)


def answered(answers) -> set[str]:
    """The files 201 answers name, relative to the root: each main file and its variants."""
    found = set()
    for data in answers:
        found.add(data["path"].lstrip("/"))
        found.update(urlsplit(v["url"]).path.lstrip("/") for v in data.get("variants", ()))
    return found


def mains(paths) -> list:
    """The main files among `paths` (keys or Paths), without their variants."""
    return [p for p in paths if naming.main_stem(str(p)) is None]


def files_under(folder) -> list[Path]:
    folder = Path(folder)
    if not folder.exists():
        return []
    return sorted(p for p in folder.rglob("*") if not p.is_dir() and p.name not in OWN_NAMES)


def assert_stored(root, data: dict) -> Path:
    """The file an answer names exists, is complete, and is what the answer says it is."""
    assert PATH_RE.fullmatch(data["path"].lstrip("/")), data["path"]
    path = Path(root) / data["path"].lstrip("/")
    info = path.stat()
    assert info.st_size == data["size"], (path, info.st_size, data["size"])
    assert stat.S_IMODE(info.st_mode) == 0o644, oct(info.st_mode)
    assert_complete_image(path, FORMATS[data["content_type"]], (data["width"], data["height"]))
    for variant in data.get("variants", ()):  # and so is each variant it lists
        copy = Path(root) / urlsplit(variant["url"]).path.lstrip("/")
        assert stat.S_IMODE(copy.stat().st_mode) == 0o644, copy
        assert_complete_image(copy, "WEBP", (variant["width"], variant["height"]))
    return path


def assert_complete_image(path, fmt: str | None = None, size=None) -> None:
    """Pillow reads the whole file (checksums, every scan line) without a truncation error."""
    path = Path(path)
    with Image.open(path) as im:
        assert fmt is None or im.format == fmt, (path, im.format)
        assert size is None or im.size == size, (path, im.size, size)
        assert path.suffix == "." + EXTENSIONS[im.format], path
        im.verify()
    with Image.open(path) as im:
        im.load()


def assert_folder_modes(root) -> None:
    """Every folder of the served tree is 0755, so nginx (another user) can list its way in."""
    for folder in [Path(root) / "i", *(p for p in (Path(root) / "i").rglob("*") if p.is_dir())]:
        assert stat.S_IMODE(folder.stat().st_mode) == 0o755, (folder, oct(folder.stat().st_mode))


def raw_request(port: int, body: bytes, boundary=BOUNDARY, length=None,
                extra_headers="") -> bytes:
    """The bytes of a POST to the upload route, Content-Length `length` (default: the body's)."""
    length = len(body) if length is None else length
    return (f"POST /api/upload/avatar HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n"
            f"Content-Type: multipart/form-data; boundary={boundary}\r\n"
            f"Content-Length: {length}\r\n{extra_headers}\r\n").encode() + body
