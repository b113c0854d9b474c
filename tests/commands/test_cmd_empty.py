"""`backup` and `verify` refuse a store with no file (a wrong or new volume) unless told
`--allow-empty`: "ok: 0 files" is what the incident looked like."""

import json
import os
import tarfile

import pytest

from helpers import cli_runner, stored_files
from uploads import create_app

from .conftest import JPEG_KEY, write


def prepare(root, state):
    """The root as an operator may find it: not there, there without i/, i/ with no file."""
    if state == "root with an empty i/ tree":
        os.makedirs(root / "i" / "p" / "2025" / "10")
        write(root, ".tmp/up-1-scratch", b"outside i/: not a stored file")
    elif state == "root with placeholders only":
        write(root, "i/p/.keep", b"")
        write(root, "i/p/2024/01/readme.txt", b"not an image")
    elif state == "root without i/":
        root.mkdir()
    return root


STATES = {  # state -> what the refusal says was found
    "missing root": "does not exist",
    "root without i/": "has no i/ folder",
    "root with an empty i/ tree": "holds no file under i/",
    "root with placeholders only": "holds 2 file(s) under i/ but no image nginx serves",
}
COMMANDS = {"verify": ("verify",), "backup": ("backup", "-o", "ARCHIVE")}


@pytest.fixture
def reading_cli(root):
    """The CLI as operators run it (no serving start-up: a missing root stays missing)."""
    return cli_runner(create_app({"ROOT": str(root), "ALLOW_EPHEMERAL": True,
                                  "MIN_FREE_BYTES": 0}, serving=False))


def command(name, tmp_path):
    return [str(tmp_path / "b.tar") if a == "ARCHIVE" else a for a in COMMANDS[name]]


@pytest.mark.parametrize("name", COMMANDS)
@pytest.mark.parametrize("state", STATES)
def test_an_empty_store_is_refused_in_one_line(reading_cli, root, tmp_path, name, state):
    prepare(root, state)
    before = stored_files(root) if root.exists() else None
    result = reading_cli(*command(name, tmp_path))
    assert result.exit_code == 1, result.output
    lines = result.stdout.splitlines()
    assert len(lines) == 1, lines
    doing = "back up" if name == "backup" else "verify"
    assert lines[0].startswith(f"REFUSED: storage root {root} {STATES[state]}: nothing to "
                               f"{doing}."), lines[0]
    assert lines[0].endswith("run again with --allow-empty")
    assert not (tmp_path / "b.tar").exists(), "no archive of an empty store"
    assert [p for p in os.listdir(tmp_path) if p.startswith("b.tar")] == []
    assert (stored_files(root) if root.exists() else None) == before


@pytest.mark.parametrize("name", COMMANDS)
@pytest.mark.parametrize("state", [s for s in STATES if "placeholders" not in s])
def test_allow_empty_accepts_it(reading_cli, root, tmp_path, name, state):
    prepare(root, state)
    result = reading_cli(*command(name, tmp_path), "--allow-empty")
    assert result.exit_code == 0, result.output
    assert result.stdout.splitlines()[-1].startswith("ok: 0 files")
    if name == "backup":
        with tarfile.open(tmp_path / "b.tar") as tar:
            assert tar.getnames() == ["MANIFEST.json"]
            assert json.load(tar.extractfile("MANIFEST.json"))["count"] == 0


@pytest.mark.parametrize("name", COMMANDS)
def test_json_refusal(reading_cli, root, tmp_path, name):
    prepare(root, "root without i/")
    result = reading_cli(*command(name, tmp_path), "--json")
    assert result.exit_code == 1
    doc = json.loads(result.stdout)
    assert doc["ok"] is False and doc["files"] == 0
    assert doc["refused"].startswith(f"storage root {root} has no i/ folder")


def test_backup_to_stdout_refuses_on_stderr(reading_cli, root):
    prepare(root, "missing root")
    result = reading_cli("backup", "-o", "-")
    assert result.exit_code == 1
    assert result.stdout_bytes == b"", "nothing that looks like an archive"
    assert result.stderr.startswith(f"REFUSED: storage root {root} does not exist")


@pytest.mark.parametrize("name", COMMANDS)
def test_one_file_is_enough(reading_cli, root, tmp_path, images, name):
    write(root, JPEG_KEY, images["jpg"])
    result = reading_cli(*command(name, tmp_path))
    assert result.exit_code == 0, result.output
    assert "ok: 1 files" in result.stdout
