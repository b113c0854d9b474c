"""The Pillow floor: the upload pipeline's image work in-process, with no HTTP around it.

Two floors per image: `uploads.images.normalise` itself (the product's code, with its checks)
and a minimal hand-written Pillow decode, EXIF orientation, downscale and encode that produces
the same output. The server's per-upload time is compared with both.
"""

import io
import statistics
import time

from PIL import Image

from devstack.images import encode, make_image
from uploads import images

ORIENTATION = 0x0112


def minimal(data: bytes, limits: images.Limits) -> bytes:
    im = Image.open(io.BytesIO(data))
    fmt = im.format
    side = limits.max_side
    if fmt == "JPEG" and max(im.size) >= 2 * side:
        im.draft(im.mode, _fit(im.size, side))
    im.load()
    turn = images.TRANSPOSE.get(im.getexif().get(ORIENTATION))
    if turn is not None:
        im = im.transpose(turn)
    if max(im.size) > side:
        im = im.resize(_fit(im.size, side), Image.Resampling.LANCZOS, reducing_gap=3.0)
    quality = limits.webp_quality if fmt == "WEBP" else limits.jpeg_quality
    return encode(im, fmt, **({} if fmt == "PNG" else {"quality": quality}))


def _tiny(fmt: str) -> bytes:
    return make_image(fmt, (16, 16), color=(200, 100, 50))


def _fit(size, longest):
    scale = longest / max(size)
    return max(1, round(size[0] * scale)), max(1, round(size[1] * scale))


class Floor:
    """Samples of both floors per image, taken in alternation with whatever else runs."""

    def __init__(self, limits: images.Limits):
        self.limits = limits
        self.samples: dict[str, dict[str, list[float]]] = {}
        for fmt in ("JPEG", "PNG", "WEBP"):  # first use loads codecs: warm on tiny images
            images.normalise(_tiny(fmt), limits)
            minimal(_tiny(fmt), limits)

    def run(self, name: str, data: bytes, pairs: int, seconds: float) -> None:
        """At least `pairs` runs of each, more while under `seconds` (at most 100)."""
        runs = self.samples.setdefault(name, {"normalise": [], "minimal": []})
        fns = {"normalise": images.normalise, "minimal": minimal}
        started, done = time.monotonic(), 0
        while done < pairs or (time.monotonic() - started < seconds and done < 100):
            for key, fn in fns.items():
                t0 = time.perf_counter()
                fn(data, self.limits)
                runs[key].append((time.perf_counter() - t0) * 1000)
            done += 1

    def medians(self, name: str) -> dict[str, float]:
        return {k: statistics.median(v) for k, v in self.samples[name].items()}
