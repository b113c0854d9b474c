"""The cost budget: the worst inputs of `bench/worst.py` are refused from their headers with a
422 naming the pixels their kind may have, every camera JPEG up to the cap is accepted, and
the largest accepted size of each kind sits just inside both budgets. Times and memory are
measured by `bench/cost.py`, not asserted here."""


import pytest

from bench import worst
from devstack.images import make_image
from helpers import stored_files
from uploads import cost
from uploads.errors import ImageTooLarge, UnsupportedFormat
from uploads.images import Limits, normalise

LIMITS = Limits(max_pixels=25_000_000, max_input_side=16384, max_side=2048)
# cheap to make at the cap: flat content, the costliest headers
AT_THE_CAP = ["jpeg_many_scans", "png_rgba16_interlaced", "png_palette_1bit", "png_rgb_flat",
              "webp_lossless_flat"]


@pytest.fixture(scope="session")
def at_the_cap():
    return {name: worst.catalogue()[name][1](worst.SIZE) for name in AT_THE_CAP}


@pytest.mark.parametrize("name", AT_THE_CAP)
def test_the_worst_inputs_at_the_cap_are_refused_naming_their_limit(upload, root, at_the_cap,
                                                                     name):
    response = upload(at_the_cap[name], filename="a.bin")
    assert response.status_code == 422, response.json
    assert response.json["code"] == "image_too_large"
    named = response.json["error"].split(" pixels")[0].split(": ")[-1]
    assert 0 < int(named.replace(" ", "")) < 25_000_000
    assert name.split("_")[0].upper() in response.json["error"].upper()
    assert stored_files(root) == []


def _jpeg(size, **options) -> bytes:
    return make_image("JPEG", size, color=(120, 90, 60), **options)


@pytest.mark.parametrize("size", [worst.CAMERA, (6000, 4000), (5000, 5000), (4000, 6000)])
@pytest.mark.parametrize("options", [{}, {"subsampling": 0}, {"progressive": True},
                                     {"subsampling": 1}], ids=["420", "444", "prog", "422"])
def test_camera_jpegs_up_to_the_cap_are_within_the_budget(size, options):
    result = normalise(_jpeg(size, **options), LIMITS)
    assert max(result.width, result.height) <= 2048


def test_a_cmyk_jpeg_at_the_cap_is_within_the_budget():
    cmyk = make_image("JPEG", worst.SIZE, "CMYK", (10, 20, 30, 40))
    assert normalise(cmyk, LIMITS).width == 2048


KINDS = {
    "jpeg progressive 444": cost.Header("JPEG", 5000, 5000, progressive=True, scans=10),
    "jpeg 2000 scans": cost.Header("JPEG", 5000, 5000, progressive=True, scans=2000, shrink=2),
    "png 16-bit rgba interlaced": cost.Header("PNG", 5000, 5000, 4, deep=True, interlaced=True),
    "png rgb": cost.Header("PNG", 6000, 3000),
    "webp lossless": cost.Header("WEBP", 5000, 5000, lossless=True),
    "webp alpha": cost.Header("WEBP", 3000, 6000, 4),
}


@pytest.mark.parametrize("head", KINDS.values(), ids=KINDS.keys())
def test_the_named_limit_is_the_edge_of_the_budget(head):
    pixels = cost.pixel_limit(head, 2048, 1000, 180)
    scale = (pixels / (head.width * head.height)) ** 0.5
    inside = cost.estimate(cost._scaled(head, scale * 0.99), 2048)
    outside = cost.estimate(cost._scaled(head, scale * 1.02), 2048)
    assert inside.ms <= 1000 and inside.mb <= 180
    assert outside.ms > 1000 or outside.mb > 180


def test_the_largest_accepted_flat_png_is_stored_and_a_bit_more_is_not(at_the_cap):
    with pytest.raises(ImageTooLarge) as refused:
        normalise(at_the_cap["png_rgb_flat"], LIMITS)
    side = int(int(refused.value.params["pixels"].replace(" ", "")) ** 0.5)
    assert normalise(worst.png_raw(side, side, 8, 2), LIMITS).width == 2048
    with pytest.raises(ImageTooLarge):
        normalise(worst.png_raw(side + 60, side + 60, 8, 2), LIMITS)


def test_the_budget_is_a_setting(app):
    from uploads import create_app

    roomy = create_app({"ROOT": app.config["ROOT"], "ALLOW_EPHEMERAL": True,
                        "MIN_FREE_BYTES": 0, "IMAGE_BUDGET_MS": 100_000,
                        "IMAGE_BUDGET_MB": 4000})
    limits = roomy.extensions["uploads.limits"]
    assert (limits.image_budget_ms, limits.image_budget_mb) == (100_000, 4000)


@pytest.mark.parametrize("sof", [0xC3, 0xC9, 0xCA, 0xC5])
def test_jpeg_variants_no_camera_writes_are_refused(sof):
    data = bytearray(_jpeg((64, 48)))
    data[data.index(b"\xff\xc0") + 1] = sof
    with pytest.raises(UnsupportedFormat):
        normalise(bytes(data), LIMITS)
