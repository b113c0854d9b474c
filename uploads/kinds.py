"""What an attachment is, decided by its content: never by the client's type or name.

Magic bytes and a light look at the structure, with no external tool; nothing here decodes
media. Kinds: `image` (JPEG, PNG, WebP: re-encoded by images.py, which decides the rest),
`pdf`, `audio` (MP3, Ogg Opus/Vorbis, WAV, M4A, ADTS AAC, audio-only WebM), `video` (MP4,
QuickTime, WebM) and `text` (strict UTF-8). Everything else is refused with 415, and so is, for
every kind but images, a file that is also something a browser or a system would run or
unpack (a polyglot): markup in its first KiB, a ZIP's header or directory, an executable's or a
script's magic. Images are exempt because their bytes are never served: a JPEG with a ZIP
appended comes out of the re-encoding as a plain JPEG.
"""

import codecs
import re

from . import images, media
from .errors import FileTruncated, UnsupportedKind
from .media import make_kind

HEAD = 64 * 1024  # what detection reads from the start (and the ZIP check from the end)
MARKUP_SPAN = 1024
MARKUP = re.compile(rb"<(?:!doctype|html|head|body|script|svg|\?xml|iframe|object|embed|"
                    rb"a[\s/>]|img|style|meta)", re.IGNORECASE)
REFUSED_MAGIC = (b"PK\x03\x04", b"MZ", b"\x7fELF", b"#!", b"7z\xbc\xaf\x27\x1c", b"\x1f\x8b",
                 b"Rar!\x1a\x07", b"\xfd7zXZ\x00", b"\x28\xb5\x2f\xfd", b"\xca\xfe\xba\xbe",
                 b"\xcf\xfa\xed\xfe", b"\xce\xfa\xed\xfe", b"\x00asm", b"%!PS")
ZIP_END = b"PK\x05\x06"
PDF_EOF_SPAN = 1024
TEXT_CHUNK = 1 << 20
TEXT_CONTROLS = re.compile("[\x00-\x08\x0b\x0e-\x1f\x7f-\x9f]")  # tab, LF, FF, CR allowed


Kind = media.Kind
PDF = make_kind("pdf", "application/pdf", ("pdf",), "PDF", "PDF")
TEXT = make_kind("text", "text/plain; charset=utf-8", ("txt",), "texte", "text")
IMAGE = {fmt: make_kind("image", content_type, (ext,), "image", "image")
         for fmt, (ext, content_type) in images.FORMATS.items()}


def image_format(head: bytes) -> str | None:
    """JPEG, PNG or WEBP when these first bytes announce an image (images.sniff)."""
    return images.sniff(head[:16])


def detect(f, size: int) -> Kind:
    """The kind of the `size` bytes of the binary file `f` (read from its start; the position
    is left anywhere). UnsupportedKind, FileTruncated or InvalidFile when it is none."""
    f.seek(0)
    head = f.read(HEAD)
    fmt = image_format(head)
    if fmt:
        return IMAGE[fmt]
    _refuse_polyglots(f, head, size)
    for check in (_pdf, media.iso_bmff, media.ogg, media.wav, media.webm, media.mpeg_audio):
        kind = check(f, head, size)
        if kind is not None:
            return kind
    if _text(f, head):
        return TEXT
    raise UnsupportedKind("no accepted kind")


def _refuse_polyglots(f, head: bytes, size: int) -> None:
    for magic in REFUSED_MAGIC:
        if head.startswith(magic):
            raise UnsupportedKind(f"refused magic {magic!r}")
    if MARKUP.search(head[:MARKUP_SPAN]):
        raise UnsupportedKind("markup in the first KiB")
    tail = head if size <= HEAD else _tail(f, size, HEAD)
    if ZIP_END in tail:
        raise UnsupportedKind("a ZIP end of central directory")


def _tail(f, size: int, span: int) -> bytes:
    f.seek(max(0, size - span))
    return f.read(span)


def _pdf(f, head, size):
    if not head.startswith(b"%PDF-"):
        return None
    if b"%%EOF" not in _tail(f, size, PDF_EOF_SPAN):
        raise FileTruncated("PDF without %%EOF at its end", kind=PDF.label)
    return PDF


def _text(f, head) -> bool:
    """Strict UTF-8 over the whole file, no NUL nor control character but tab, LF, FF, CR."""
    decoder = codecs.getincrementaldecoder("utf-8")("strict")
    f.seek(0)
    try:
        while chunk := f.read(TEXT_CHUNK):
            if TEXT_CONTROLS.search(decoder.decode(chunk)):
                return False
        decoder.decode(b"", final=True)
    except UnicodeDecodeError:
        return False
    return True
