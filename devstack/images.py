"""Images made in memory, shared by every test tier and the benchmark, so that "a small valid
JPEG", "pixels no codec can shrink", "a photo" or "a PNG chunk" each mean one thing everywhere.

Three kinds of pixels cover every need: flat colour (tiny files, any mode and format), uniform
noise (bytes as large as the image: multi-megabyte bodies), and a photo-like picture (soft colour
fields under blotchy texture and grain) whose encoded size and cost are those of real photos.
`photo` is the benchmark's recipe (bench/avatars.py bumps its RECIPE when this changes).
"""

import io
import os
import random
import struct
import zlib

from PIL import Image, ImageChops, ImageFilter

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
PNG_IHDR_END = 8 + 8 + 13 + 4  # signature, IHDR's length and type, its 13 bytes, its CRC


def encode(im: Image.Image, fmt: str, **options) -> bytes:
    """`im` saved as `fmt` in memory; `options` go to Pillow (quality, exif, icc_profile, ...),
    each encoder taking the ones it knows."""
    out = io.BytesIO()
    im.save(out, fmt, **options)
    return out.getvalue()


def make_image(fmt="JPEG", size=(64, 48), mode="RGB", color=(200, 30, 30), **save) -> bytes:
    """A small image of one flat colour, encoded; `save` is passed to Pillow."""
    return encode(Image.new(mode, size, color), fmt, **save)


def noise(size: tuple[int, int], mode: str = "RGB", seed: int | None = None) -> Image.Image:
    """Uniform random pixels: they do not compress, so a file is as large as the image asks.
    The same `seed` gives the same pixels; none gives fresh ones."""
    count = size[0] * size[1] * len(mode)
    rnd = random.Random(seed)  # noqa: S311 (pixels, not secrets)
    raw = os.urandom(count) if seed is None else rnd.randbytes(count)
    return Image.frombytes(mode, size, raw)


def photo(size: tuple[int, int], grain: float = 0.5, seed: int = 1) -> Image.Image:
    """Photo-like pixels: a soft colour field (an 8 x 6 grid of colours, smoothly scaled up)
    overlaid with blotchy mid-frequency texture and fine grain (`grain` 0 to 1 weighs the
    grain). Flat colour or pure noise would make encoders look far faster or slower than they
    are on photos; seeded, so the same bytes each run."""
    rnd = random.Random(seed)  # noqa: S311 (pixels, not secrets)
    w, h = size
    field = Image.frombytes("RGB", (8, 6), rnd.randbytes(8 * 6 * 3))
    field = field.resize(size, Image.Resampling.BICUBIC)
    mw, mh = max(1, w // 8), max(1, h // 8)
    mid = Image.frombytes("L", (mw, mh), rnd.randbytes(mw * mh))
    mid = mid.filter(ImageFilter.GaussianBlur(1.5)).resize(size, Image.Resampling.BICUBIC)
    fine = Image.frombytes("L", size, rnd.randbytes(w * h)).filter(ImageFilter.GaussianBlur(0.6))
    texture = Image.blend(mid, fine, grain)
    return ImageChops.overlay(field, Image.merge("RGB", (texture, texture, texture)))


def png_chunk(kind: bytes, data: bytes) -> bytes:
    """One PNG chunk: length, type, data and the CRC over type and data."""
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))


def pad_png(data: bytes, total: int) -> bytes:
    """`data` (a PNG) grown to exactly `total` bytes by a private ancillary chunk after IHDR,
    which decoders skip: still a valid PNG."""
    room = total - len(data) - 12  # a chunk's length, type and CRC take 12 bytes
    assert room >= 0, f"the PNG is already {len(data)} bytes"
    padded = data[:PNG_IHDR_END] + png_chunk(b"paDd", bytes(room)) + data[PNG_IHDR_END:]
    assert len(padded) == total
    return padded
