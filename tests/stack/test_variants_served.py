"""Variants through the edge, in both storage modes: each variant the answer lists is served
under /i/ exactly like an image, and a variant URL built by the rule for a main file that has
no such variant (too small for the box, or stored before variants existed) gets the main file,
cached an hour instead of forever, never a 404 while the main file exists."""

import io

import pytest
import requests
from PIL import Image

from devstack.images import make_image
from helpers import assert_json_error
from stack.net import upload
from uploads import naming

pytestmark = pytest.mark.stack

IMMUTABLE = "public, max-age=31536000, immutable"
FALLBACK = "public, max-age=3600"
SAME = ("X-Content-Type-Options", "Content-Security-Policy", "Cross-Origin-Resource-Policy")


@pytest.fixture(scope="module")
def stack(image_stack):
    return image_stack


@pytest.fixture(scope="module")
def photo(stack):
    answer = upload(stack.url, make_image("JPEG", size=(300, 200)))
    assert answer.status_code == 201, answer.text
    return answer.json()["data"]


def test_every_listed_variant_is_served_like_its_main_file(stack, photo):
    main = requests.get(photo["url"], timeout=10)
    assert [(v["width"], v["height"]) for v in photo["variants"]] == [
        (256, 171), (128, 86), (64, 43)]
    for variant in photo["variants"]:
        box = min(b for b in (64, 128, 256, 512) if b >= max(variant["width"], variant["height"]))
        assert variant["url"] == naming.variant_key(photo["url"], box)
        answer = requests.get(variant["url"], timeout=10)
        assert answer.status_code == 200
        assert answer.content == stack.storage.read(variant["url"][len(stack.url) + 1:])
        assert answer.headers["Content-Type"] == variant["content_type"] == "image/webp"
        assert answer.headers["Cache-Control"] == IMMUTABLE
        assert {h: answer.headers[h] for h in SAME} == {h: main.headers[h] for h in SAME}
        assert Image.open(io.BytesIO(answer.content)).size == (variant["width"],
                                                               variant["height"])


def test_a_box_larger_than_the_image_gets_the_main_file(stack, photo):
    answer = requests.get(naming.variant_key(photo["url"], 512), timeout=10)
    assert answer.status_code == 200
    assert answer.content == requests.get(photo["url"], timeout=10).content
    assert answer.headers["Content-Type"] == "image/jpeg"
    assert answer.headers["Cache-Control"] == FALLBACK
    assert answer.headers["X-Content-Type-Options"] == "nosniff"


@pytest.mark.parametrize("fmt, ext, mime", [("JPEG", "jpg", "image/jpeg"),
                                            ("PNG", "png", "image/png"),
                                            ("WEBP", "webp", "image/webp")])
def test_a_main_file_stored_before_variants_answers_every_variant_url(stack, fmt, ext, mime):
    data = make_image(fmt, size=(900, 600))
    key = naming.new_key(ext)
    assert stack.storage.put(key, data, mime)  # as an old upload or a migration left it
    for box in (64, 128, 256, 512):
        url = f"{stack.url}/{naming.variant_key(key, box)}"
        answer = requests.get(url, timeout=10)
        assert answer.status_code == 200, (box, answer.status_code, answer.text[:200])
        assert answer.content == data
        assert answer.headers["Content-Type"] == mime
        assert answer.headers["Cache-Control"] == FALLBACK
        assert answer.headers["Content-Security-Policy"].endswith("sandbox")
        etag = answer.headers["ETag"]
        again = requests.get(url, headers={"If-None-Match": etag}, timeout=10)
        assert again.status_code == 304 and again.content == b""
        part = requests.get(url, headers={"Range": "bytes=0-9"}, timeout=10)
        assert part.status_code == 206 and part.content == data[:10]
        assert part.headers["Cache-Control"] == "no-store"


def test_a_variant_url_without_any_main_file_is_the_json_404(stack):
    url = f"{stack.url}/{naming.variant_key(naming.new_key('jpg'), 128)}"
    assert_json_error(requests.get(url, timeout=10), 404, "not_found")


def test_a_variant_url_takes_no_other_method(stack, photo):
    answer = requests.post(photo["variants"][0]["url"], data=b"x", timeout=10)
    assert_json_error(answer, 405, "method_not_allowed")


def test_a_variant_of_a_variant_is_not_found_and_costs_one_step(stack, photo):
    """`<stem>.128.64.webp` is no variant of `<stem>.128.webp` (an existing variant): nginx
    never falls back from one variant to another, so a URL of a thousand suffixes costs one
    miss, not one loopback request (and one store request) per suffix."""
    variant = photo["variants"][0]["url"]
    nested = variant.removesuffix(".webp") + ".64.webp"
    assert_json_error(requests.get(nested, timeout=10), 404, "not_found")
    deep = photo["url"].rpartition(".")[0] + ".1" * 1000 + ".webp"
    before = len(stack.log("nginx-access").splitlines())
    assert_json_error(requests.get(deep, timeout=10), 404, "not_found")
    assert len(stack.log("nginx-access").splitlines()) - before <= 4


@pytest.mark.parametrize("name", ["a%20b", "%C3%A9t%C3%A9", "x~y", "a,b"])
def test_a_variant_url_of_an_odd_name_never_reaches_outside_the_root(stack, photo, name):
    """A name the rule cannot hold gets the 404, even with a file named like the root beside
    it (nginx's try_files with an empty main path would look there)."""
    outside = stack.root.parent / (stack.root.name + ".jpg")
    outside.write_bytes(make_image("JPEG", size=(20, 20)))
    try:
        url = f"{stack.url}/i/p/2026/12/{name}.128.webp"
        assert_json_error(requests.get(url, timeout=10), 404, "not_found")
    finally:
        outside.unlink()
