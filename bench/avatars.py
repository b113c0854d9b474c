"""Photo-like test images whose byte sizes are those of real uploads.

Flat colours or pure noise would make encoders look far faster or slower than they are on
photos, so each image is `devstack.images.photo` (a soft colour field under blotchy texture and
fine grain, shared with the tests); JPEG and WebP qualities are then searched so that the file
lands on the size a phone or an avatar cropper would send. Seeded: the same bytes each run.
"""

import hashlib
import os
from dataclasses import dataclass

import PIL
from PIL import Image

from devstack import images
from devstack.images import photo

RECIPE = "photo-v1"  # bump when devstack.images.photo() or encode() change
EXIF_ORIENTATION = 0x0112
EXIF_MAKE, EXIF_MODEL = 0x010F, 0x0110


@dataclass(frozen=True)
class Kind:
    name: str
    label: str
    size: tuple[int, int]
    fmt: str
    target: int  # bytes the encoded file should come close to (never above `ceiling`)
    grain: float = 0.5
    orientation: int = 0  # EXIF orientation written into the file, 0 for none
    ceiling: int = 5 * 1024 * 1024 - 64 * 1024


UPLOADS = (
    Kind("jpeg_1mp", "1 MP JPEG", (1224, 816), "JPEG", 250_000, orientation=1),
    Kind("jpeg_12mp", "12 MP JPEG (EXIF rotated)", (4032, 3024), "JPEG", 4_000_000,
         orientation=6),
    Kind("png_2048", "2048 px PNG", (2048, 1536), "PNG", 0, grain=0.05),
    Kind("webp_1mp", "1 MP WebP", (1224, 816), "WEBP", 150_000),
)
BURST = Kind("jpeg_5mib", "5 MiB JPEG", (4032, 3024), "JPEG", 5_100_000, grain=0.9,
             ceiling=5 * 1024 * 1024 - 16 * 1024)
SERVED = (
    Kind("get_60k", "60 KB JPEG", (480, 480), "JPEG", 60_000),
    Kind("get_1m", "1 MB JPEG", (2048, 1365), "JPEG", 1_000_000),
)
SCALE_SEED = Kind("seed_20k", "20 KB JPEG", (256, 256), "JPEG", 20_000)


def encode(im: Image.Image, kind: Kind, quality: int | None = None) -> bytes:
    options = {}
    if kind.orientation:
        exif = Image.Exif()
        exif[EXIF_MAKE], exif[EXIF_MODEL] = "BenchCam", "Photo 1"
        exif[EXIF_ORIENTATION] = kind.orientation
        options["exif"] = exif.tobytes()
    if quality is not None:
        options["quality"] = quality
    return images.encode(im, kind.fmt, **options)


def make(kind: Kind, seed: int = 1) -> bytes:
    """The encoded file: the quality (1-95) whose size is closest to the target."""
    im = photo(kind.size, kind.grain, seed)
    if kind.fmt == "PNG" or not kind.target:
        return encode(im, kind)
    low, high, best = 1, 95, None
    while low <= high:  # size grows with quality: bisect
        quality = (low + high) // 2
        data = encode(im, kind, quality)
        if len(data) > kind.ceiling:
            high = quality - 1
            continue
        if best is None or abs(len(data) - kind.target) < abs(len(best) - kind.target):
            best = data
        if len(data) < kind.target:
            low = quality + 1
        else:
            high = quality - 1
    if best is None:
        raise ValueError(f"{kind.name}: no quality fits under {kind.ceiling} bytes")
    return best


def write_all(folder: str, kinds) -> dict[str, str]:
    """Each kind as a file in `folder` (name -> path). A file made earlier from the same
    recipe and the same Pillow is reused: generation costs seconds, the bytes do not change."""
    os.makedirs(folder, exist_ok=True)
    paths = {}
    for kind in kinds:
        ext = {"JPEG": "jpg", "PNG": "png", "WEBP": "webp"}[kind.fmt]
        recipe = hashlib.sha256(f"{RECIPE}|{kind}|{PIL.__version__}".encode()).hexdigest()[:10]
        path = os.path.join(folder, f"{kind.name}-{recipe}.{ext}")
        if not os.path.exists(path):
            with open(path + ".part", "wb") as out:
                out.write(make(kind))
            os.replace(path + ".part", path)
        paths[kind.name] = path
    return paths
