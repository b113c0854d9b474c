"""Images made in memory, uploads over a real socket, and checks of what landed on disk."""

import io
import os
import stat
from pathlib import Path

import requests
from PIL import Image

from uploads.naming import PATH_RE

FORMATS = {"image/jpeg": "JPEG", "image/png": "PNG", "image/webp": "WEBP"}
EXTENSIONS = {"JPEG": "jpg", "PNG": "png", "WEBP": "webp"}


def noise_image(fmt: str, size: tuple[int, int], seed: bytes | None = None) -> bytes:
    """Random pixels: they do not compress, so the bytes are as large as the image asks."""
    pixels = seed or os.urandom(size[0] * size[1] * 3)
    im = Image.frombytes("RGB", size, pixels[: size[0] * size[1] * 3])
    out = io.BytesIO()
    options = {"quality": 95} if fmt in ("JPEG", "WEBP") else {"compress_level": 1}
    im.save(out, fmt, **options)
    return out.getvalue()


def flat_image(fmt: str, size: tuple[int, int], color=(40, 120, 200)) -> bytes:
    out = io.BytesIO()
    Image.new("RGB", size, color).save(out, fmt)
    return out.getvalue()


def post_image(url: str, data: bytes, filename="avatar.jpg", field="avatar",
               content_type="image/jpeg", timeout=60) -> requests.Response:
    """What the web client sends: one multipart part, no other header."""
    return requests.post(url + "/api/upload/avatar",
                         files={field: (filename, data, content_type)}, timeout=timeout)


def files_under(folder) -> list[Path]:
    folder = Path(folder)
    return sorted(p for p in folder.rglob("*") if not p.is_dir()) if folder.exists() else []


def assert_error(response, status: int, code: str) -> None:
    assert response.status_code == status, response.text
    assert response.headers["Content-Type"].startswith("application/json")
    body = response.json()
    assert body["success"] is False and body["code"] == code, body
    assert isinstance(body["error"], str) and body["error"], body


def assert_stored(root, data: dict) -> Path:
    """The file an answer names exists, is complete, and is what the answer says it is."""
    assert PATH_RE.fullmatch(data["path"].lstrip("/")), data["path"]
    path = Path(root) / data["path"].lstrip("/")
    info = path.stat()
    assert info.st_size == data["size"], (path, info.st_size, data["size"])
    assert stat.S_IMODE(info.st_mode) == 0o644, oct(info.st_mode)
    assert_complete_image(path, FORMATS[data["content_type"]], (data["width"], data["height"]))
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
