"""Variants (uploads/variants.py): one WebP per box smaller than the image, between 3/4 of the box
and the box, aspect kept, never upscaled, transparency and colour profile kept; written before
the main file, under names a client can build from the main URL alone."""

import errno
import io
import os

import pytest
from PIL import Image, ImageCms

from devstack.images import make_image, photo
from uploads import create_app, images, naming, settings, variants
from uploads.settings import ConfigError
from uploads.storage import StorageUnavailable

BOXES = (512, 256, 128, 64)


def opened(data: bytes) -> Image.Image:
    im = Image.open(io.BytesIO(data))
    im.load()
    return im


@pytest.mark.parametrize("size, expected", [
    ((1224, 816), [(408, 272), (204, 136), (102, 68), (51, 34)]),  # whole factors: cheap
    ((816, 1224), [(272, 408), (136, 204), (68, 102), (34, 51)]),
    ((2048, 1536), [(512, 384), (256, 192), (128, 96), (64, 48)]),
    ((300, 200), [(256, 171), (128, 86), (64, 43)]),  # 150 would be too far under 256
    ((512, 512), [(256, 256), (128, 128), (64, 64)]),  # a box equal to the image: no copy
    ((64, 20), []),
    ((2048, 3), [(512, 1), (256, 1), (128, 1), (64, 1)]),
])
def test_one_copy_per_smaller_box_within_it_and_not_far_under(size, expected):
    made = variants.make(Image.new("RGB", size, (10, 120, 200)), BOXES, 75)
    assert [(v.width, v.height) for v in made] == expected
    for v in made:
        im = opened(v.data)
        assert im.format == "WEBP" and im.size == (v.width, v.height)
        assert v.box * 3 <= max(im.size) * 4 <= v.box * 4


def test_transparency_and_the_colour_profile_are_kept():
    rgba = Image.new("RGBA", (400, 300), (255, 0, 0, 0))
    rgba.paste((0, 0, 255, 255), (100, 100, 300, 200))
    icc = ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB")).tobytes()
    small = opened(variants.make(rgba, (64,), 75, icc)[0].data)
    assert small.mode == "RGBA" and small.getpixel((0, 0))[3] == 0
    assert small.getpixel((32, 24))[2] > 200 and small.getpixel((32, 24))[3] == 255
    assert small.info.get("icc_profile") == icc


@pytest.mark.parametrize("mode", ["L", "P", "1", "LA", "CMYK", "I;16"])
def test_every_stored_mode_gives_an_rgb_or_rgba_copy(mode):
    im = Image.new("RGB", (200, 100), (90, 90, 90)).convert(mode)
    made = variants.make(im, (64,), 75)
    assert opened(made[0].data).mode in ("RGB", "RGBA")


