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
import struct
from dataclasses import dataclass

from . import images
from .errors import FileTruncated, InvalidFile, UnsupportedKind

HEAD = 64 * 1024  # what detection reads from the start (and the ZIP check from the end)
MARKUP_SPAN = 1024
MARKUP = re.compile(rb"<(?:!doctype|html|head|body|script|svg|\?xml|iframe|object|embed|"
                    rb"a[\s/>]|img|style|meta)", re.IGNORECASE)
REFUSED_MAGIC = (b"PK\x03\x04", b"MZ", b"\x7fELF", b"#!", b"7z\xbc\xaf\x27\x1c", b"\x1f\x8b",
                 b"Rar!\x1a\x07", b"\xfd7zXZ\x00", b"\x28\xb5\x2f\xfd", b"\xca\xfe\xba\xbe",
                 b"\xcf\xfa\xed\xfe", b"\xce\xfa\xed\xfe", b"\x00asm", b"%!PS")
ZIP_END = b"PK\x05\x06"
PDF_EOF_SPAN = 1024
MAX_BOXES = 100_000  # top-level ISO-BMFF boxes; real files have a handful
MAX_CHUNKS = 100_000  # RIFF chunks of a WAV
TEXT_CHUNK = 1 << 20
TEXT_CONTROLS = re.compile("[\x00-\x08\x0b\x0e-\x1f\x7f-\x9f]")  # tab, LF, FF, CR allowed
M4A_BRANDS = {b"M4A ", b"M4B ", b"M4P "}
MP4_BRANDS = {b"isom", b"iso2", b"iso3", b"iso4", b"iso5", b"iso6", b"iso7", b"iso8", b"iso9",
              b"mp41", b"mp42", b"avc1", b"M4V ", b"M4VH", b"M4VP", b"dash", b"mmp4", b"MSNV",
              b"f4v "}
QT_BRAND = b"qt  "
WEBM_VIDEO_CODEC = re.compile(rb"\x86[\x81-\xff]V_")  # EBML CodecID, 1-byte size, "V_..."


@dataclass(frozen=True)
class Kind:
    name: str  # image, pdf, audio, video, text
    content_type: str
    exts: tuple[str, ...]  # accepted extensions of the display name, the canonical first
    label: dict  # the kind in people's words, by language (in messages)


def _kind(name, content_type, exts, fr, en) -> Kind:
    return Kind(name, content_type, exts, {"fr": fr, "en": en})


PDF = _kind("pdf", "application/pdf", ("pdf",), "PDF", "PDF")
TEXT = _kind("text", "text/plain; charset=utf-8", ("txt",), "texte", "text")
MP3 = _kind("audio", "audio/mpeg", ("mp3",), "audio", "audio")
OGG = _kind("audio", "audio/ogg", ("ogg", "opus"), "audio", "audio")
WAV = _kind("audio", "audio/wav", ("wav",), "audio", "audio")
M4A = _kind("audio", "audio/mp4", ("m4a",), "audio", "audio")
AAC = _kind("audio", "audio/aac", ("aac",), "audio", "audio")
WEBA = _kind("audio", "audio/webm", ("weba",), "audio", "audio")
MP4 = _kind("video", "video/mp4", ("mp4",), "vidéo", "video")
MOV = _kind("video", "video/quicktime", ("mov",), "vidéo", "video")
WEBM = _kind("video", "video/webm", ("webm",), "vidéo", "video")
IMAGE = {fmt: _kind("image", content_type, (ext,), "image", "image")
         for fmt, (ext, content_type) in images.FORMATS.items()}
UNKNOWN = {"fr": "inconnu", "en": "unknown"}


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
    for check in (_pdf, _iso_bmff, _ogg, _wav, _webm, _mpeg_audio):
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


