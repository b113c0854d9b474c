"""`migrate` of old trees: same paths, same bytes, rejects listed, safe to run again (files whose
name and content disagree: test_cmd_migrate_reencode.py)."""

import json
import os

import pytest

from .conftest import JPEG_KEY, PNG_KEY, WEBP_KEY, fingerprint, write

LEGACY = "i/p/2025/10/avatar_1729347849690_827t7v-old.jpg"


@pytest.fixture
def old_public_i(tmp_path, images):
    """A copy of the old container's public/i: its top holds p/ (as `docker cp` gives it)."""
    src = tmp_path / "frontend_uploads"
    for key in (JPEG_KEY, PNG_KEY, WEBP_KEY, LEGACY):
        write(src, key[2:], images[key.rsplit(".", 1)[1]], mode=0o600)  # modes get fixed
    return src


def test_copy_of_public_i_keeps_paths_and_bytes(app, root, cli_json, old_public_i):
    source_before = fingerprint(old_public_i)
    result, doc = cli_json("migrate", "--from", old_public_i)
    assert result.exit_code == 0, result.output
    assert sorted(doc["imported"]) == sorted([JPEG_KEY, PNG_KEY, WEBP_KEY, LEGACY])
    assert doc["legacy"] == [LEGACY]
    for key in doc["imported"]:
        assert (root / key).read_bytes() == (old_public_i / key[2:]).read_bytes()
        assert os.stat(root / key).st_mode & 0o777 == 0o644
    assert fingerprint(old_public_i) == source_before, "the source is only read"

    after = fingerprint(root)
    result, doc = cli_json("migrate", "--from", old_public_i)
    assert result.exit_code == 0
    assert doc["counts"]["imported"] == 0 and doc["counts"]["present"] == 4
    assert fingerprint(root) == after, "a second run changes nothing"


def test_folder_holding_i(app, root, cli, tmp_path, images):
    src = tmp_path / "public"
    write(src, JPEG_KEY, images["jpg"])
    result = cli("migrate", "--from", src)
    assert result.exit_code == 0
    assert "imported 1" in result.stdout
    assert (root / JPEG_KEY).read_bytes() == images["jpg"]


def test_rejects_are_listed_and_fail_the_run(app, root, cli_json, old_public_i, images):
    bad = {
        "p/2025/10/avatar_1760000000000_trunc0.jpg": images["jpg"][:200],
        "p/2025/10/avatar_1760000000000_text00.jpg": b"<?php echo 1; ?>",
        "p/2025/10/notes.txt": b"hello",
        "p/2025/10/.DS_Store": b"\0\0\0\1Bud1",
        "p/2025/10/avatar_1760000000000_upper0.JPG": images["jpg"],  # nginx: 404
        "p/2025/10/.avatar_1760000000000_hidden.jpg": images["jpg"],  # nginx: 404
    }
    for rel, data in bad.items():
        write(old_public_i, rel, data)
    os.symlink("/etc/passwd", old_public_i / "p" / "2025" / "10" / "avatar_link.jpg")
    result, doc = cli_json("migrate", "--from", old_public_i)
    assert result.exit_code == 1
    rejected = {r["path"]: r["problem"] for r in doc["rejected"]}
    assert set(rejected) == {"i/" + rel for rel in bad} | {"i/p/2025/10/avatar_link.jpg"}
    assert "cannot decode" in rejected["i/p/2025/10/avatar_1760000000000_trunc0.jpg"]
    assert rejected["i/p/2025/10/avatar_1760000000000_text00.jpg"] == (
        "not a JPEG, PNG or WebP file")
    assert "links are not followed" in rejected["i/p/2025/10/avatar_link.jpg"]
    assert "lower-case" in rejected["i/p/2025/10/avatar_1760000000000_upper0.JPG"]
    assert "hidden" in rejected["i/p/2025/10/.avatar_1760000000000_hidden.jpg"]
    assert doc["counts"]["imported"] == 4, "the good files still go in"
    for rel in bad:
        assert not (root / "i" / rel).exists()


def test_never_overwrites_a_differing_file(app, root, cli_json, old_public_i, images):
    write(root, JPEG_KEY, images["webp"])
    result, doc = cli_json("migrate", "--from", old_public_i)
    assert result.exit_code == 1
    assert doc["conflicts"] == [JPEG_KEY]
    assert (root / JPEG_KEY).read_bytes() == images["webp"]


def test_dry_run_writes_nothing(app, root, cli, old_public_i):
    before = fingerprint(root)
    result = cli("migrate", "--from", old_public_i, "--dry-run")
    assert result.exit_code == 0 and "would import 4" in result.stdout
    assert fingerprint(root) == before


def test_a_folder_of_neither_layout_is_a_usage_error(app, cli, tmp_path):
    (tmp_path / "empty").mkdir()
    result = cli("migrate", "--from", tmp_path / "empty")
    assert result.exit_code == 2
    assert "neither p/" in result.output


def test_json_lists_counts(app, cli_json, old_public_i):
    _, doc = cli_json("migrate", "--from", old_public_i, "--dry-run")
    assert doc["dry_run"] is True
    assert json.dumps(doc["counts"]) == json.dumps(
        {"imported": 4, "present": 0, "conflicts": 0, "rejected": 0, "reencoded": 0,
         "legacy": 1})
