"""An attachment's display name: the client's file name made safe to store, show and serve.

The name is kept only for people (the answer's `filename`, the download's name), and it is also
the last segment of the stored key and of the URL, so it must be a plain file name anywhere:

- NFC, and only what follows the last `/` or `\\` (a path is never kept);
- control and format characters removed (Unicode Cc, Cf: NUL, RTL overrides, zero-width
  joiners...), line and paragraph separators and lone surrogates too;
- `% ? # ;` replaced by `_`: the edge refuses their encoded forms in a path (Traefik's
  encodedCharacters settings), so a URL holding one could never be fetched;
- no leading dots or spaces (nginx never serves a dot name), no trailing ones (Windows drops
  them on save);
- at most `max_chars` characters and MAX_BYTES bytes of UTF-8, the extension kept;
- the extension is the kind's (kinds.py): kept (lower-cased) when it is one of the kind's,
  else replaced by the kind's canonical one: `invoice.pdf.exe` holding a PDF is `invoice.pdf`,
  `notes` holding text is `notes.txt`, `photo.jpeg` re-encoded as JPEG is `photo.jpg`;
- an image's stem never ends in `.<digits>` (that would read as a variant's name, naming.py):
  `photo.128.webp` is stored as `photo_128.webp`;
- empty: `file`.
"""

import re
import unicodedata
from urllib.parse import quote

MAX_BYTES = 200  # of UTF-8, extension included; a variant's suffix still fits in 255
FALLBACK = "file"
DROPPED = {"Cc", "Cf", "Cs", "Zl", "Zp"}
UNSERVABLE = str.maketrans({c: "_" for c in "%?#;"})
EXTENSION = re.compile(r"\.([A-Za-z0-9]{1,10})$")
VARIANT_LIKE = re.compile(r"\.([0-9]+)$")


def safe_name(raw: str | None, exts: tuple[str, ...], max_chars: int,
              image: bool = False) -> str:
    """The display name of `raw` for a file whose kind takes the extensions `exts` (the first
    is canonical)."""
    name = unicodedata.normalize("NFC", raw or "")
    # Only what follows the last slash, counting the look-alikes (fullwidth, division and
    # fraction slashes, fullwidth backslash) that NFKC would fold into one.
    name = re.split(r"[/\\\uff0f\u2215\u2044\uff3c\u29f5]", name)[-1]
    name = "".join(c for c in name if unicodedata.category(c) not in DROPPED)
    name = name.translate(UNSERVABLE).lstrip(". ").rstrip(". ")
    stem, ext = _with_extension(name, exts)
    if image:
        stem = VARIANT_LIKE.sub(r"_\1", stem)
    stem = _cut(stem, max_chars - len(ext) - 1, MAX_BYTES - len(ext) - 1).rstrip(". ")
    return f"{stem or FALLBACK}.{ext}"


def _with_extension(name: str, exts: tuple[str, ...]) -> tuple[str, str]:
    """(stem, extension): the name's own extension when it is one of `exts`; else a foreign
    extension is dropped, one of `exts` just before it kept, and otherwise the first of `exts`
    is added (`archive.tar.gz` holding text: `archive.tar.txt`)."""
    found = EXTENSION.search(name)
    if found:
        ext, name = found.group(1).lower(), name[:found.start()].rstrip(". ")
        if ext in exts:
            return name, ext
        before = EXTENSION.search(name)
        if before and before.group(1).lower() in exts:
            return name[:before.start()].rstrip(". "), before.group(1).lower()
    return name, exts[0]


def _cut(text: str, chars: int, size: int) -> str:
    text = text[:max(chars, 0)]
    while len(text.encode("utf-8")) > size:
        text = text[:-1]
    return text


def url_name(name: str) -> str:
    """The name as the last segment of its URL: UTF-8, every byte but the unreserved ones
    percent-encoded in upper case. The one canonical form nginx serves (nginx/files-local.conf)."""
    return quote(name, safe="")
