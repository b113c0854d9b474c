"""Audio and video attachments recognised by their structure (kinds.py asks): ISO-BMFF (MP4,
M4A, QuickTime) by its `ftyp` brand and top-level boxes, Ogg by its first packet, WAV by its
RIFF chunks, WebM by its EBML header, MP3 and ADTS AAC by two frame headers in a row. Each
check answers its Kind, None when the bytes are not its format, or raises FileTruncated or
InvalidFile (or UnsupportedKind for a container holding something not accepted). Nothing here
decodes media; a file that is only cut short elsewhere (an Ogg, a WebM) is not told apart.
"""

import re
import struct
from dataclasses import dataclass

from .errors import FileTruncated, InvalidFile, UnsupportedKind

MAX_BOXES = 100_000  # top-level ISO-BMFF boxes; real files have a handful
MAX_CHUNKS = 100_000  # RIFF chunks of a WAV
M4A_BRANDS = {b"M4A ", b"M4B ", b"M4P "}
MP4_BRANDS = {b"isom", b"iso2", b"iso3", b"iso4", b"iso5", b"iso6", b"iso7", b"iso8", b"iso9",
              b"mp41", b"mp42", b"avc1", b"M4V ", b"M4VH", b"M4VP", b"dash", b"mmp4", b"MSNV",
              b"f4v "}
NOT_VIDEO_BRANDS = {b"heic", b"heix", b"mif1", b"msf1", b"avif", b"crx ", b"jp2 "}
QT_BRAND = b"qt  "
WEBM_VIDEO_CODEC = re.compile(rb"\x86[\x81-\xff]V_")  # EBML CodecID, 1-byte size, "V_..."


@dataclass(frozen=True)
class Kind:
    name: str  # image, pdf, audio, video, text
    content_type: str
    exts: tuple[str, ...]  # accepted extensions of the display name, the canonical first
    label: dict  # the kind in people's words, by language (in messages)


def make_kind(name, content_type, exts, fr, en) -> Kind:
    return Kind(name, content_type, exts, {"fr": fr, "en": en})


MP3 = make_kind("audio", "audio/mpeg", ("mp3",), "audio", "audio")
OGG = make_kind("audio", "audio/ogg", ("ogg", "opus"), "audio", "audio")
WAV = make_kind("audio", "audio/wav", ("wav",), "audio", "audio")
M4A = make_kind("audio", "audio/mp4", ("m4a",), "audio", "audio")
AAC = make_kind("audio", "audio/aac", ("aac",), "audio", "audio")
WEBA = make_kind("audio", "audio/webm", ("weba",), "audio", "audio")
MP4 = make_kind("video", "video/mp4", ("mp4",), "vidéo", "video")
MOV = make_kind("video", "video/quicktime", ("mov",), "vidéo", "video")
WEBM = make_kind("video", "video/webm", ("webm",), "vidéo", "video")

def iso_bmff(f, head, size):
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
    elif major in MP4_BRANDS or (major not in NOT_VIDEO_BRANDS and brands & MP4_BRANDS):
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


def ogg(f, head, size):
    """Ogg: the first page's first packet is an Opus or Vorbis identification header."""
    if not head.startswith(b"OggS") or len(head) < 28:
        return None
    segments = head[26]
    packet = head[27 + segments:27 + segments + 8]
    if packet.startswith(b"OpusHead") or packet.startswith(b"\x01vorbis"):
        return OGG
    raise UnsupportedKind("Ogg stream that is neither Opus nor Vorbis")


def wav(f, head, size):
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


def webm(f, head, size):
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


def mpeg_audio(f, head, size):
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
