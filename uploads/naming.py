"""The public naming scheme: `i/p/YYYY/MM/avatar_<unix ms>_<6 random [a-z0-9]>.<ext>`.

It is the old route's scheme, kept so that URLs already stored in users' profiles keep their
shape; the random part comes from `secrets` because names are public and must not be guessed.

Attachments (uploads/attachments.py) live under a top folder of their own, `f/`, one folder
per upload named by the service's own unguessable id, holding the file under its display name
(uploads/filenames.py): `f/p/YYYY/MM/att_<unix ms>_<10 random [a-z0-9]>/<name>`. An image
attachment's variants sit beside it by the same rule as below (`photo.jpg` -> `photo.128.webp`).

A variant (a smaller copy, uploads/variants.py) keeps its main file's stem and replaces the
extension with `.<box>.webp`: `avatar_…_k3x9qa.jpg` -> `avatar_…_k3x9qa.128.webp`, so a client
holding only the main URL can build any variant's URL.
"""

import re
import secrets
import string
import time
from datetime import UTC, datetime

ALPHABET = string.ascii_lowercase + string.digits
EXTENSIONS = ("jpg", "png", "webp")
PUBLIC_TOP = "i"  # the images' top folder: every avatar key, URL path and served file is under it
FILES_TOP = "f"  # the attachments' top folder (served at /f/)
# Every public tree, in key order: what the operator commands walk, back up and check (both
# backends hold both: `Storage.tops`).
PUBLIC_TOPS = (FILES_TOP, PUBLIC_TOP)
ATTACHMENT_ID_RE = re.compile(r"att_([0-9]{13})_([a-z0-9]{10})")
# An attachment's folder (the unit a delete or gc removes whole), then a file in it.
ATTACHMENT_FOLDER_RE = re.compile(FILES_TOP + r"/p/([0-9]{4})/(0[1-9]|1[0-2])/"
                                  + ATTACHMENT_ID_RE.pattern)
ATTACHMENT_PATH_RE = re.compile(ATTACHMENT_FOLDER_RE.pattern + r"/([^/\x00]{1,255})")
NAME_RE = re.compile(r"avatar_([0-9]{13})_([a-z0-9]{6})\.(jpg|png|webp)")
VARIANT_EXT = "webp"
VARIANT_SUFFIX_RE = re.compile(r"\.([1-9][0-9]{0,3})\.webp$")
# nginx/images-s3.conf's pattern for names it passes to the store: the same set.
S3_SERVABLE = re.compile(r"[A-Za-z0-9_./-]+")
PATH_RE = re.compile(re.escape(PUBLIC_TOP) + r"/p/([0-9]{4})/(0[1-9]|1[0-2])/" + NAME_RE.pattern)
VARIANT_PATH_RE = re.compile(PATH_RE.pattern.rsplit(r"\.", 1)[0] + r"\.([1-9][0-9]{0,3})\.webp")


def new_key(ext: str, now_ms: int | None = None) -> str:
    """A fresh storage key (relative path under the root), in the UTC month of `now_ms`."""
    if ext not in EXTENSIONS:
        raise ValueError(f"unknown extension {ext!r}")
    month, now_ms, rand = _fresh(now_ms, 6)
    return f"{PUBLIC_TOP}/p/{month}/avatar_{now_ms}_{rand}.{ext}"


def new_attachment_key(name: str, now_ms: int | None = None) -> str:
    """A fresh attachment key: a folder named by a new id, holding `name` (already safe:
    filenames.safe_name), in the UTC month of `now_ms`."""
    if not name or "/" in name or "\0" in name or name in (".", ".."):
        raise ValueError(f"unsafe attachment name {name!r}")
    month, now_ms, rand = _fresh(now_ms, 10)
    return f"{FILES_TOP}/p/{month}/att_{now_ms}_{rand}/{name}"


