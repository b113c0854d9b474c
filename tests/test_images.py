"""Normalisation, checked on pixels and bytes of what is actually stored."""

import io

import pytest
from PIL import Image, ImageCms, PngImagePlugin

from devstack.images import encode, make_image
from uploads.errors import ImageTooLarge, InvalidImage, UnsupportedFormat
from uploads.images import Limits, normalise, sniff

LIMITS = Limits(max_pixels=50_000_000, max_input_side=16384, max_side=2048)
GPS_IFD = 0x8825


def _open(data: bytes) -> Image.Image:
    im = Image.open(io.BytesIO(data))
    im.load()
    return im


def _two_halves(size=(40, 20)) -> Image.Image:
    """Left half red, right half blue: orientation mistakes show up as wrong colours."""
    im = Image.new("RGB", size, (255, 0, 0))
    im.paste((0, 0, 255), (size[0] // 2, 0, size[0], size[1]))
    return im


def _jpeg_with_exif(orientation=1, gps=True) -> bytes:
    exif = Image.Exif()
    exif[0x0112] = orientation
    exif[0x010F] = "PhoneMaker"
    if gps:
        exif[GPS_IFD] = {1: "N", 2: (48.0, 51.0, 29.0), 3: "E", 4: (2.0, 17.0, 40.0)}
    return encode(_two_halves(), "JPEG", quality=95, exif=exif, comment=b"secret comment")


def test_gps_exif_and_comment_are_gone():
    source = _jpeg_with_exif()
    assert _open(source).getexif().get_ifd(GPS_IFD)  # the fixture really has GPS
    stored = normalise(source, LIMITS).data
    im = _open(stored)
    assert len(im.getexif()) == 0
    assert b"Exif" not in stored and b"PhoneMaker" not in stored and b"secret comment" not in stored


@pytest.mark.parametrize("orientation, size, top_left, bottom_right", [
    (1, (40, 20), "red", "blue"),
    (3, (40, 20), "blue", "red"),   # rotated 180
    (6, (20, 40), "red", "blue"),   # rotated 90 clockwise: the left half is now on top
    (8, (20, 40), "blue", "red"),   # rotated 90 counter-clockwise
    (2, (40, 20), "blue", "red"),   # mirrored
])
def test_exif_orientation_is_applied_to_the_pixels(orientation, size, top_left, bottom_right):
    result = normalise(_jpeg_with_exif(orientation), LIMITS)
    im = _open(result.data)
    assert im.size == size == (result.width, result.height)

    def colour(xy):
        r, _g, b = im.getpixel(xy)
        return "red" if r > b else "blue"

    assert colour((1, 1)) == top_left
    assert colour((im.width - 2, im.height - 2)) == bottom_right


def test_icc_profile_is_kept():
    icc = ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB")).tobytes()
    for fmt in ("JPEG", "PNG", "WEBP"):
        stored = normalise(make_image(fmt, icc_profile=icc), LIMITS).data
        assert _open(stored).info.get("icc_profile") == icc, fmt


@pytest.mark.parametrize("fmt", ["JPEG", "PNG", "WEBP"])
def test_an_icc_slot_holding_something_else_is_dropped(fmt):
    payload = b"<script>alert(1)</script>" * 10
    stored = normalise(make_image(fmt, icc_profile=payload), LIMITS).data
    assert b"<script" not in stored
    assert _open(stored).info.get("icc_profile") is None


def test_an_appended_script_payload_does_not_survive():
    payload = b"<script>alert(document.cookie)</script>"
    for fmt in ("JPEG", "PNG", "WEBP"):
        stored = normalise(make_image(fmt) + payload, LIMITS).data
        assert b"<script" not in stored, fmt


def test_png_text_chunks_and_xmp_are_dropped():
    info = PngImagePlugin.PngInfo()
    info.add_text("Author", "Jane Secret")
    info.add_itxt("XML:com.adobe.xmp", "<x:xmpmeta>secret-xmp</x:xmpmeta>")
    stored = normalise(make_image("PNG", pnginfo=info), LIMITS).data
    assert b"Jane Secret" not in stored and b"secret-xmp" not in stored
    assert not {"Author", "XML:com.adobe.xmp"} & set(_open(stored).info)


def test_webp_xmp_and_exif_are_dropped():
    exif = Image.Exif()
    exif[0x010F] = "PhoneMaker"
    source = make_image("WEBP", exif=exif, xmp=b"<x:xmpmeta>secret-xmp</x:xmpmeta>")
    stored = normalise(source, LIMITS).data
    assert b"PhoneMaker" not in stored and b"secret-xmp" not in stored


@pytest.mark.parametrize("fmt, size, expected", [
    ("JPEG", (4000, 1000), (2000, 500)),  # DCT-scaled at 1/2, within 5% of the cap: kept
    ("JPEG", (5000, 1000), (2048, 410)),  # 1/2 is 2500: LANCZOS for the rest
    ("JPEG", (3000, 1000), (2048, 683)),  # 1/2 would be 1500: decoded in full
    ("PNG", (1000, 3000), (683, 2048)),
    ("PNG", (1000, 4032), (500, 2016)),   # box-reduced by 2, kept
    ("WEBP", (2049, 2049), (2048, 2048)),
    ("WEBP", (6000, 100), (2000, 34)),    # reduced by 3
    ("JPEG", (2048, 100), (2048, 100)),   # at the cap: untouched size
])
def test_longest_side_is_capped(fmt, size, expected):
    result = normalise(make_image(fmt, size=size), LIMITS)
    assert (result.width, result.height) == expected == _open(result.data).size


def test_the_extension_comes_from_the_decoded_format():
    for fmt, ext, ctype in (("JPEG", "jpg", "image/jpeg"), ("PNG", "png", "image/png"),
                            ("WEBP", "webp", "image/webp")):
        result = normalise(make_image(fmt), LIMITS)
        assert (result.ext, result.content_type) == (ext, ctype)
        assert _open(result.data).format == fmt


def _animated(fmt: str) -> bytes:
    frames = [Image.new("RGB", (32, 32), c) for c in ((255, 0, 0), (0, 255, 0), (0, 0, 255))]
    return encode(frames[0], fmt, save_all=True, append_images=frames[1:], duration=100, loop=0)


@pytest.mark.parametrize("fmt", ["PNG", "WEBP"])
def test_animations_keep_their_first_frame_only(fmt):
    source = _animated(fmt)
    assert getattr(_open(source), "n_frames", 1) == 3
    im = _open(normalise(source, LIMITS).data)
    assert getattr(im, "n_frames", 1) == 1
    r, g, b = im.convert("RGB").getpixel((16, 16))
    assert r > 200 and g < 60 and b < 60


def test_lossless_webp_stays_lossless():
    im = Image.new("RGB", (64, 64))
    im.putdata([(x * 4 % 256, y * 4 % 256, (x ^ y) % 256) for y in range(64) for x in range(64)])
    stored = normalise(encode(im, "WEBP", lossless=True), LIMITS).data
    assert b"VP8L" in stored[:64]
    assert _open(stored).convert("RGB").tobytes() == im.tobytes()


@pytest.mark.parametrize("mode, fmt", [
    ("CMYK", "JPEG"), ("L", "JPEG"), ("RGBA", "PNG"), ("LA", "PNG"), ("I;16", "PNG"),
    ("1", "PNG"), ("RGBA", "WEBP"),
])
def test_every_mode_round_trips(mode, fmt):
    result = normalise(make_image(fmt, (40, 30), mode, 0), LIMITS)
    assert _open(result.data).size == (40, 30)


def test_palette_transparency_survives_even_when_scaled():
    im = Image.new("P", (3000, 100), 0)
    im.putpalette([255, 0, 0, 0, 0, 255] + [0] * 762)
    im.paste(1, (1500, 0, 3000, 100))
    stored = _open(normalise(encode(im, "PNG", transparency=1), LIMITS).data).convert("RGBA")
    assert stored.getpixel((10, 10))[3] == 255
    assert stored.getpixel((stored.width - 10, 10))[3] == 0


@pytest.mark.parametrize("head, fmt", [
    (b"\xff\xd8\xff\xe0", "JPEG"), (b"\x89PNG\r\n\x1a\n", "PNG"),
    (b"RIFF\0\0\0\0WEBPVP8 ", "WEBP"), (b"GIF89a", None), (b"RIFF\0\0\0\0WAVE", None),
    (b"", None),
])
def test_sniff_reads_magic_bytes(head, fmt):
    assert sniff(head) == fmt


def test_refusals_raise_the_right_errors():
    with pytest.raises(UnsupportedFormat):
        normalise(make_image("GIF", mode="P"), LIMITS)
    with pytest.raises(InvalidImage):
        normalise(make_image("PNG")[:50], LIMITS)
    with pytest.raises(ImageTooLarge):
        normalise(make_image("PNG", size=(300, 300)), Limits(50_000, 16384, 2048))
