"""Hostile inputs found by trying to break the pipeline: never a 500, never a file that should
not be there. In-process: none of these needs a real server.

The suite runs with warnings as errors, as a strict deployment may (`PYTHONWARNINGS=error`):
an image whose metadata only makes Pillow warn must still get an answer from the contract.
"""

import io
import os
import struct
import zlib

import pytest
from PIL import Image

from devstack.client import multipart
from devstack.images import PNG_SIGNATURE, make_image, png_chunk
from helpers import stored_files

JPEG = make_image("JPEG")


def _png(width, height, depth, color_type, channels, extra=b"") -> bytes:
    row = b"\0" + os.urandom(width * channels * depth // 8)
    ihdr = struct.pack(">IIBBBBB", width, height, depth, color_type, 0, 0, 0)
    return (PNG_SIGNATURE + png_chunk(b"IHDR", ihdr) + extra
            + png_chunk(b"IDAT", zlib.compress(row * height)) + png_chunk(b"IEND", b""))


def _jpeg_with_app1(payload: bytes) -> bytes:
    return JPEG[:2] + b"\xff\xe1" + struct.pack(">H", len(payload) + 2) + payload + JPEG[2:]


TIFF_HEAD = b"Exif\0\0MM\0*\0\0\0\x08"
MALFORMED_EXIF = {
    "entry count past the end": TIFF_HEAD + b"\xff\xff" + b"\x5a" * 100,
    "truncated header": b"Exif\0\0MM\0*\0",
    "IFD offset past the end": b"Exif\0\0MM\0*\xff\xff\xff\xff",
    "IFD pointing at itself": TIFF_HEAD + b"\0\x01\x01\x12\0\x03\0\0\0\x01\0\x06\0\0\0\0\0\x08",
    "orientation as a rational": TIFF_HEAD + b"\0\x01\x01\x12\0\x05\0\0\0\x01\0\0\0\x1a"
                                 + b"\0\0\0\0\0\0\0\x06\0\0\0\0",
    "little-endian IFD of 3000 entries, too short": b"Exif\0\0II*\0\x08\0\0\0"
                                                    + struct.pack("<H", 3000) + b"\x11" * 600,
}


@pytest.mark.parametrize("payload", MALFORMED_EXIF.values(), ids=MALFORMED_EXIF.keys())
def test_malformed_exif_is_never_a_500(upload, root, payload):
    """Broken EXIF is metadata we drop anyway: the picture is stored (or refused as 422), and
    the answer is never the generic 500."""
    response = upload(_jpeg_with_app1(payload))
    assert response.status_code in (201, 422), response.get_json()
    if response.status_code == 422:
        assert stored_files(root) == []


@pytest.mark.parametrize("orientation", [0, 9, 65535])
def test_out_of_range_orientation_is_ignored(upload, root, orientation):
    exif = Image.Exif()
    exif[0x0112] = orientation
    response = upload(make_image("JPEG", size=(60, 20), exif=exif))
    assert response.status_code == 201, response.get_json()
    assert (response.get_json()["data"]["width"], response.get_json()["data"]["height"]) == (60, 20)


def test_too_many_form_parts_is_a_400_not_an_image_too_large(client, root):
    """Nine small text fields and a tiny image: nothing here is too large, and telling the
    user that the image must not exceed 5MB would be wrong."""
    parts = [(f"field{i}", None, None, b"v") for i in range(9)] + [("avatar", "a.jpg",
                                                                    "image/jpeg", JPEG)]
    body, mimetype = multipart(parts)
    response = client.post("/api/upload/avatar", data=body, content_type=mimetype)
    assert response.status_code == 400, response.get_json()
    assert response.get_json()["success"] is False
    assert stored_files(root) == []


def test_metadata_full_of_line_breaks_does_not_upset_the_form_parser(upload, root):
    """A PNG carrying 300 KB of CRLF text (big XMP or comments do): the multipart parser holds
    back bytes after each line break; the upload is still a 201 and the text is dropped."""
    text = png_chunk(b"tEXt", b"Comment\0" + b"a line of a long comment\r\n" * 12000)
    data = _png(64, 48, 8, 2, 3, extra=text)
    response = upload(data, filename="a.png", content_type="image/png")
    assert response.status_code == 201, response.get_json()
    stored = (root / response.get_json()["data"]["path"].lstrip("/")).read_bytes()
    assert b"a long comment" not in stored and b"tEXt" not in stored


@pytest.mark.parametrize("depth,color_type,channels", [(16, 2, 3), (16, 6, 4), (16, 0, 1),
                                                       (16, 4, 2), (1, 0, 1), (2, 0, 1)])
def test_unusual_png_bit_depths_are_stored(upload, root, depth, color_type, channels):
    response = upload(_png(40, 30, depth, color_type, channels), filename="a.png",
                      content_type="image/png")
    assert response.status_code == 201, response.get_json()
    path = root / response.get_json()["data"]["path"].lstrip("/")
    with Image.open(path) as im:
        im.load()
        assert im.size == (40, 30)


COMPRESSED_100_MB = zlib.compress(b"A" * (100 * 1024 * 1024), 9)


@pytest.mark.parametrize("chunk", [
    png_chunk(b"zTXt", b"Comment\0\0" + COMPRESSED_100_MB),
    png_chunk(b"iCCP", b"icc\0\0" + COMPRESSED_100_MB),
    png_chunk(b"iTXt", b"Comment\0\x01\0\0\0" + COMPRESSED_100_MB),
], ids=["zTXt", "iCCP", "iTXt"])
def test_png_metadata_bombs_are_refused_not_inflated(upload, root, chunk):
    response = upload(_png(40, 30, 8, 2, 3, extra=chunk), filename="a.png",
                      content_type="image/png")
    assert response.status_code in (201, 422), response.get_json()
    if response.status_code == 201:
        stored = (root / response.get_json()["data"]["path"].lstrip("/")).stat().st_size
        assert stored < 100_000
    else:
        assert stored_files(root) == []


PAYLOADS = {
    "zip": b"PK\x03\x04" + b"\x14" * 200 + b"PK\x05\x06" + bytes(18),
    "html": b"<html><body><script>alert(document.cookie)</script></body></html>",
    "php": b"<?php system($_GET['c']); ?>",
}


@pytest.mark.parametrize("fmt", ["JPEG", "PNG", "WEBP"])
@pytest.mark.parametrize("payload", PAYLOADS.values(), ids=PAYLOADS.keys())
def test_polyglot_tails_do_not_survive(upload, root, fmt, payload):
    response = upload(make_image(fmt) + payload, filename="a.html", content_type="text/html")
    assert response.status_code == 201, response.get_json()
    stored = (root / response.get_json()["data"]["path"].lstrip("/")).read_bytes()
    assert payload not in stored and b"<" not in stored[-200:]
    with Image.open(io.BytesIO(stored)) as im:
        assert im.format == fmt
