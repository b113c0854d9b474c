"""The image pipeline: decide what the bytes are, decode them safely, re-encode them clean.

The client's Content-Type and file name are never consulted: the magic bytes pick the format,
Pillow is only allowed to try that one format, and dimensions are checked from the header
before any pixel is decoded, so a decompression bomb costs nothing. Re-encoding the decoded
pixels is what strips metadata (EXIF with GPS, XMP, comments, text chunks) and any payload
appended to a polyglot file; only the ICC profile is carried over, so colours stay right.

Animated WebP and PNG keep their first frame only: an avatar is a still, and re-encoding every
frame would multiply the decode cost by an attacker-chosen frame count.
"""

import io
import os
import struct
import tempfile
from dataclasses import dataclass, field

from PIL import Image, ImageCms, UnidentifiedImageError

from . import cost, structure, variants
from .errors import ImageTooLarge, InvalidImage, UnsupportedFormat

# decoded format -> (extension, content type)
FORMATS = {
    "JPEG": ("jpg", "image/jpeg"),
    "PNG": ("png", "image/png"),
    "WEBP": ("webp", "image/webp"),
}
FORMAT_NAMES = {"JPEG": "JPEG", "PNG": "PNG", "WEBP": "WebP"}
ORIENTATION_TAG = 0x0112
# Encoder options chosen by measuring size against time (docs/performance.md): zlib's run-length
# strategy after PNG's row filters, libwebp's fastest method; lossless WebP at low effort.
Z_RLE = 3
LOSSLESS_EFFORT = {"quality": 25, "method": 1}
KEEP = 0.95  # a stored longest side within 5% under UPLOADS_MAX_SIDE is kept as decoded
MAX_ICC_BYTES = 1 << 20  # real profiles are a few KB; display profiles rarely over 100 KB
TRANSPOSE = {
    2: Image.Transpose.FLIP_LEFT_RIGHT, 3: Image.Transpose.ROTATE_180,
    4: Image.Transpose.FLIP_TOP_BOTTOM, 5: Image.Transpose.TRANSPOSE,
    6: Image.Transpose.ROTATE_270, 7: Image.Transpose.TRANSVERSE, 8: Image.Transpose.ROTATE_90,
}
DECODE_ERRORS = (UnidentifiedImageError, OSError, SyntaxError, ValueError, EOFError,
                 struct.error, IndexError, TypeError)
BOMB_ERRORS = (Image.DecompressionBombError, Image.DecompressionBombWarning)


@dataclass(frozen=True)
class Limits:
    max_pixels: int
    max_input_side: int
    max_side: int
    jpeg_quality: int = 85
    webp_quality: int = 85
    image_budget_ms: int = 1000
    image_budget_mb: int = 150
    variants: tuple[int, ...] = ()  # boxes of the smaller copies (variants.py)
    variant_quality: int = 75


@dataclass(frozen=True)
class Normalised:
    data: bytes
    ext: str
    content_type: str
    width: int
    height: int
    variants: list = field(default_factory=list)  # variants.Variant, largest first
    kept: object = None  # what Storage.keeping's `keep` made of `data` (its staging), if any

    def stored(self):
        """What Storage.put_new is handed for the main file: its staging, else its bytes."""
        return self.data if self.kept is None else self.kept


def sniff(head: bytes) -> str | None:
    """The accepted format these first bytes announce, or None."""
    if head.startswith(b"\xff\xd8\xff"):
        return "JPEG"
    if head.startswith(b"\x89PNG\r\n\x1a\n"):
        return "PNG"
    if head[:4] == b"RIFF" and head[8:12] == b"WEBP":
        return "WEBP"
    return None


