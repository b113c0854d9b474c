"""`migrate` keeps a file whose name and content disagree (a PNG named `.jpg`, which the old
site served under that URL) under its old key, re-encoded to its extension's format; a rerun
knows its own copy and exits 0; nothing different is ever overwritten."""

import io
import itertools

import pytest
from PIL import Image, ImageChops, ImageStat

from devstack.images import encode, make_image, photo
from uploads.images import sniff

from .conftest import JPEG_KEY, fingerprint, write

FORMATS = {"jpg": "JPEG", "png": "PNG", "webp": "WEBP"}
PAIRS = [(c, e) for c, e in itertools.permutations(FORMATS.values(), 2)]  # content, name's
EXT = {fmt: ext for ext, fmt in FORMATS.items()}
KEY = "i/p/2025/10/avatar_1760000000000_lie000.{}"
LOSSLESS = {"PNG", "WEBP"}  # the sources below; a lossless target keeps their pixels exactly


def source(fmt: str, seed: int = 1) -> bytes:
    lossless = {"lossless": True} if fmt == "WEBP" else {}
    return encode(photo((48, 32), seed=seed), fmt, **lossless)


def pixels(data: bytes, fmt: str) -> Image.Image:
    with Image.open(io.BytesIO(data), formats=[fmt]) as im:
        return im.convert("RGB")


def difference(a: Image.Image, b: Image.Image) -> float:
    return max(ImageStat.Stat(ImageChops.difference(a, b)).mean)


@pytest.fixture
def old(tmp_path):
    """An old public/i copy: one correct JPEG and the files a test adds."""
    src = tmp_path / "old"
    write(src, JPEG_KEY[2:], make_image("JPEG"))
    return src


@pytest.mark.parametrize("content, named", PAIRS)
def test_kept_under_its_key_as_the_format_its_name_says(app, root, cli, cli_json, old,
                                                        content, named):
    key = KEY.format(EXT[named])
    data = source(content)
    write(old, key[2:], data)
    result, doc = cli_json("migrate", "--from", old)
    assert result.exit_code == 0, result.output
    assert doc["reencoded"] == [{"path": key, "content": content, "stored_as": named}]
    assert sorted(doc["imported"]) == sorted([JPEG_KEY, key])
    assert doc["counts"]["rejected"] == 0 and doc["counts"]["reencoded"] == 1
    stored = (root / key).read_bytes()
    assert sniff(stored[:16]) == named, "the bytes really are the extension's format"
    after, before = pixels(stored, named), pixels(data, content)
    assert after.size == before.size == (48, 32)
    if named == "PNG" or (named == "WEBP" and content in LOSSLESS):
        assert after.tobytes() == before.tobytes()
    else:
        assert difference(after, before) < 12
    assert cli("verify").exit_code == 0, "what migrate stored passes verify"

    unchanged = fingerprint(root)
    rerun = cli("migrate", "--from", old)
    assert rerun.exit_code == 0, rerun.output
    assert rerun.stdout.splitlines() == [
        f"REENCODE {key}: {content} content under a .{EXT[named]} name, already stored "
        f"re-encoded as {named}",
        "ok: imported 0 (0 B), already present 2, re-encoded 1, rejected 0, conflicts 0"]
    assert fingerprint(root) == unchanged, "a rerun writes nothing"


def test_lines_and_summary(app, root, cli, old):
    write(old, KEY.format("jpg")[2:], source("PNG"))
    write(old, "p/2025/10/avatar_1760000000001_lie001.webp", source("JPEG"))
    dry = cli("migrate", "--from", old, "--dry-run")
    assert dry.exit_code == 0
    assert dry.stdout.splitlines()[:2] == [
        f"REENCODE {KEY.format('jpg')}: PNG content under a .jpg name, would be stored "
        "re-encoded as JPEG",
        "REENCODE i/p/2025/10/avatar_1760000000001_lie001.webp: JPEG content under a .webp "
        "name, would be stored re-encoded as WEBP"]
    assert "would import 3" in dry.stdout and "re-encoded 2" in dry.stdout
    assert not (root / "i").exists(), "a dry run writes nothing"
    result = cli("migrate", "--from", old)
    assert result.exit_code == 0
    assert "stored re-encoded as JPEG" in result.stdout
    assert result.stdout.splitlines()[-1].startswith("ok: imported 3 (")


