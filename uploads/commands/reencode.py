"""`migrate`'s answer to a file whose name and content disagree (a PNG named `.jpg`).

The old site served such a file under its URL, so refusing it turns that URL into a 404. It is
kept under its old key instead, re-encoded to the format its extension names: the static server
sends the Content-Type of the extension, and the bytes then really are that format. The copy
carries the SHA-256 of the source it was made from (EXIF ImageDescription), so a rerun knows its
own earlier work from the stored bytes alone, on any backend, after a backup and restore too,
without encoding again or relying on an encoder giving the same bytes twice. Anything else at the
key stays a conflict.
"""

import hashlib
import io
import warnings

from PIL import Image, ImageOps

from ..images import BOMB_ERRORS, DECODE_ERRORS, FORMATS, sniff, valid_icc

DESCRIPTION = 0x010E  # EXIF ImageDescription
MARK = "uploads migrate: re-encoded from source sha256 "
BY_EXTENSION = {ext: fmt for fmt, (ext, _) in FORMATS.items()}
PNG_MODES = {"1", "L", "LA", "I", "I;16", "P", "RGB", "RGBA"}
BACKGROUND = (255, 255, 255)  # what JPEG, which has no alpha, puts under transparent pixels


class CannotReencode(Exception):
    pass


def named_format(key: str) -> str | None:
    """The format the key's extension names (exact, lower-case: what nginx serves), or None."""
    return BY_EXTENSION.get(key.rpartition(".")[2])


def reencode(source: bytes, fmt: str, target: str, limits) -> bytes:
    """`source`, already checked to decode as `fmt` within the limits, encoded as `target`:
    first frame, turned as its EXIF orientation says (as browsers showed it), ICC profile kept,
    every other piece of metadata dropped, the source's SHA-256 recorded."""
    try:
        with Image.open(io.BytesIO(source), formats=[fmt]) as opened:
            opened.load()
            icc = valid_icc(opened.info.get("icc_profile"))
            im = ImageOps.exif_transpose(opened)
        transparency = im.info.get("transparency")
        im.info = {}  # Pillow would write back comments and XMP it found
        exif = Image.Exif()
        exif[DESCRIPTION] = MARK + hashlib.sha256(source).hexdigest()
        options = {"exif": exif.tobytes(), **({"icc_profile": icc} if icc else {})}
        out = io.BytesIO()
        _save(im, target, out, options, transparency, fmt == "PNG", limits)
    except DECODE_ERRORS as exc:
        raise CannotReencode(f"cannot re-encode {fmt} as {target}: {exc}") from exc
    return out.getvalue()


def made_from(stored: bytes, source: bytes, target: str) -> bool:
    """Whether `stored` is the `target` image `reencode` made from `source` (by its record)."""
    if sniff(stored[:16]) != target:
        return False
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            with Image.open(io.BytesIO(stored), formats=[target]) as im:
                recorded = im.getexif().get(DESCRIPTION)
    except BOMB_ERRORS + DECODE_ERRORS:
        return False
    return recorded == MARK + hashlib.sha256(source).hexdigest()


def _save(im, target, out, options, transparency, lossless, limits) -> None:
    alpha = "A" in im.getbands() or transparency is not None
    if target == "JPEG":
        if alpha:
            rgba = im.convert("RGBA")
            im = Image.new("RGB", rgba.size, BACKGROUND)
            im.paste(rgba, mask=rgba.getchannel("A"))
        elif im.mode not in ("L", "RGB", "CMYK"):
            im = im.convert("RGB")
        im.save(out, "JPEG", quality=limits.jpeg_quality, **options)
    elif target == "PNG":
        if im.mode not in PNG_MODES:
            im = im.convert("RGBA" if alpha else "RGB")
        elif transparency is not None:
            options["transparency"] = transparency
        im.save(out, "PNG", **options)
    else:
        im = im.convert("RGBA" if alpha else "RGB")
        quality = {} if lossless else {"quality": limits.webp_quality}
        im.save(out, "WEBP", lossless=lossless, **quality, **options)
