"""`verify` on real trees: clean, and each way a volume goes wrong."""

import os
import time

import pytest

from devstack.images import make_image

from .conftest import JPEG_KEY, PNG_KEY, WEBP_KEY, fingerprint, write


def problems(doc, kind="errors"):
    return {row["path"]: row["problem"] for row in doc[kind]}


def test_clean_tree_passes_and_changes_nothing(tree, cli, cli_json):
    before = fingerprint(tree)
    result, doc = cli_json("verify")
    assert result.exit_code == 0, result.output
    assert doc["ok"] and doc["files"] == 3 and doc["errors"] == [] and doc["warnings"] == []
    assert cli("verify").stdout.strip().startswith("ok: 3 files")
    assert fingerprint(tree) == before


@pytest.mark.parametrize("data, why", [
    (lambda im: im["jpg"][: len(im["jpg"]) // 2], "cannot decode"),
    (lambda im: b"<?php echo 1; ?>", "not a JPEG, PNG or WebP"),
    (lambda im: b"", "not a JPEG, PNG or WebP"),
    (lambda im: im["png"], "PNG content but the name does not end in .png"),
])
def test_bad_content_is_an_error(tree, cli_json, images, data, why):
    key = "i/p/2025/10/avatar_1760877849999_bad000.jpg"
    write(tree, key, data(images))
    result, doc = cli_json("verify")
    assert result.exit_code == 1
    assert not doc["ok"]
    assert why in problems(doc)[key]
    assert list(problems(doc)) == [key]


def test_gif_is_not_accepted_even_named_right(tree, cli_json):
    key = "i/p/2025/10/stray.gif"
    write(tree, key, make_image("GIF", mode="P"))
    result, doc = cli_json("verify")
    assert result.exit_code == 1 and "not a JPEG" in problems(doc)[key]


@pytest.mark.parametrize("target, mode, level", [
    (JPEG_KEY, 0o600, "errors"),  # nginx (another user) cannot read it
    (JPEG_KEY, 0o640, "errors"),
    (JPEG_KEY, 0o666, "errors"),  # anyone may rewrite a served file
    ("i/p/2025/10", 0o700, "errors"),  # nginx cannot enter the month
    ("i/p/2025/10", 0o751, "errors"),  # can enter, cannot list: still not o+r
    (JPEG_KEY, 0o664, "warnings"),  # readable, just not the usual mode
    ("i/p/2025", 0o775, "warnings"),
])
def test_modes(tree, cli_json, target, mode, level):
    path = os.path.join(tree, *target.split("/"))
    os.chmod(path, mode)
    try:
        result, doc = cli_json("verify")
    finally:
        os.chmod(path, 0o755 if os.path.isdir(path) else 0o644)
    assert result.exit_code == (1 if level == "errors" else 0)
    assert f"mode {mode:04o}" in problems(doc, level)[target]


def test_legacy_names_are_warnings_unless_strict(tree, cli_json, images):
    write(tree, "i/p/2025/10/old-avatar.jpg", images["jpg"])
    write(tree, "i/avatar.png", images["png"])
    result, doc = cli_json("verify")
    assert result.exit_code == 0 and doc["ok"]
    assert set(problems(doc, "warnings")) == {"i/p/2025/10/old-avatar.jpg", "i/avatar.png"}
    result, doc = cli_json("verify", "--strict")
    assert result.exit_code == 1 and not doc["ok"]


def test_links_and_special_files_are_errors(tree, cli_json):
    os.symlink("/etc/passwd", os.path.join(tree, "i", "p", "2025", "10", "avatar.jpg"))
    os.mkfifo(os.path.join(tree, "i", "p", "fifo"))
    result, doc = cli_json("verify")
    assert result.exit_code == 1
    found = problems(doc)
    assert "symbolic link" in found["i/p/2025/10/avatar.jpg"]
    assert "special file" in found["i/p/fifo"]


def test_temp_leftovers(tree, cli_json):
    tmp = os.path.join(tree, ".tmp")
    os.makedirs(tmp, exist_ok=True)
    dead = os.path.join(tmp, "up-999999999-dead")  # above any pid_max: no such process
    stale = os.path.join(tmp, f"up-{os.getpid()}-stale")
    live = os.path.join(tmp, f"up-{os.getpid()}-live")  # an upload being written right now
    for path in (dead, stale, live):
        with open(path, "wb") as f:
            f.write(b"partial")
    old = time.time() - 2 * 3600
    os.utime(stale, (old, old))
    result, doc = cli_json("verify")
    assert result.exit_code == 1
    assert set(problems(doc)) == {".tmp/up-999999999-dead", f".tmp/up-{os.getpid()}-stale"}
    assert os.path.exists(dead) and os.path.exists(stale), "verify must not clean, only report"


def test_urls_lists_the_404s(tree, cli_json, tmp_path):
    refs = tmp_path / "refs.txt"
    refs.write_text("\n".join([
        f"https://meeshy.me/{JPEG_KEY}",
        f"/{PNG_KEY}",
        WEBP_KEY,
        "# a comment",
        "",
        "https://meeshy.me/i/p/2025/10/avatar_1760877849690_gone00.jpg",
        "/i/p/2025/09/avatar_1758000000000_gone11.png?v=2",
        "https://meeshy.me/static/logo.svg",
    ]) + "\n")
    result, doc = cli_json("verify", "--urls", refs)
    assert result.exit_code == 1
    assert doc["missing"] == ["i/p/2025/09/avatar_1758000000000_gone11.png",
                              "i/p/2025/10/avatar_1760877849690_gone00.jpg"]
    assert "https://meeshy.me/static/logo.svg" in problems(doc, "warnings")


def test_urls_all_present_passes(tree, cli, tmp_path):
    refs = tmp_path / "refs.txt"
    refs.write_text(f"/{JPEG_KEY}\n/{PNG_KEY}\n")
    result = cli("verify", "--urls", refs)
    assert result.exit_code == 0
    assert "0 referenced files missing" in result.stdout


def test_urls_from_stdin(tree, cli):
    result = cli("verify", "--urls", "-", input=f"/{JPEG_KEY}\n/i/p/2025/10/gone.jpg\n")
    assert result.exit_code == 1
    assert "ERROR i/p/2025/10/gone.jpg: referenced but missing (404)" in result.stdout


def test_progress_bar_keeps_stdout_json(tree, cli_json):
    result, doc = cli_json("verify", "--progress")
    assert doc["ok"]
    assert "verify" in result.stderr