def test_transparency_goes_onto_white_in_a_jpeg(app, root, cli, old):
    write(old, KEY.format("jpg")[2:], make_image("PNG", mode="RGBA", color=(0, 0, 0, 0)))
    assert cli("migrate", "--from", old).exit_code == 0
    stored = pixels((root / KEY.format("jpg")).read_bytes(), "JPEG")
    assert min(stored.getextrema()[0]) >= 250, "not black: the hidden colour stays hidden"


def test_exif_orientation_is_applied_as_browsers_showed_it(app, root, cli, old):
    exif = Image.Exif()
    exif[0x0112] = 6  # turned 90 degrees: shown 48 wide, 64 high
    write(old, KEY.format("png")[2:], make_image("JPEG", size=(64, 48), exif=exif))
    assert cli("migrate", "--from", old).exit_code == 0
    with Image.open(root / KEY.format("png")) as im:
        assert im.format == "PNG" and im.size == (48, 64)
        assert 0x0112 not in im.getexif()


@pytest.mark.parametrize("there", ["another image", "the raw source", "a copy of another "
                                   "source", "the same picture re-encoded elsewhere"])
def test_something_else_at_the_key_is_a_conflict(app, root, cli, cli_json, old, tmp_path,
                                                 there):
    key = KEY.format("jpg")
    data = source("PNG")
    write(old, key[2:], data)
    if there == "a copy of another source":  # an earlier run from a different tree
        other = tmp_path / "other"
        write(other, key[2:], source("PNG", seed=2))
        assert cli("migrate", "--from", other).exit_code == 0
    else:
        write(root, key, {"another image": make_image("JPEG", size=(9, 9)),
                          "the raw source": data,
                          "the same picture re-encoded elsewhere": encode(
                              pixels(data, "PNG"), "JPEG")}[there])
    before = (root / key).read_bytes()
    result, doc = cli_json("migrate", "--from", old)
    assert result.exit_code == 1
    assert doc["conflicts"] == [key] and doc["reencoded"] == []
    assert (root / key).read_bytes() == before, "never overwritten"


def test_a_changed_source_after_a_run_is_a_conflict(app, root, cli, old):
    key = KEY.format("webp")
    write(old, key[2:], source("PNG"))
    assert cli("migrate", "--from", old).exit_code == 0
    stored = (root / key).read_bytes()
    write(old, key[2:], source("PNG", seed=3))
    result = cli("migrate", "--from", old)
    assert result.exit_code == 1
    assert f"CONFLICT {key}: exists with different content, left alone" in result.stdout
    assert (root / key).read_bytes() == stored


@pytest.mark.parametrize("name, data, why", [
    ("avatar_1760000000000_text00.jpg", b"<html>not found</html>",
     "not a JPEG, PNG or WebP file"),
    ("avatar_1760000000000_gif000.jpg", make_image("GIF", mode="P"),
     "not a JPEG, PNG or WebP file"),
    ("avatar_1760000000000_trunc0.jpg", make_image("PNG", size=(300, 300))[:300],
     "cannot decode as PNG"),
    ("avatar_1760000000000_gifext.gif", make_image("PNG"),
     "the static server serves only .jpg, .png and .webp names"),
])
def test_what_is_not_an_image_is_still_refused(app, root, cli, old, name, data, why):
    write(old, f"p/2025/10/{name}", data)
    result = cli("migrate", "--from", old)
    assert result.exit_code == 1
    line = next(x for x in result.stdout.splitlines() if x.startswith("REJECT"))
    assert line.startswith(f"REJECT i/p/2025/10/{name}: {why}")
    assert "re-encoded 0, rejected 1" in result.stdout
    assert not (root / "i" / "p" / "2025" / "10" / name).exists()