def _iso_bmff(f, head, size):
    """MP4, M4A, QuickTime: the `ftyp` brand, then the top-level boxes, whose sizes must add
    up to the file's (a box running past the end: truncated)."""
    if head[4:8] != b"ftyp" or len(head) < 16:
        return None
    major = head[8:12]
    box = struct.unpack(">I", head[:4])[0]
    brands = {major} | {head[i:i + 4] for i in range(16, min(box, len(head), 256) - 3, 4)}
    if major in M4A_BRANDS:
        kind = M4A
    elif major == QT_BRAND:
        kind = MOV
    elif major in MP4_BRANDS or (major not in (b"heic", b"heix", b"mif1", b"msf1", b"avif",
                                               b"crx ", b"jp2 ") and brands & MP4_BRANDS):
        kind = MP4
    else:
        raise UnsupportedKind(f"ISO-BMFF brand {major!r}")
    _walk_boxes(f, size, kind)
    return kind


def _walk_boxes(f, size: int, kind: Kind) -> None:
    offset = count = 0
    while offset < size:
        count += 1
        if count > MAX_BOXES:
            raise InvalidFile("too many top-level boxes", kind=kind.label)
        f.seek(offset)
        header = f.read(16)
        if len(header) < 8:
            raise FileTruncated(f"box header cut at {offset}", kind=kind.label)
        length = struct.unpack(">I", header[:4])[0]
        if length == 1:
            if len(header) < 16:
                raise FileTruncated(f"large box header cut at {offset}", kind=kind.label)
            length = struct.unpack(">Q", header[8:16])[0]
            minimum = 16
        elif length == 0:  # the last box runs to the end of the file
            return
        else:
            minimum = 8
        if length < minimum:
            raise InvalidFile(f"box of {length} bytes at {offset}", kind=kind.label)
        offset += length
    if offset > size:
        raise FileTruncated(f"boxes end at {offset}, the file at {size}", kind=kind.label)


def _ogg(f, head, size):
    """Ogg: the first page's first packet is an Opus or Vorbis identification header."""
    if not head.startswith(b"OggS") or len(head) < 28:
        return None
    segments = head[26]
    packet = head[27 + segments:27 + segments + 8]
    if packet.startswith(b"OpusHead") or packet.startswith(b"\x01vorbis"):
        return OGG
    raise UnsupportedKind("Ogg stream that is neither Opus nor Vorbis")


def _wav(f, head, size):
    """WAV: RIFF/WAVE whose chunks add up to the RIFF size, which is the file's."""
    if head[:4] != b"RIFF" or head[8:12] != b"WAVE":
        return None
    declared = struct.unpack("<I", head[4:8])[0] + 8
    if declared > size:
        raise FileTruncated(f"RIFF says {declared} bytes, the file has {size}", kind=WAV.label)
    if declared < size - 1:  # one pad byte is tolerated
        raise InvalidFile(f"{size - declared} bytes after the RIFF data", kind=WAV.label)
    offset, count, seen = 12, 0, set()
    while offset + 8 <= declared:
        count += 1
        if count > MAX_CHUNKS:
            raise InvalidFile("too many chunks", kind=WAV.label)
        f.seek(offset)
        chunk = f.read(8)
        seen.add(chunk[:4])
        offset += 8 + struct.unpack("<I", chunk[4:8])[0]
        offset += offset & 1
    if offset > declared + 1:
        raise FileTruncated(f"chunks end at {offset}, the data at {declared}", kind=WAV.label)
    if not {b"fmt ", b"data"} <= seen:
        raise InvalidFile("no fmt or data chunk", kind=WAV.label)
    return WAV


def _vint(data: bytes, at: int, strip: bool = True) -> tuple[int, int]:
    """An EBML variable-size integer at `at`: (value, its length)."""
    first = data[at]
    length = 9 - first.bit_length()
    if not 1 <= length <= 8 or at + length > len(data):
        raise ValueError("bad EBML integer")
    value = first & (0xFF >> length) if strip else first
    for byte in data[at + 1:at + length]:
        value = value << 8 | byte
    return value, length


