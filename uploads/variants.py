"""Smaller copies of each stored image, for lists and cards (64-512 px) instead of the whole.

A chat app shows an avatar at 32-64 px in lists and 128-256 px in a card; served the stored
image (up to 2048 px, hundreds of KB), a list of 50 contacts costs megabytes on mobile data.
Each upload therefore also writes, before its main file becomes visible, one WebP copy per box
of UPLOADS_VARIANTS smaller than the image (longest side at most the box, aspect kept, never
upscaled), named by the rule in naming.py. nginx serves them like any image, and answers a
variant URL that has no file with the main file (nginx/images-*.conf).

Cost: the largest copy is made from the image by an integer box reduction (cheap) and a
bilinear step for the rest, each smaller one the same way from the largest's pixels, and each
is encoded with libwebp's fastest method. The largest copy (most of the cost) is made in a
worker thread while the main file is encoded, and the smaller ones by whichever of the two
threads is free first (`Making`): the encoders release the GIL, so on two cores an upload waits
for about half the work, not all of it (`make bench`, docs/performance.md).
"""

import contextlib
import io
import threading
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass

from PIL import Image, ImageCms

from . import naming

CONTENT_TYPE = "image/webp"
SIXTEEN_BIT_GREY = ("I;16", "I;16B", "I;16L", "I;16N", "I")
_SRGB = ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB"))
_pool = ThreadPoolExecutor(max_workers=4, thread_name_prefix="uploads-variants")


@dataclass(frozen=True)
class Variant:
    box: int
    width: int
    height: int
    data: bytes
    kept: object = None  # what the storage's `keep` made of `data` (staging under way), if any

    def describe(self, main_url: str) -> dict:
        """The answer's entry: what a client needs to pick one and to fetch it."""
        return {"width": self.width, "height": self.height,
                "url": naming.variant_key(main_url, self.box), "content_type": CONTENT_TYPE}


def files(made: list[Variant]) -> list[tuple[int, bytes, str]]:
    """(box, bytes or what `keep` made of them, content type) of each copy: what
    Storage.put_new stores beside a main file."""
    return [(v.box, v.data if v.kept is None else v.kept, CONTENT_TYPE) for v in made]


def boxes_for(size: tuple[int, int], boxes: tuple[int, ...]) -> tuple[int, ...]:
    """The boxes an image of `size` gets a copy for: those smaller than its longest side."""
    return tuple(box for box in boxes if box < max(size))


def make(im: Image.Image, boxes: tuple[int, ...], quality: int, icc: bytes | None = None,
         transparency=None) -> list[Variant]:
    """One WebP per box smaller than `im`, largest first, each from the one before."""
    return Making(im, boxes, quality, icc, transparency, pool=None).result()


