"""What an upload will cost to decode and re-encode, told from its headers before any pixel.

The pixel cap alone is not a cost bound: at 25 MP a 1 KB lossless WebP costs seconds and
450 MB, a 380 KB progressive JPEG of 2000 scans half a minute. So each upload's header
(format, size, mode, bit depth, interlacing, lossless, scans, sampling) gives an estimate of
server time and memory, from per-megapixel costs measured on the reference machine (a 2-core
AMD EPYC, `bench/cost.py`); over either budget, the upload is refused before decoding, with
the largest pixel count its kind of image may have. The figures are deliberately pessimistic
(the costliest content of each kind: noise, flat colour, worst filters).
"""

from dataclasses import dataclass

JPEG_SOF_OK = {0xC0, 0xC1, 0xC2}  # baseline, extended, progressive Huffman: what cameras write
MB = 1024 * 1024


@dataclass(frozen=True)
class Header:
    fmt: str
    width: int
    height: int
    bands: int = 3  # colour channels decoded (alpha included)
    deep: bool = False  # PNG of 16 bits per sample
    interlaced: bool = False
    lossless: bool = False  # WebP VP8L
    progressive: bool = False
    scans: int = 1
    planes: float = 3.0  # JPEG: component samples per pixel (3 for 4:4:4, 1.5 for 4:2:0)
    shrink: int = 1  # JPEG: the DCT scale the pipeline will decode at (1, 2, 4 or 8)


@dataclass(frozen=True)
class Estimate:
    ms: float
    mb: float


# ms per decoded megapixel, measured at 25 MP with the costliest content of each kind
DECODE_MS = {"JPEG": 10.0, "PNG": 30.0, "PNG16": 55.0, "WEBP": 30.0, "WEBP_LOSSLESS": 45.0}
# ms per megapixel of the resampling step (box reduce + LANCZOS), counted on its input
RESIZE_MS = 9.0
SCAN_MS = 0.6  # each extra progressive scan walks every block: ms per megapixel per scan
# ms per stored megapixel to encode the costliest content (noise) with the pipeline's options
ENCODE_MS = {"JPEG": 45.0, "PNG": 70.0, "WEBP": 80.0, "WEBP_LOSSLESS": 60.0,
             "WEBP_ALPHA": 180.0}
FIXED_MS = 5.0


def estimate(head: Header, max_side: int) -> Estimate:
    """Pessimistic server time and peak memory (over an idle worker) of the whole pipeline."""
    mp = head.width * head.height / 1e6
    decoded = mp / head.shrink**2
    kind = head.fmt + ("16" if head.deep else "") + ("_LOSSLESS" if head.lossless else "")
    ms = FIXED_MS + decoded * DECODE_MS[kind] * (1.2 if head.interlaced else 1.0)
    if head.fmt == "JPEG" and head.progressive:
        ms += mp * SCAN_MS * max(0, head.scans - 10) + mp * 12.0  # Huffman refinement passes
    # the stored image: its longest side at most max_side, the other in proportion
    stored = min(decoded, max_side * max_side / 1e6 * min(head.width, head.height)
                 / max(1, max(head.width, head.height)))
    if decoded > stored:
        ms += decoded * RESIZE_MS
    alpha = head.fmt == "WEBP" and head.bands == 4 and not head.lossless
    ms += stored * ENCODE_MS["WEBP_ALPHA" if alpha else kind.replace("16", "")]
    return Estimate(ms, _memory_mb(head, mp, decoded, stored))


def _memory_mb(head: Header, mp: float, decoded: float, stored: float) -> float:
    if head.fmt == "WEBP":  # libwebp's canvas, its copy as bytes, Pillow's image: 4 B each,
        # what a worker's heap keeps of them (263 MB measured at 12), and with alpha the
        # premultiplied copy the resampling works on
        pixels = decoded * (15 + (4 if head.bands == 4 else 0))
    elif head.fmt == "JPEG":  # Pillow keeps 4 B a pixel; more than one scan (progressive, or
        # baseline with a scan per component): libjpeg keeps every coefficient, 2 B each
        multiscan = head.progressive or head.scans > 1
        pixels = decoded * 4 + (mp * head.planes * 2 if multiscan else 0)
    else:  # Pillow's image (4 B a pixel, palette and grey 1-2 B, converted to 4 for resize)
        pixels = decoded * (4 if head.bands > 1 else 2) + (decoded * 4 if head.bands < 3 else 0)
    resampled = stored * 4 * 2 + (decoded / 4 * 4 if decoded > stored else 0)
    return (pixels + resampled) * 1e6 / MB + 8  # + encoder buffers and the output


def pixel_limit(head: Header, max_side: int, budget_ms: float, budget_mb: float) -> int:
    """The largest pixel count, at this header's shape and kind, within both budgets."""
    low, high = 0.0, 1.0
    while _within(_scaled(head, high), max_side, budget_ms, budget_mb) and high < 64:
        low, high = high, high * 2
    for _ in range(30):
        mid = (low + high) / 2
        if _within(_scaled(head, mid), max_side, budget_ms, budget_mb):
            low = mid
        else:
            high = mid
    return int(head.width * head.height * low * low)


def _scaled(head: Header, factor: float) -> Header:
    return Header(**{**head.__dict__, "width": max(1, int(head.width * factor)),
                     "height": max(1, int(head.height * factor))})


def _within(head: Header, max_side, budget_ms, budget_mb) -> bool:
    cost = estimate(head, max_side)
    return cost.ms <= budget_ms and cost.mb <= budget_mb