def test_sixteen_bit_grey_is_scaled_not_clipped(upload, root):
    """A 16-bit grey PNG (values 0-65535) gives copies with the same gradient, not white."""
    ramp = Image.new("I;16", (600, 400))
    ramp.putdata([x * 65535 // 599 for _ in range(400) for x in range(600)])
    out = io.BytesIO()
    ramp.save(out, "PNG")
    answer = upload(out.getvalue(), filename="ramp.png", content_type="image/png")
    assert answer.status_code == 201, answer.json
    variant = answer.json["data"]["variants"][0]
    with Image.open(root / variant["url"].split("/", 3)[3]) as small:
        grey = [small.convert("L").getpixel((x, 10)) for x in (2, small.width // 2,
                                                               small.width - 3)]
    assert grey[0] < 20 and 100 < grey[1] < 156 and grey[2] > 235, grey


def test_an_rgb_copy_never_carries_a_profile_of_another_colour_space():
    """A grey image with a (mislabelled) sRGB profile keeps it on the RGB copy; a CMYK image
    without one converts plainly; the copy of a CMYK image never gets its CMYK profile."""
    srgb = ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB")).tobytes()
    grey = variants.make(Image.new("L", (200, 100), 128), (64,), 75, srgb)[0]
    assert opened(grey.data).info.get("icc_profile") == srgb
    cyan = Image.new("CMYK", (200, 100), (255, 0, 0, 0))
    copy = opened(variants.make(cyan, (64,), 75)[0].data)
    assert copy.info.get("icc_profile") is None
    red, green, blue = copy.convert("RGB").getpixel((10, 10))
    assert red < 40 and green > 200 and blue > 200
    lab = ImageCms.ImageCmsProfile(ImageCms.createProfile("LAB")).tobytes()
    odd = opened(variants.make(cyan, (64,), 75, lab)[0].data)
    assert odd.info.get("icc_profile") is None


def test_a_palette_image_with_a_transparent_index_stays_transparent():
    im = Image.new("P", (200, 100), 0)
    im.putpalette([0, 0, 0, 255, 255, 255] + [0] * 762)
    made = variants.make(im, (64,), 75, transparency=0)
    assert opened(made[0].data).getpixel((10, 10))[3] == 0


def test_a_typical_photos_128px_copy_is_small():
    """README's promise: a 128 px avatar is a few KB, not the whole photo."""
    made = variants.make(photo((1224, 816)), (128,), 75)
    assert len(made[0].data) <= 8 * 1024, len(made[0].data)


def test_the_upload_answer_lists_the_variants_and_they_are_stored(app, root, upload):
    answer = upload(make_image("JPEG", size=(600, 400)))
    assert answer.status_code == 201, answer.json
    data = answer.json["data"]
    assert [(v["width"], v["height"]) for v in data["variants"]] == [
        (512, 341), (256, 171), (128, 86), (64, 43)]
    for v in data["variants"]:
        assert v["content_type"] == "image/webp"
        assert v["url"] == naming.variant_key(data["url"], max(v["width"], v["height"]))
        assert v["url"].endswith(f".{max(v['width'], v['height'])}.webp")
        stored = (root / v["url"].split("/", 3)[3]).read_bytes()
        assert opened(stored).size == (v["width"], v["height"])
    assert set(data) >= {"url", "filename", "path", "size", "width", "height", "content_type"}


@pytest.mark.parametrize("raw, boxes", [("", ()), (" 128 , 64,128 ", (128, 64))])
def test_the_setting_is_a_set_of_boxes(raw, boxes):
    assert settings.load({"UPLOADS_VARIANTS": raw})["VARIANTS"] == boxes


def test_no_variants_when_the_setting_is_empty(root):
    app = create_app({"ROOT": str(root), "ALLOW_EPHEMERAL": True, "MIN_FREE_BYTES": 0,
                      "VARIANTS": ()})
    from devstack.client import multipart
    body, mimetype = multipart([("avatar", "a.jpg", "image/jpeg", make_image("JPEG", (600, 400)))])
    answer = app.test_client().post("/api/upload/avatar", data=body, content_type=mimetype)
    assert answer.json["data"]["variants"] == []
    assert len(list(root.glob("i/p/*/*/*"))) == 1


@pytest.mark.parametrize("raw", ["64,abc", "8", "4096", "64;128", "-64", "1e3"])
def test_a_bad_variants_setting_stops_the_start(raw):
    with pytest.raises(ConfigError) as refused:
        settings.load({"UPLOADS_VARIANTS": raw})
    assert "UPLOADS_VARIANTS" in refused.value.detail and "16 to 2048" in refused.value.detail


def test_variants_are_written_before_the_main_file(app, root, upload, monkeypatch):
    order, link = [], os.link
    monkeypatch.setattr(os, "link", lambda src, dst: link(src, dst) or order.append(dst))
    main = upload(make_image("JPEG", size=(300, 200))).json["data"]["path"][1:]
    named = [os.path.relpath(path, root) for path in order]
    assert named[-1] == main and len(named) == 4
    assert all(naming.main_stem(key) == main.rpartition(".")[0] for key in named[:-1])


@pytest.mark.parametrize("staged", [False, True], ids=["bytes", "staged while encoding"])
def test_a_name_clash_on_a_variant_draws_another_name_and_leaves_nothing(app, root, monkeypatch,
                                                                         staged):
    store = app.extensions["uploads.storage"]
    taken = "i/p/2026/12/avatar_1796000000000_taken0.jpg"
    store.put(naming.variant_key(taken, 64), b"someone else's", "image/webp")
    names = iter([taken, "i/p/2026/12/avatar_1796000000000_fresh0.jpg"])
    monkeypatch.setattr(naming, "new_key", lambda ext: next(names))
    with store.keeping() as keep:
        given = keep if staged else (lambda data: data)
        extra = [(128, given(b"a"), "image/webp"), (64, given(b"b"), "image/webp")]
        key = store.put_new("jpg", given(b"main"), "image/jpeg", extra)
    assert key.endswith("fresh0.jpg")
    assert store.read(key) == b"main" and store.read(naming.variant_key(key, 64)) == b"b"
    assert store.stat(naming.variant_key(taken, 128)) is None  # ours, removed again
    assert store.read(naming.variant_key(taken, 64)) == b"someone else's"
    assert list(root.glob(".tmp/*")) == []


@pytest.mark.parametrize("staged", [False, True], ids=["bytes", "staged while encoding"])
@pytest.mark.parametrize("fails", ["main", "variant"])
def test_a_failed_write_leaves_nothing_of_the_set(app, root, monkeypatch, fails, staged):
    store, link = app.extensions["uploads.storage"], os.link

    def failing(src, dst):
        if (naming.main_stem(dst) is None) == (fails == "main"):
            raise OSError(errno.EIO, "disk gone")
        return link(src, dst)

    monkeypatch.setattr(os, "link", failing)
    with pytest.raises(StorageUnavailable), store.keeping() as keep:
        given = keep if staged else (lambda data: data)
        store.put_new("jpg", given(b"main"), "image/jpeg", [(128, given(b"v"), "image/webp"),
                                                            (64, given(b"w"), "image/webp")])
    assert list(root.glob("i/p/*/*/*")) == []
    assert list(root.glob(".tmp/*")) == []  # no staged file left behind either


def test_each_file_is_on_disk_as_soon_as_it_is_encoded(app, root):
    """The disk's wait overlaps the encoding: by the time normalise returns, the main file and
    every copy are being staged (written and fsynced by writer threads), and storing them only
    links them into place."""
    store, limits = app.extensions["uploads.storage"], app.extensions["uploads.limits"]
    with store.keeping() as keep:
        result = images.normalise(make_image("JPEG", size=(1224, 816)), limits, keep)
        for handed in (result.kept, *(v.kept for v in result.variants)):
            handed.result()  # under way already: wait for it to finish
        staged = sorted(path.read_bytes() for path in root.glob(".tmp/*"))
        assert staged == sorted([result.data, *(v.data for v in result.variants)])
        key = store.put_new(result.ext, result.stored(), result.content_type,
                            variants.files(result.variants))
    assert store.read(key) == result.data and len(result.variants) == 4
    assert list(root.glob(".tmp/*")) == []


def test_a_copy_handed_over_after_its_upload_ended_is_not_kept(app, root):
    """A worker that outlives a failed upload (its main file refused) stages nothing."""
    store = app.extensions["uploads.storage"]
    with store.keeping() as keep:
        keep(b"staged, then dropped")
    with pytest.raises(StorageUnavailable, match="after its upload ended"):
        keep(b"too late")
    assert list(root.glob(".tmp/*")) == []


def test_an_upload_given_up_after_encoding_leaves_nothing(app, root, upload, monkeypatch):
    from uploads import api
    from uploads.errors import ClientGone

    def gone(stage):
        if stage == "before storing":
            raise ClientGone(stage)

    monkeypatch.setattr(api, "_still_there", gone)
    upload(make_image("JPEG", size=(1224, 816)))
    assert list(root.glob("i/p/*/*/*")) == []
    assert list(root.glob(".tmp/*")) == []