def _fresh(now_ms: int | None, length: int) -> tuple[str, int, str]:
    """The UTC month folder (YYYY/MM) of `now_ms` (now by default), it, and `length` random
    characters of ALPHABET: the parts of a new name."""
    if now_ms is None:
        now_ms = time.time_ns() // 1_000_000
    month = datetime.fromtimestamp(now_ms / 1000, tz=UTC)
    rand = "".join(secrets.choice(ALPHABET) for _ in range(length))
    return f"{month:%Y}/{month:%m}", now_ms, rand


def is_attachment_key(key: str) -> bool:
    """True for a key of the attachment scheme (a main file or a variant beside it)."""
    match = ATTACHMENT_PATH_RE.fullmatch(key)
    return match is not None and not match.group(5).startswith(".")


def is_valid_key(key: str) -> bool:
    """True for keys this scheme produces, main files and variants (verify, migrate)."""
    return PATH_RE.fullmatch(key) is not None or VARIANT_PATH_RE.fullmatch(key) is not None


def variant_key(main: str, box: int) -> str:
    """The key (or path, or URL) of `main`'s variant bounded by `box` pixels."""
    return f"{main.rpartition('.')[0]}.{box}.{VARIANT_EXT}"


def main_stem(key: str) -> str | None:
    """The stem (key without extension) of the main file a variant key belongs to; None for a
    main file's key. Any name ending in `.<digits>.webp` is a variant's, as nginx sees it."""
    match = VARIANT_SUFFIX_RE.search(key)
    return key[:match.start()] if match else None


def stem(key: str) -> str:
    """What a main file and its variants share: the main's key without its extension."""
    return main_stem(key) or key.rpartition(".")[0]


def is_public_key(key: str) -> bool:
    """True for a key that names something inside the public tree, whatever its name: no
    empty, `.` or `..` part, no NUL. What any backend may store and any command may touch."""
    parts = key.split("/")
    return (len(parts) > 1 and parts[0] == PUBLIC_TOP
            and not any(p in ("", ".", "..") or "\0" in p for p in parts))


def in_public_tree(key: str, tops: tuple[str, ...] = PUBLIC_TOPS) -> bool:
    """True for a key or a prefix inside one of the public trees `tops` (a top itself too):
    no empty, `.` or `..` part, no NUL. Where a listing may start; what it lists is the
    backend's to name (`is_public_key`, `is_attachment_key`)."""
    parts = key.split("/")
    return parts[0] in tops and not any(p in ("", ".", "..") or "\0" in p for p in parts)


def is_image_name(key: str) -> bool:
    """True for a name ending in one of the image extensions (an avatar, an image
    attachment's main file or a variant)."""
    return key.rpartition(".")[2] in EXTENSIONS


def attachment_folder(key: str) -> str | None:
    """The folder `f/p/YYYY/MM/att_<id>` of an attachment key: what its main file and its
    variants share (the unit gc keeps or removes); None for any other key."""
    return key.rpartition("/")[0] if is_attachment_key(key) else None


def unservable(key: str, s3: bool = False) -> str | None:
    """Why nginx's `/i/` location would not serve a key, or None: no part may start with a
    dot, only lower-case .jpg/.png/.webp names have a location (and a Content-Type), and in S3
    mode only names of letters, digits and `_ . / -` are passed to the store (so no encoded or
    decoded oddity, a space, `+`, `%`, an accent, reaches its parser); an attachment's name is
    passed in its one canonical encoding (nginx/files-s3.conf), so any safe name is served."""
    if any(part.startswith(".") for part in key.split("/")):
        return "the static server does not serve hidden (dot) names"
    ext = key.rpartition(".")[2]
    if ext.lower() in EXTENSIONS and ext not in EXTENSIONS:
        return f"the static server serves only lower-case .{ext.lower()} names"
    if ext not in EXTENSIONS:
        return "the static server serves only .jpg, .png and .webp names"
    if s3 and not is_attachment_key(key) and not S3_SERVABLE.fullmatch(key):
        return ("in S3 mode the static server serves only names made of letters, digits and "
                "_ . / - (the app's own names always are)")
    return None


def url_path(key: str) -> str:
    """The public path of a key: what nginx serves under Traefik's `/i/` route."""
    return "/" + key
