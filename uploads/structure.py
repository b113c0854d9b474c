"""The container of an upload, walked before anything else, with a bound on its pieces.

Pillow reads JPEG marker segments and PNG chunks one by one in Python: a 256 x 256 JPEG padded
to 5 MiB with 1.3 million empty APP segments took 3.3 s, a PNG of empty chunks 1.6 s, although
their pixels cost nothing. Real files have a few dozen pieces (a JPEG's EXIF, ICC parts and
tables; a PNG's IDATs of 8-64 KiB each), so each walk here stops at a generous cap and such a
file is refused as malformed before Pillow sees it. The walks also give what the cost
estimate needs: a JPEG's frame type and scan count, a WebP's first image chunk.
"""

import struct

from .errors import InvalidImage

MAX_JPEG_SEGMENTS = 512  # before the first scan; a camera file has ~20
MAX_PNG_CHUNKS = 4096  # 5 MiB of 1.3 KiB chunks; libpng writes 8 KiB IDATs
MAX_WEBP_CHUNKS = 64  # before the image data: VP8X, ICCP, EXIF, XMP, ALPH


def _too_many(fmt: str, what: str, cap: int) -> InvalidImage:
    return InvalidImage(f"{fmt}: more than {cap} {what}")


def jpeg(data) -> tuple[int | None, int]:
    """(SOF marker byte, number of scans), from the marker segments and a count of SOS markers
    (0xFF in entropy-coded data is always stuffed, so every FF DA is a real scan)."""
    pos, sof, segments = 2, None, 0
    while pos + 4 <= len(data) and data[pos] == 0xFF:
        marker = data[pos + 1]
        if marker == 0xFF:
            pos += 1
            continue
        segments += 1
        if segments > MAX_JPEG_SEGMENTS:
            raise _too_many("JPEG", "marker segments before the image data", MAX_JPEG_SEGMENTS)
        if 0xC0 <= marker <= 0xCF and marker not in (0xC4, 0xC8, 0xCC) and sof is None:
            sof = marker
        if marker == 0xDA:
            break
        (length,) = struct.unpack_from(">H", data, pos + 2)
        pos += 2 + length
    return sof, bytes(data).count(b"\xff\xda")


def png(data) -> None:
    """Count the chunks of a PNG (signature already checked), stopping at the cap."""
    pos, chunks = 8, 0
    while pos + 8 <= len(data):
        chunks += 1
        if chunks > MAX_PNG_CHUNKS:
            raise _too_many("PNG", "chunks", MAX_PNG_CHUNKS)
        (length,) = struct.unpack_from(">I", data, pos)
        if data[pos + 4:pos + 8] == b"IEND":
            return
        pos += 12 + length


def webp_lossless(data) -> bool:
    """True when the first image chunk of a WebP is VP8L: keep lossless sources lossless."""
    pos, chunks = 12, 0
    while pos + 8 <= len(data):
        chunks += 1
        if chunks > MAX_WEBP_CHUNKS:
            raise _too_many("WebP", "chunks before the image data", MAX_WEBP_CHUNKS)
        fourcc = bytes(data[pos:pos + 4])
        (size,) = struct.unpack_from("<I", data, pos + 4)
        if fourcc in (b"VP8 ", b"VP8L"):
            return fourcc == b"VP8L"
        if fourcc == b"ANMF":  # frame header is 16 bytes, then the frame's own chunks
            pos += 8 + 16
            continue
        pos += 8 + size + (size & 1)
    return False
