"""The costliest valid uploads found per format, made in memory with Pillow (and zlib).

Each is a file of at most 5 MiB within the pixel cap that a careless pipeline would spend
seconds or hundreds of MB on: noise (costly to code), flat colour (huge compression ratios),
progressive or 4:4:4 JPEG, CMYK, 16-bit and interlaced PNG, WebP lossless, lossy and with
alpha, animations of many frames, and JPEGs made of thousands of scans. `bench/cost.py`
measures them; `tests/test_cost.py` checks each is refused or stays within the budget.
"""

import struct
import zlib

from PIL import Image

from devstack import images
from devstack.images import PNG_SIGNATURE, encode, png_chunk

RECIPE = "worst-v1"  # bump when a maker changes
SIDE = 5000  # 25 MP, the default UPLOADS_MAX_PIXELS
MAX_BYTES = 5 * 1024 * 1024


def noise(size, mode="RGB", levels=256, seed=1) -> Image.Image:
    """Uniform noise; `levels` 2 gives two-colour noise (what lossless coders hate most)."""
    im = images.noise(size, mode, seed)
    return im.point(lambda v: 0 if v < 128 else 255) if levels == 2 else im


def two_colours(size, mode="RGB") -> Image.Image:
    """Black and white noise, pixel by pixel."""
    return noise(size, "L", levels=2).convert(mode)


def with_alpha(im: Image.Image) -> Image.Image:
    rgba = im.convert("RGBA")
    rgba.putalpha(noise(im.size, "L", levels=2, seed=2))
    return rgba


def grain(size, factor=4) -> Image.Image:
    """Noise at 1/factor of the size, scaled up: about as much detail as 5 MiB of JPEG holds."""
    small = noise((size[0] // factor, size[1] // factor))
    return small.resize(size, Image.Resampling.BILINEAR)


def png_raw(width, height, depth=16, color_type=6, interlace=0, filter_type=4) -> bytes:
    """A flat PNG written by hand: every row Paeth-filtered zeros (slowest unfilter), zlib 9.
    Interlaced rows are written as Adam7 passes."""
    channels = {0: 1, 2: 3, 3: 1, 4: 2, 6: 4}[color_type]
    def rows(w, h):
        return (bytes([filter_type]) + bytes((w * channels * depth + 7) // 8)) * h

    if interlace:
        passes = ((0, 0, 8, 8), (4, 0, 8, 8), (0, 4, 4, 8), (2, 0, 4, 4), (0, 2, 2, 4),
                  (1, 0, 2, 2), (0, 1, 1, 2))
        raw = b"".join(rows(-(-(width - x) // dx), -(-(height - y) // dy))
                       for x, y, dx, dy in passes if width > x and height > y)
    else:
        raw = rows(width, height)
    ihdr = struct.pack(">IIBBBBB", width, height, depth, color_type, 0, 0, interlace)
    extra = png_chunk(b"PLTE", bytes(range(6))) if color_type == 3 else b""
    return (PNG_SIGNATURE + png_chunk(b"IHDR", ihdr) + extra
            + png_chunk(b"IDAT", zlib.compress(raw, 9)) + png_chunk(b"IEND", b""))


def jpeg_scans(scans: int, size=(SIDE, SIDE)) -> bytes:
    """A progressive JPEG whose last AC refinement scan is repeated until the file holds
    `scans` scans: libjpeg warns and decodes every one, each walking every block."""
    data = encode(Image.new("RGB", size, (90, 140, 200)), "JPEG", progressive=True, quality=90,
                 subsampling=0)
    starts = [i for i in range(len(data) - 1) if data[i] == 0xFF and data[i + 1] == 0xDA]
    last = data[starts[-1]:data.rindex(b"\xff\xd9")]
    extra = (scans - len(starts))
    return data[:-2] + last * max(0, extra) + b"\xff\xd9"


def animated(fmt: str, frames: int, size=(64, 64)) -> bytes:
    ims = [Image.new("RGB", size, (i % 256, 0, 0)) for i in range(frames)]
    return encode(ims[0], fmt, save_all=True, append_images=ims[1:], duration=20, loop=0)


def _webp_under(im, lossless: bool) -> bytes:
    for quality in (90, 75, 50, 25, 5):
        try:
            data = encode(im, "WEBP", lossless=lossless, quality=quality, method=0)
        except ValueError:  # libwebp: partition 0 over 512 KB
            continue
        if len(data) <= MAX_BYTES:
            return data
    raise ValueError("no WebP quality fits")


def _jpeg_under(im, **options) -> bytes:
    for quality in (95, 90, 85, 75, 60, 40, 20, 10):
        try:
            data = encode(im, "JPEG", quality=quality, **options)
        except OSError:  # the encoder's buffer overflows long before 5 MiB of noise
            continue
        if len(data) <= MAX_BYTES:
            return data
    raise ValueError("no JPEG quality fits")


# name -> (what it is, maker of that input at a given (width, height)); SIZE is the cap
def catalogue() -> dict:
    return {
        "jpeg_camera": ("JPEG camera photo, 4:2:0, EXIF 6",
                        lambda size: _jpeg_under(photo(size), exif=_exif6())),
        "jpeg_progressive_444": ("JPEG progressive 4:4:4 grain",
                                 lambda size: _jpeg_under(grain(size), progressive=True,
                                                          subsampling=0)),
        "jpeg_cmyk": ("JPEG CMYK grain", lambda size: _jpeg_under(grain(size, 8).convert("CMYK"))),
        "jpeg_many_scans": ("JPEG progressive, 2000 scans", lambda size: jpeg_scans(2000, size)),
        "png_rgba16_interlaced": ("PNG RGBA 16-bit Adam7, flat (zlib 1:1000)",
                                  lambda size: png_raw(*size, 16, 6, 1)),
        "png_palette_1bit": ("PNG 1-bit palette, flat", lambda size: png_raw(*size, 1, 3)),
        "png_rgb_flat": ("PNG RGB 8-bit, flat", lambda size: png_raw(*size, 8, 2)),
        "png_noise": ("PNG RGBA noise (largest under 5 MiB)",
                      lambda size: encode(noise((1100, 1100), "RGBA"), "PNG", compress_level=1)),
        "png_apng_frames": ("APNG 64x64, 5000 frames", lambda size: animated("PNG", 5000)),
        "webp_lossless_2colour": ("WebP lossless two-colour noise",
                                  lambda size: _webp_under(two_colours(size), True)),
        "webp_lossless_flat": ("WebP lossless one colour",
                               lambda size: encode(Image.new("RGB", size, 7), "WEBP",
                                                  lossless=True)),
        "webp_lossy_grain": ("WebP lossy grain",
                             lambda size: _webp_under(grain(size, 2), False)),
        "webp_alpha_noise": ("WebP lossy, alpha of two-level noise",
                             lambda size: _webp_under(with_alpha(grain(size, 8)), False)),
        "webp_anim_frames": ("WebP 64x64 animated, 5000 frames",
                             lambda size: animated("WEBP", 5000)),
    }


SIZE = (SIDE, SIDE)
CAMERA = (5760, 4320)  # 24.9 MP, a full-frame camera's largest JPEG


def photo(size) -> Image.Image:
    return images.photo(size, 0.5, 7)


def _exif6() -> bytes:
    exif = Image.Exif()
    exif[0x0112] = 6
    return exif.tobytes()