def _webm(f, head, size):
    """WebM: an EBML header whose DocType is `webm`; video if a `V_` codec id shows in the
    first 64 KiB, else audio."""
    if not head.startswith(b"\x1a\x45\xdf\xa3"):
        return None
    try:
        body, length = _vint(head, 4)
        at, end = 4 + length, min(4 + length + body, len(head))
        doctype = None
        while at < end:
            element, length = _vint(head, at, strip=False)
            at += length
            value, length = _vint(head, at)
            at += length
            if element == 0x4282:
                doctype = head[at:at + value]
            at += value
    except (ValueError, IndexError) as exc:
        raise InvalidFile(f"EBML header: {exc}", kind=WEBM.label) from exc
    if doctype != b"webm":
        raise UnsupportedKind(f"EBML DocType {doctype!r}")
    return WEBM if WEBM_VIDEO_CODEC.search(head) else WEBA


# MPEG audio: bitrates (kbit/s) by version group and layer, sample rates by version.
_BITRATES = {
    (1, 1): (0, 32, 64, 96, 128, 160, 192, 224, 256, 288, 320, 352, 384, 416, 448),
    (1, 2): (0, 32, 48, 56, 64, 80, 96, 112, 128, 160, 192, 224, 256, 320, 384),
    (1, 3): (0, 32, 40, 48, 56, 64, 80, 96, 112, 128, 160, 192, 224, 256, 320),
    (2, 1): (0, 32, 48, 56, 64, 80, 96, 112, 128, 144, 160, 176, 192, 224, 256),
    (2, 2): (0, 8, 16, 24, 32, 40, 48, 56, 64, 80, 96, 112, 128, 144, 160),
}
_RATES = {3: (44100, 48000, 32000), 2: (22050, 24000, 16000), 0: (11025, 12000, 8000)}


def _mpeg_frame(h: bytes) -> int | None:
    """The length of the MPEG audio frame whose header is `h`, None when it is not one."""
    if len(h) < 4 or h[0] != 0xFF or h[1] & 0xE0 != 0xE0:
        return None
    version, layer = (h[1] >> 3) & 3, 4 - ((h[1] >> 1) & 3)
    bitrate_index, rate_index, padding = h[2] >> 4, (h[2] >> 2) & 3, (h[2] >> 1) & 1
    if version == 1 or layer == 4 or bitrate_index in (0, 15) or rate_index == 3:
        return None
    group = 1 if version == 3 else 2
    bitrate = _BITRATES[(group, min(layer, 2) if group == 2 else layer)][bitrate_index] * 1000
    rate = _RATES[version][rate_index]
    if layer == 1:
        return (12 * bitrate // rate + padding) * 4
    per_frame = 72 if (layer == 3 and group == 2) else 144
    return per_frame * bitrate // rate + padding


def _adts_frame(h: bytes) -> int | None:
    """The length of the ADTS (AAC) frame whose header is `h`, None when it is not one."""
    if len(h) < 7 or h[0] != 0xFF or h[1] & 0xF6 != 0xF0 or (h[2] >> 2) & 0xF > 12:
        return None
    length = (h[3] & 3) << 11 | h[4] << 3 | h[5] >> 5
    return length if length >= 7 else None


def _mpeg_audio(f, head, size):
    """MP3 (an ID3v2 tag, or a frame sync) and ADTS AAC: a valid frame header where the
    audio starts, and another where that frame ends."""
    start = 0
    if head.startswith(b"ID3") and len(head) >= 10:
        if any(b & 0x80 for b in head[6:10]):
            raise InvalidFile("ID3 size is not syncsafe", kind=MP3.label)
        start = 10 + (head[6] << 21 | head[7] << 14 | head[8] << 7 | head[9])
        start += 10 if head[5] & 0x10 else 0  # footer
        if start >= size:
            raise FileTruncated("ID3 tag runs past the end", kind=MP3.label)
    f.seek(start)
    first = f.read(10)
    for frame, kind in ((_mpeg_frame, MP3), (_adts_frame, AAC)):
        length = frame(first)
        if length is None:
            continue
        if start + length + 4 <= size:
            f.seek(start + length)
            if frame(f.read(10)) is not None:
                return kind
        if start:
            raise InvalidFile("a frame header is not followed by another", kind=kind.label)
    if start:
        raise InvalidFile("no MPEG frame after the ID3 tag", kind=MP3.label)
    return None


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
