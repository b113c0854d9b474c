"""What the operator commands share: the storage, the image check, URL lists, output.

Commands reach the volume only through the storage interface (keys, `walk`, `read`, `put`, ...),
so they work on any backend. Progress bars go to stderr and only when someone watches (or
`--progress` asks), so that stdout stays one clean JSON document.
"""

import functools
import io
import json
import re
import sys
import warnings
from urllib.parse import unquote, urlsplit

import click
from flask import current_app
from PIL import Image

from ..images import BOMB_ERRORS, DECODE_ERRORS, FORMATS, sniff
from ..naming import is_attachment_key, is_public_key
from ..settings import ConfigError

DURATION_RE = re.compile(r"(\d+)\s*([smhdw]?)")
UNITS = {"": 1, "s": 1, "m": 60, "h": 3600, "d": 86400, "w": 7 * 86400}
CONTENT_TYPES = dict(FORMATS.values())  # extension -> Content-Type


def storage(writing: bool = False):
    """The app's storage; for a command that writes, only once it is known to persist."""
    store = current_app.extensions["uploads.storage"]
    if writing:
        try:
            store.ensure_persistent(current_app.config["ALLOW_EPHEMERAL"])
        except ConfigError as error:
            raise click.ClickException(error.detail) from error
    return store


def stored_problem(store, key: str, data: bytes, limits) -> str | None:
    """Why these bytes at this key would not reach users as an image (a bad image, or a name
    the backend's public server refuses: a 404), or None."""
    return image_problem(data, key, limits) or store.unservable(key)


def content_type(key: str) -> str:
    return CONTENT_TYPES.get(key.rpartition(".")[2].lower(), "application/octet-stream")


def image_problem(data: bytes, name: str, limits) -> str | None:
    """Why these bytes are not an accepted image whose extension is right, or None."""
    fmt = sniff(data[:16])
    if fmt is None:
        return "not a JPEG, PNG or WebP file"
    ext = FORMATS[fmt][0]
    if not name.lower().endswith("." + ext):
        return f"{fmt} content but the name does not end in .{ext}"
    return decode_problem(data, fmt, limits)


def decode_problem(data: bytes, fmt: str, limits) -> str | None:
    """Why these bytes do not decode fully as `fmt` within the upload pixel limits, or None."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            with Image.open(io.BytesIO(data), formats=[fmt]) as im:
                width, height = im.size
                if width * height > limits.max_pixels or max(im.size) > limits.max_input_side:
                    return (f"{width}x{height} is over the pixel limits ({limits.max_pixels} "
                            f"pixels, {limits.max_input_side} a side)")
                im.load()
    except BOMB_ERRORS as exc:
        return f"decompression bomb: {exc}"
    except DECODE_ERRORS as exc:
        return f"cannot decode as {fmt}: {exc}"
    return None


def read_refs(lines) -> tuple[set[str], list[str]]:
    """Storage keys named by a list of URLs or paths (one a line); also the lines not understood.

    `https://host/i/p/2025/10/a.jpg`, `/i/p/2025/10/a.jpg` and `i/p/2025/10/a.jpg` all name the
    key `i/p/2025/10/a.jpg`; an attachment's URL (`/f/p/2026/11/att_…/R%C3%A9sum%C3%A9.pdf`)
    names its key, the display name decoded. Blank lines and `#` comments are skipped.
    """
    keys, bad = set(), []
    for raw in lines:
        line = raw.strip().lstrip("\ufeff").strip()  # a spreadsheet's export starts with a BOM
        if not line or line.startswith("#"):
            continue
        path = unquote(urlsplit(line).path if "://" in line else line.split("?", 1)[0])
        key = path.lstrip("/")
        if not (is_public_key(key) or is_attachment_key(key)):
            bad.append(line)
            continue
        keys.add(key)
    return keys, bad


def parse_duration(raw: str) -> int:
    """`7d`, `12h`, `30m`, `2w`, `90` (seconds) -> seconds."""
    match = DURATION_RE.fullmatch(raw.strip().lower())
    if not match:
        raise click.BadParameter(f"{raw!r} is not a duration such as 7d, 12h or 30m")
    return int(match.group(1)) * UNITS[match.group(2)]


def human(size: float) -> str:
    for unit in ("B", "KiB", "MiB", "GiB", "TiB"):
        if size < 1024 or unit == "TiB":
            return f"{size:.0f} {unit}" if unit == "B" else f"{size:.1f} {unit}"
        size /= 1024
    return f"{size} B"


def output_options(func):
    """`--json` and `--progress/--no-progress` for a command."""

    @click.option("--json", "as_json", is_flag=True,
                  help="Print one JSON document on stdout instead of lines for people.")
    @click.option("--progress/--no-progress", "show_progress", default=None,
                  help="Show a progress bar on stderr (default: only when stderr is a terminal).")
    @functools.wraps(func)
    def wrapper(*args, **kwargs):
        return func(*args, **kwargs)

    return wrapper


def progress(items, show: bool | None, label: str):
    """Iterate `items` (a list), with click's progress bar on stderr when wanted."""
    if show is None:
        show = sys.stderr.isatty()
    if not show:
        return _Plain(items)
    return click.progressbar(items, label=label, file=sys.stderr, show_pos=True)


class _Plain:
    def __init__(self, items):
        self.items = items

    def __enter__(self):
        return iter(self.items)

    def __exit__(self, *exc):
        return False


def print_json(doc: dict) -> None:
    click.echo(json.dumps(doc, indent=2, sort_keys=False))


def finish(ok: bool) -> None:
    """Exit 1 when something is wrong; 0 is left to click."""
    if not ok:
        sys.exit(1)