def normalise(source: bytes | io.BytesIO, limits: Limits, keep=None) -> Normalised:
    """`source`: the upload's bytes, or the in-memory file part itself (no copy of the body).
    `keep` (Storage.keeping) is handed each file, main and copies, as soon as it is encoded."""
    stream = io.BytesIO(source) if isinstance(source, bytes | bytearray) else source
    data = stream.getbuffer()  # a view for the cheap header checks
    fmt = sniff(bytes(data[:16]))
    if fmt is None:
        raise UnsupportedFormat("magic bytes of no accepted format")
    lossless = fmt == "WEBP" and structure.webp_lossless(data)
    sof, scans = structure.jpeg(data) if fmt == "JPEG" else (None, 1)
    if fmt == "PNG":
        structure.png(data)
    ihdr = bytes(data[24:29]) if fmt == "PNG" else b""
    data.release()  # a live view would forbid Pillow's seek on the stream
    if fmt == "JPEG" and sof is not None and sof not in cost.JPEG_SOF_OK:
        raise UnsupportedFormat(f"JPEG SOF {sof}: lossless, hierarchical or arithmetic")
    try:
        stream.seek(0)
        im = Image.open(stream, formats=[fmt])
        _check_size(im.size, limits, fmt)
        head = _header(im, fmt, lossless, scans, ihdr, limits.max_side)
        _check_cost(head, limits)
        if head.shrink > 1:  # DCT scaling: libjpeg decodes at 1/2, 1/4 or 1/8
            im.draft(im.mode, (im.width // head.shrink, im.height // head.shrink))
        im.load()
        orientation = im.getexif().get(ORIENTATION_TAG)
    except BOMB_ERRORS as exc:
        raise _too_large(limits, str(exc), fmt) from exc
    except DECODE_ERRORS as exc:
        raise InvalidImage(f"{fmt}: {exc}") from exc
    icc = valid_icc(im.info.get("icc_profile"))
    transparency = im.info.get("transparency")
    if max(im.size) > limits.max_side:  # scale first: the rotation then moves fewer pixels
        im, transparency = _scale(im, transparency, limits.max_side)
    if orientation in TRANSPOSE:
        im = im.transpose(TRANSPOSE[orientation])
    im.info = {}  # Pillow would otherwise write back comments and XMP it found
    copies = variants.start(im, limits.variants, limits.variant_quality, icc, transparency,
                            keep) if variants.boxes_for(im.size, limits.variants) else None
    try:
        with _scratch() as out:
            _encode(im, fmt, out, icc, transparency, limits, lossless)
            out.seek(0)
            encoded = out.read()
        kept = keep(encoded) if keep else None
        smaller = copies.result() if copies else []
    except DECODE_ERRORS as exc:
        raise InvalidImage(f"{fmt} re-encode: {exc}") from exc
    finally:
        if copies:
            copies.cancel()  # when the main encode failed: not started yet, never started
    ext, content_type = FORMATS[fmt]
    return Normalised(encoded, ext, content_type, im.width, im.height, smaller, kept)


def _scratch():
    """A file in memory with a descriptor of its own: Pillow encodes into a descriptor with
    the GIL released (into a BytesIO it holds it throughout), so the variants' thread encodes
    on another core meanwhile. A temporary file where memfd_create does not exist."""
    if hasattr(os, "memfd_create"):
        return os.fdopen(os.memfd_create("uploads-encode", os.MFD_CLOEXEC), "w+b")
    return tempfile.TemporaryFile()


def _scale(im, transparency, max_side: int):
    """An integer box reduction first (cheap, and the stored side is a ceiling: within 5% of
    it is kept as is), then LANCZOS for the rest, on premultiplied alpha like Pillow's own."""
    colours = None
    if im.mode == "1":  # resampled in grey: one byte a pixel, not three
        im = im.convert("L")
    elif im.mode == "P":  # resampled in RGB(A); without transparency it is then put back on a
        # palette of as many colours, so a palette source stays that small (octree quantizing
        # would blur an alpha channel: 255 became 254)
        colours = None if transparency is not None else max(2, len(im.getpalette() or []) // 3)
        im, transparency = im.convert("RGBA" if transparency is not None else "RGB"), None
    alpha = {"RGBA": "RGBa", "LA": "La"}.get(im.mode)
    if alpha:
        im = im.convert(alpha)
    factor = _shrink(im.size, max_side, range(8, 1, -1))
    if factor > 1:
        im = im.reduce(factor)
    if max(im.size) > max_side:
        im = im.resize(_fit(im.size, max_side), Image.Resampling.LANCZOS)
    if alpha:
        im = im.convert(im.mode.upper())
    if colours:
        im = im.quantize(min(colours, 256), Image.Quantize.FASTOCTREE)
    return im, transparency


def _shrink(size, max_side: int, factors) -> int:
    """The largest factor that keeps the longest side at 95% of `max_side` or more."""
    longest = max(size)
    return next((f for f in factors if -(-longest // f) >= KEEP * max_side), 1)


def _header(im, fmt, lossless, scans, ihdr, max_side) -> cost.Header:
    bands = len(im.getbands()) if im.mode != "P" else 3 + ("transparency" in im.info)
    common = {"fmt": fmt, "width": im.width, "height": im.height, "bands": bands}
    if fmt == "PNG":
        return cost.Header(**common, deep=ihdr[:1] == b"\x10", interlaced=ihdr[4:5] == b"\x01")
    if fmt == "WEBP":
        return cost.Header(**common, lossless=lossless)
    layers = getattr(im, "layer", [])
    most = max((h * v for _, h, v, _ in layers), default=1)
    planes = sum(h * v for _, h, v, _ in layers) / most if layers else bands
    return cost.Header(**common, progressive=bool(im.info.get("progressive")), scans=scans,
                       planes=planes, shrink=_shrink(im.size, max_side, (8, 4, 2)))


def _check_cost(head: cost.Header, limits: Limits) -> None:
    estimate = cost.estimate(head, limits.max_side)
    if estimate.ms > limits.image_budget_ms or estimate.mb > limits.image_budget_mb:
        pixels = cost.pixel_limit(head, limits.max_side, limits.image_budget_ms,
                                  limits.image_budget_mb)
        raise _too_large(limits, f"{head} costs ~{estimate.ms:.0f} ms, {estimate.mb:.0f} MB",
                         head.fmt, pixels)


def valid_icc(icc: bytes | None) -> bytes | None:
    """The ICC profile, carried over only if it is one: an arbitrary payload can hide there."""
    if not icc or len(icc) > MAX_ICC_BYTES:
        return None
    try:
        ImageCms.ImageCmsProfile(io.BytesIO(icc))
    except (OSError, ValueError, TypeError):
        return None
    return icc


def _check_size(size: tuple[int, int], limits: Limits, fmt: str) -> None:
    width, height = size
    if width < 1 or height < 1:
        raise InvalidImage(f"empty dimensions {size}")
    if width * height > limits.max_pixels or max(size) > limits.max_input_side:
        raise _too_large(limits, f"{width}x{height}", fmt)


def _too_large(limits: Limits, detail: str, fmt: str, pixels: int | None = None):
    """The message names the pixels this kind of image may have (the cap, or what the cost
    budget allows, in whole thousands) and the side cap."""
    allowed = limits.max_pixels if pixels is None else min(pixels // 1000 * 1000,
                                                           limits.max_pixels)
    return ImageTooLarge(detail, pixels=f"{allowed:_}".replace("_", " "),
                         side=limits.max_input_side, format=FORMAT_NAMES[fmt])


def _fit(size: tuple[int, int], longest: int) -> tuple[int, int]:
    scale = longest / max(size)
    return max(1, round(size[0] * scale)), max(1, round(size[1] * scale))


def _encode(im, fmt, out, icc, transparency, limits, lossless) -> None:
    options = {"icc_profile": icc} if icc else {}
    if fmt == "JPEG":
        if im.mode not in ("L", "RGB", "CMYK"):
            im = im.convert("RGB")
        im.save(out, "JPEG", quality=limits.jpeg_quality, **options)
    elif fmt == "PNG":
        if transparency is not None and im.mode in ("P", "L", "RGB"):
            options["transparency"] = transparency
        im.save(out, "PNG", compress_type=Z_RLE, **options)
    else:
        if im.mode not in ("RGB", "RGBA"):
            im = im.convert("RGBA" if "A" in im.getbands() or im.mode == "P" else "RGB")
        effort = LOSSLESS_EFFORT if lossless else {"quality": limits.webp_quality, "method": 0}
        im.save(out, "WEBP", lossless=lossless, **effort, **options)
