"""What `smoke` asks of the public URL: one HTTP request, and the check of a file that was
already there (`smoke --existing`), the part of the incident a new upload cannot show: after a
recreate or a migration, the files users already link to must still be served, as images.

Only the standard library speaks HTTP here (the app's image carries no development tools).
"""

import io
import urllib.error
import urllib.request
from urllib.parse import urljoin, urlsplit

from PIL import Image

from ..images import BOMB_ERRORS, DECODE_ERRORS, FORMATS, sniff

BY_EXTENSION = {ext: (fmt, ctype) for fmt, (ext, ctype) in FORMATS.items()}


class Failed(Exception):
    pass


def request(state, method, url, body=None, headers=None):
    """(status, headers, body) of one request; an HTTP error status is an answer too."""
    if urlsplit(url).scheme not in ("http", "https"):
        raise Failed(f"{url}: not an http(s) URL")
    req = urllib.request.Request(url, data=body, method=method, headers=headers or {})  # noqa: S310
    try:
        with state["open"].open(req, timeout=state["timeout"]) as resp:
            return resp.status, resp.headers, resp.read()
    except urllib.error.HTTPError as exc:
        with exc:
            return exc.code, exc.headers, exc.read()


def resolve(url: str, base: str | None) -> str | None:
    """A full URL as given; a path (`/i/p/...`) under `base`; None for a path without a base."""
    if urlsplit(url).scheme:
        return url
    return urljoin(base + "/", url.lstrip("/")) if base else None


def check_existing(state, url: str) -> str:
    """GET a stored file's URL: 200, the Content-Type of its extension, cached as immutable,
    and bytes that are that format and decode."""
    ext = urlsplit(url).path.rpartition(".")[2]
    if ext not in BY_EXTENSION:
        raise Failed(f"{url}: not a .jpg, .png or .webp name, the only ones served")
    fmt, expected = BY_EXTENSION[ext]
    try:
        status, headers, body = request(state, "GET", url)
    except OSError as exc:
        raise Failed(f"GET {url}: {exc}") from exc
    if status != 200:
        raise Failed(f"GET {url} answered {status}, expected 200")
    if headers.get_content_type() != expected:
        raise Failed(f"{url}: Content-Type {headers.get('Content-Type')!r}, expected {expected} "
                     f"for .{ext}")
    cache = headers.get("Cache-Control", "")
    if "immutable" not in cache or "max-age=" not in cache:
        raise Failed(f"{url}: Cache-Control {cache!r}, expected max-age and immutable")
    found = sniff(body[:16])
    if found != fmt:
        raise Failed(f"{url}: {len(body)} bytes of {found or 'no JPEG, PNG or WebP'} content, "
                     f"expected {fmt} for .{ext}")
    try:
        with Image.open(io.BytesIO(body), formats=[fmt]) as im:
            im.load()
            size = f"{im.width}x{im.height}"
    except BOMB_ERRORS + DECODE_ERRORS as exc:
        raise Failed(f"{url}: {len(body)} bytes that do not decode as {fmt}: {exc}") from exc
    return f"200 {url} ({len(body)} bytes, {expected}, {fmt} {size} decodes, {cache!r})"