def sizes_for(size: tuple[int, int], boxes: tuple[int, ...]) -> list[tuple[int, int]]:
    """The size of each copy, largest box first. Each is the one before reduced by the whole
    factor that first brings it within the box (a box reduction, the cheapest resampling) when
    that lands at 3/4 of the box or more, else the main size scaled exactly to the box: a
    1224 x 816 photo gets 408 x 272 for 512, then 204 x 136, 102 x 68 and 51 x 34; a
    2048 x 1536 one exactly 512 x 384, 256 x 192, 128 x 96 and 64 x 48."""
    sizes, previous = [], size
    for box in boxes:
        side = max(previous)
        factor = -(-side // box)  # ceil
        if factor >= 2 and -(-side // factor) * 4 >= box * 3:
            previous = (-(-previous[0] // factor), -(-previous[1] // factor))
        else:
            scale = box / max(size)
            previous = (max(1, round(size[0] * scale)), max(1, round(size[1] * scale)))
        sizes.append(previous)
    return sizes


def start(im, boxes, quality, icc=None, transparency=None, keep=None) -> "Making":
    """The set, begun in a worker thread: the caller encodes the main file meanwhile. Each
    copy is handed to `keep` (Storage.keeping) as soon as it is encoded."""
    return Making(im, boxes, quality, icc, transparency, pool=_pool, keep=keep)


class Making:
    """A set of copies in the making, shared by two threads so that both cores finish
    together: a worker scales the image to the largest copy's size and encodes that copy (most
    of the cost) while the caller encodes the main file; then each thread, once free, takes the
    next copy not yet taken (`result()` is where the caller joins in), every one made from the
    largest copy's pixels. Which thread makes which copy depends on which is free first: the
    work is the same either way."""

    def __init__(self, im, boxes, quality, icc, transparency, pool, keep=None):
        self._keep = keep
        wanted = sorted(boxes_for(im.size, boxes), reverse=True)
        self._sizes = list(zip(wanted, sizes_for(im.size, wanted), strict=True))
        self._todo = list(self._sizes[1:])  # the smaller copies, for whichever thread is free
        self._lock = threading.Lock()
        self._made: dict[int, Variant] = {}
        self._icc = icc
        self._options = {"quality": quality, "method": 0}
        self._scaled: Future = Future()
        self._largest = None
        if self._sizes:
            self._largest = pool.submit(self._make_largest, im, transparency) if pool \
                else _done(self._make_largest, im, transparency)

    def _make_largest(self, im, transparency) -> Variant:
        box, size = self._sizes[0]
        try:
            coloured, icc = _colour(im, transparency, self._icc)
            if icc:
                self._options["icc_profile"] = icc
            scaled = _fit(coloured, size)
        except BaseException as exc:
            self._scaled.set_exception(exc)
            raise
        self._scaled.set_result(scaled)
        largest = self._encode(box, scaled)
        self._take_turns(scaled)
        return largest

    def _take_turns(self, scaled: Image.Image) -> None:
        """Make the smaller copies not yet taken, one at a time, from `scaled`."""
        while True:
            with self._lock:
                if not self._todo:
                    return
                box, size = self._todo.pop(0)
            self._made[box] = self._encode(box, _fit(scaled, size))

    def _encode(self, box: int, im: Image.Image) -> Variant:
        out = io.BytesIO()  # the WebP encoder releases the GIL either way
        im.save(out, "WEBP", **self._options)
        data = out.getvalue()
        return Variant(box, im.width, im.height, data, self._keep(data) if self._keep else None)

    def result(self) -> list[Variant]:
        if self._largest is None:
            return []
        self._take_turns(self._scaled.result())
        largest = self._largest.result()  # the worker's last copy is made by then
        return [largest, *(self._made[box] for box, _ in self._sizes[1:])]

    def cancel(self) -> None:
        """When the main file failed: a worker that has not started never will."""
        if self._largest is not None:
            self._largest.cancel()


def _done(fn, *args) -> Future:
    """`fn(*args)` run here, as a finished Future."""
    future: Future = Future()
    try:
        future.set_result(fn(*args))
    except BaseException as exc:
        future.set_exception(exc)
    return future


def _colour(im, transparency, icc):
    """RGB, or RGBA when the image has any transparency (what WebP stores), and the ICC profile
    that then describes it: an RGB profile as it was; pixels of another space with a profile
    of their own (CMYK, grey) converted into sRGB through it; 16-bit grey scaled to 8 bits
    (Pillow's convert would clip it to white)."""
    if im.mode in SIXTEEN_BIT_GREY:
        im, transparency = im.convert("I").point(lambda v: v * (1 / 256)).convert("L"), None
    if icc and _space(icc) != "RGB":
        if im.mode in ("CMYK", "L"):
            with contextlib.suppress(ImageCms.PyCMSError, OSError, ValueError):
                im = ImageCms.profileToProfile(
                    im, ImageCms.ImageCmsProfile(io.BytesIO(icc)), _SRGB, outputMode="RGB")
        icc = None  # an RGB copy must not carry a CMYK or grey profile
    alpha = im.mode in ("RGBA", "LA", "PA", "RGBa", "La") or transparency is not None
    if im.mode == ("RGBA" if alpha else "RGB"):
        return im, icc
    if transparency is not None and im.mode in ("P", "L", "RGB"):
        im = im.copy()
        im.info["transparency"] = transparency
    return im.convert("RGBA" if alpha else "RGB"), icc


def _space(icc: bytes) -> str:
    """The colour space an ICC profile describes: 'RGB', 'CMYK', 'GRAY'..."""
    try:
        return ImageCms.ImageCmsProfile(io.BytesIO(icc)).profile.xcolor_space.strip()
    except (ImageCms.PyCMSError, OSError, ValueError, TypeError):
        return ""


def _fit(im, size):
    """`im` brought to `size`: a whole-factor box reduction first (cheap), then bilinear for
    what is left, on premultiplied alpha so that transparent pixels do not bleed."""
    if im.size == size:
        return im
    factor = min(im.width // size[0], im.height // size[1])
    alpha = im.mode == "RGBA"
    if alpha:
        im = im.convert("RGBa")
    if factor >= 2:
        im = im.reduce(factor)
    if im.size != size:
        im = im.resize(size, Image.BILINEAR)
    return im.convert("RGBA") if alpha else im


def main_of(main_stem: str, present: set | None, store=None) -> str | None:
    """The main file's key of a variant's stem, among `present` keys (or asked of `store`)."""
    for ext in naming.EXTENSIONS:
        key = f"{main_stem}.{ext}"
        if (key in present) if present is not None else (store.stat(key) is not None):
            return key
    return None


def missing(key: str, data: bytes, boxes: tuple[int, ...], present: set) -> list[int]:
    """The boxes a stored main file should have a variant for and has none."""
    with Image.open(io.BytesIO(data)) as im:
        size = im.size
    return [box for box in boxes_for(size, boxes) if naming.variant_key(key, box) not in present]
