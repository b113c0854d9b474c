"""`gc` (dry run by default, grace period, refuses an empty list) and `du` (per month, free)."""

import time

import pytest

from uploads import create_app

from .conftest import JPEG_KEY, PNG_KEY, WEBP_KEY, fingerprint, write

OLD = time.time() - 30 * 86400
YOUNG_KEY = "i/p/2026/01/avatar_1767225600001_young0.jpg"


@pytest.fixture
def aged(tree, images):
    """The three files a month old, plus one uploaded an hour ago."""
    for key in (JPEG_KEY, PNG_KEY, WEBP_KEY):
        write(tree, key, (tree / key).read_bytes(), mtime=OLD)
    write(tree, YOUNG_KEY, images["jpg"], mtime=time.time() - 3600)
    return tree


@pytest.fixture
def refs(tmp_path):
    path = tmp_path / "refs.txt"
    path.write_text(f"https://meeshy.me/{JPEG_KEY}\n\n# still used\n")
    return path


def test_dry_run_lists_and_changes_nothing(aged, cli, cli_json, refs):
    before = fingerprint(aged)
    result, doc = cli_json("gc", "--referenced", refs)
    assert result.exit_code == 0
    assert not doc["applied"]
    assert {c["path"] for c in doc["candidates"]} == {PNG_KEY, WEBP_KEY}
    assert doc["bytes"] == sum((aged / k).stat().st_size for k in (PNG_KEY, WEBP_KEY))
    assert doc["young_kept"] == 1
    text = cli("gc", "--referenced", refs).stdout
    assert f"would remove {PNG_KEY}" in text and "dry run" in text
    assert fingerprint(aged) == before


def test_apply_removes_exactly_the_candidates(aged, cli_json, refs):
    # 2 of the 3 files old enough: over the default share, so allowed explicitly
    result, doc = cli_json("gc", "--referenced", refs, "--apply", "--max-share", "70")
    assert result.exit_code == 0 and doc["removed"] == 2
    assert (aged / JPEG_KEY).exists() and (aged / YOUNG_KEY).exists()
    assert not (aged / PNG_KEY).exists() and not (aged / WEBP_KEY).exists()


def test_grace_period(aged, cli_json, refs):
    _, doc = cli_json("gc", "--referenced", refs, "--older-than", "30m")
    assert YOUNG_KEY in {c["path"] for c in doc["candidates"]}
    _, doc = cli_json("gc", "--referenced", refs, "--older-than", "60d")
    assert doc["candidates"] == []


@pytest.mark.parametrize("content", ["", "\n# nothing\n", "https://meeshy.me/static/x.png\n"])
def test_a_list_naming_nothing_is_refused(aged, cli, tmp_path, content):
    empty = tmp_path / "empty.txt"
    empty.write_text(content)
    before = fingerprint(aged)
    result = cli("gc", "--referenced", empty, "--apply")
    assert result.exit_code == 2
    assert fingerprint(aged) == before


def test_bad_duration(aged, cli, refs):
    assert cli("gc", "--referenced", refs, "--older-than", "soon").exit_code == 2


def test_du_per_month_and_free_space(tree, cli, cli_json, images):
    write(tree, "i/legacy.png", images["png"])
    before = fingerprint(tree)
    result, doc = cli_json("du")
    assert result.exit_code == 0
    size = {k: (tree / k).stat().st_size for k in (JPEG_KEY, PNG_KEY, WEBP_KEY, "i/legacy.png")}
    assert doc["months"] == [
        {"month": "2025-10", "files": 1, "bytes": size[JPEG_KEY]},
        {"month": "2025-11", "files": 1, "bytes": size[PNG_KEY]},
        {"month": "2026-01", "files": 1, "bytes": size[WEBP_KEY]},
        {"month": "other", "files": 1, "bytes": size["i/legacy.png"]},
    ]
    assert doc["files"] == 4 and doc["bytes"] == sum(size.values())
    assert 0 < doc["free_bytes"] <= doc["volume_bytes"]
    text = cli("du").stdout
    assert "2025-10" in text and "total" in text and "free:" in text
    assert fingerprint(tree) == before


def test_du_fails_below_the_free_space_floor(root, tmp_path):
    app = create_app({"ROOT": str(root), "ALLOW_EPHEMERAL": True, "MIN_FREE_BYTES": 2**62})
    result = app.test_cli_runner().invoke(args=["du"])
    assert result.exit_code == 1
    assert "BELOW" in result.stdout


def test_empty_volume(app, cli_json):
    result, doc = cli_json("du")
    assert result.exit_code == 0 and doc["files"] == 0 and doc["months"] == []
