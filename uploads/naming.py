"""The public naming scheme: `i/p/YYYY/MM/avatar_<unix ms>_<6 random [a-z0-9]>.<ext>`.

It is the old route's scheme, kept so that URLs already stored in users' profiles keep their
shape; the random part comes from `secrets` because names are public and must not be guessed.
"""

import re
import secrets
import string
import time
from datetime import UTC, datetime

ALPHABET = string.ascii_lowercase + string.digits
EXTENSIONS = ("jpg", "png", "webp")
PUBLIC_PREFIX = "i/"
NAME_RE = re.compile(r"avatar_(\d{13})_([a-z0-9]{6})\.(jpg|png|webp)")
PATH_RE = re.compile(r"i/p/(\d{4})/(0[1-9]|1[0-2])/" + NAME_RE.pattern)


def new_key(ext: str, now_ms: int | None = None) -> str:
    """A fresh storage key (relative path under the root), in the UTC month of `now_ms`."""
    if ext not in EXTENSIONS:
        raise ValueError(f"unknown extension {ext!r}")
    if now_ms is None:
        now_ms = time.time_ns() // 1_000_000
    month = datetime.fromtimestamp(now_ms / 1000, tz=UTC)
    rand = "".join(secrets.choice(ALPHABET) for _ in range(6))
    return f"i/p/{month:%Y}/{month:%m}/avatar_{now_ms}_{rand}.{ext}"


def is_valid_key(key: str) -> bool:
    """True for keys this scheme produces (used by verify and migrate)."""
    return PATH_RE.fullmatch(key) is not None


def url_path(key: str) -> str:
    """The public path of a key: what nginx serves under Traefik's `/i/` route."""
    return "/" + key
