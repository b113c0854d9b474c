"""`variants` (and the other commands, for a main file with its variants): a dry run lists what
images lack, `--backfill` writes exactly that, never replaces a file, and a second run has
nothing left to do; `verify` and `gc` treat a main file and its variants as one."""

import time

import pytest

from devstack.images import make_image
from uploads import naming

from .conftest import JPEG_KEY, PNG_KEY, WEBP_KEY, fingerprint, write

OLD = time.time() - 30 * 86400


@pytest.fixture
def legacy(app, root):
    """Three images stored before variants existed (900 px: four boxes each, 200 px: two)."""
    write(root, JPEG_KEY, make_image("JPEG", size=(900, 600)))
    write(root, PNG_KEY, make_image("PNG", size=(200, 150), mode="RGBA", color=(0, 0, 0, 0)))
    write(root, WEBP_KEY, make_image("WEBP", size=(900, 600)))
    return root


def test_a_dry_run_lists_the_missing_variants_and_changes_nothing(legacy, cli, cli_json):
    before = fingerprint(legacy)
    result, doc = cli_json("variants")
    assert result.exit_code == 1 and not doc["applied"] and doc["written"] == 0
    assert {m["path"]: m["boxes"] for m in doc["missing"]} == {
        JPEG_KEY: [512, 256, 128, 64], PNG_KEY: [128, 64], WEBP_KEY: [512, 256, 128, 64]}
    assert fingerprint(legacy) == before
    assert "dry run; --backfill writes them" in cli("variants").stdout


def test_the_backfill_writes_what_an_upload_would_and_is_idempotent(legacy, cli, cli_json):
    result, doc = cli_json("variants", "--backfill")
    assert result.exit_code == 0 and doc["written"] == 10
    for key, boxes in ((JPEG_KEY, (512, 256, 128, 64)), (PNG_KEY, (128, 64))):
        for box in boxes:
            assert (legacy / naming.variant_key(key, box)).stat().st_mode & 0o777 == 0o644
    after = fingerprint(legacy)
    result, doc = cli_json("variants", "--backfill")
    assert result.exit_code == 0 and doc["written"] == 0 and doc["lacking"] == 0
    assert fingerprint(legacy) == after
    assert cli("verify").exit_code == 0


def test_the_backfill_keeps_a_variant_someone_else_wrote(legacy, cli_json):
    mine = naming.variant_key(JPEG_KEY, 128)
    write(legacy, mine, make_image("WEBP", size=(128, 85)))
    kept = (legacy / mine).read_bytes()
    result, doc = cli_json("variants", "--backfill")
    assert result.exit_code == 0 and doc["written"] == 9
    assert (legacy / mine).read_bytes() == kept


def test_a_file_that_is_no_image_is_skipped_and_said(legacy, cli_json):
    write(legacy, "i/p/2025/10/avatar_1760877849690_broken.jpg", b"\xff\xd8\xffnot really")
    result, doc = cli_json("variants", "--backfill")
    assert [s["path"] for s in doc["skipped"]] == ["i/p/2025/10/avatar_1760877849690_broken.jpg"]
    assert result.exit_code == 0  # nothing to write for it: `verify` is where it fails


def test_verify_says_which_images_lack_variants_and_finds_orphans(legacy, cli, cli_json):
    result, doc = cli_json("verify")
    assert result.exit_code == 0
    assert any("3 images lack variants" in w["problem"] for w in doc["warnings"])
    orphan = naming.variant_key("i/p/2025/12/avatar_1764547200000_gone00.jpg", 64)
    write(legacy, orphan, make_image("WEBP", size=(64, 43)))
    result, doc = cli_json("verify")
    assert {"path": orphan, "problem": "variant of no main file (gc removes it)"} in doc["warnings"]


def test_verify_urls_counts_a_variant_url_of_an_existing_main_file_as_served(legacy, cli_json):
    gone = naming.variant_key("i/p/2025/12/avatar_1764547200000_gone00.jpg", 64)
    refs = f"/{naming.variant_key(JPEG_KEY, 128)}\n/{gone}\n"
    result, doc = cli_json("verify", "--urls", "-", input=refs)
    assert result.exit_code == 1 and doc["missing"] == [gone]


def test_gc_keeps_or_removes_a_main_file_with_its_variants(legacy, cli, cli_json, tmp_path):
    cli("variants", "--backfill")
    orphan = naming.variant_key("i/p/2025/12/avatar_1764547200000_gone00.jpg", 64)
    write(legacy, orphan, make_image("WEBP", size=(64, 43)))
    for path in legacy.glob("i/p/*/*/*"):
        write(legacy, str(path.relative_to(legacy)), path.read_bytes(), mtime=OLD)
    refs = tmp_path / "refs.txt"
    refs.write_text(f"https://example.com/{JPEG_KEY}\n/{naming.variant_key(PNG_KEY, 64)}\n")
    result, doc = cli_json("gc", "--referenced", refs, "--max-share", "100")
    candidates = {c["path"] for c in doc["candidates"]}
    webp_group = {WEBP_KEY} | {naming.variant_key(WEBP_KEY, b) for b in (512, 256, 128, 64)}
    assert candidates == webp_group | {orphan}
