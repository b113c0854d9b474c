"""Containers with absurdly many pieces are refused before Pillow walks them one by one in
Python; real files, with a few dozen pieces, pass."""

import io
import struct
import time

import pytest
from PIL import Image

from devstack.images import PNG_SIGNATURE, make_image, png_chunk
from uploads import cost, structure
from uploads.errors import InvalidImage
from uploads.images import Limits, normalise

LIMITS = Limits(max_pixels=25_000_000, max_input_side=16384, max_side=2048)


def jpeg_with_segments(count: int, marker: bytes = b"\xff\xe5") -> bytes:
    base = make_image("JPEG", (256, 256))
    return base[:2] + (marker + b"\x00\x02") * count + base[2:]


def png_with_chunks(count: int, kind: bytes = b"prVt") -> bytes:
    base = make_image("PNG", (200, 200))
    return base[:33] + png_chunk(kind, b"") * count + base[33:]


def webp_with_chunks(count: int) -> bytes:
    base = make_image("WEBP", (64, 64))
    extra = (b"XTRA" + struct.pack("<I", 0)) * count
    body = base[12:]
    riff = b"WEBP" + extra + body
    return b"RIFF" + struct.pack("<I", len(riff)) + riff


@pytest.mark.parametrize("data", [
    jpeg_with_segments(structure.MAX_JPEG_SEGMENTS + 1),
    jpeg_with_segments(1_300_000, b"\xff\xfe"),  # the 5 MiB attack: 1.3 million comments
    png_with_chunks(structure.MAX_PNG_CHUNKS + 1),
    png_with_chunks(400_000, b"tEXt"),
    webp_with_chunks(structure.MAX_WEBP_CHUNKS + 1),
], ids=["jpeg-cap", "jpeg-5mib", "png-cap", "png-5mib", "webp-cap"])
def test_a_file_of_countless_pieces_is_refused_at_once(data):
    started = time.process_time()
    with pytest.raises(InvalidImage) as refused:
        normalise(data, LIMITS)
    assert "more than" in refused.value.detail
    assert time.process_time() - started < 5  # a sanity bound only; bench/ measures time


def test_real_files_with_many_pieces_pass():
    icc_parts = jpeg_with_segments(40, b"\xff\xe2")  # e.g. an ICC profile in 40 APP2 parts
    assert normalise(icc_parts, LIMITS).width == 256
    out = io.BytesIO()
    Image.effect_noise((1200, 1200), 64).save(out, "PNG")
    raw = out.getvalue()
    # re-chunk its image data into 1 KiB IDATs: about 1300 chunks
    idat = b"".join(c for c in _chunks(raw) if c[0] == b"IDAT" for c in [c[1]])
    ihdr = next(d for k, d in _chunks(raw) if k == b"IHDR")
    pieces = [png_chunk(b"IDAT", idat[i:i + 1024]) for i in range(0, len(idat), 1024)]
    rechunked = PNG_SIGNATURE + png_chunk(b"IHDR", ihdr) + b"".join(pieces) + png_chunk(
        b"IEND", b"")
    assert len(pieces) > 1000
    assert normalise(rechunked, LIMITS).width == 1200


def _chunks(png: bytes):
    pos = 8
    while pos < len(png):
        (length,) = struct.unpack_from(">I", png, pos)
        yield png[pos + 4:pos + 8], png[pos + 8:pos + 8 + length]
        pos += 12 + length


def test_a_baseline_jpeg_of_several_scans_costs_its_coefficients():
    """libjpeg keeps every coefficient of a file with more than one scan, progressive or not
    (a baseline file with one scan per component)."""
    one = cost.estimate(cost.Header("JPEG", 5000, 5000, 4, scans=1, planes=4, shrink=2), 2048)
    four = cost.estimate(cost.Header("JPEG", 5000, 5000, 4, scans=4, planes=4, shrink=2), 2048)
    assert four.mb - one.mb == pytest.approx(25 * 4 * 2 * 1e6 / 2**20, rel=0.01)
