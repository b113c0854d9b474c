"""The commands as operators run them: `flask --app app <command>`, configured by the
environment, in a process of their own."""

import json
import subprocess
import sys
from pathlib import Path

import pytest

from devstack.client import clean_env
from uploads.commands import COMMANDS

from .conftest import JPEG_KEY, fingerprint, write

REPO = Path(__file__).resolve().parents[2]
FLASK = Path(sys.executable).parent / "flask"


def flask(root, *args):
    env = clean_env(("FLASK_",), ROOT=root, ALLOW_EPHEMERAL="true", MIN_FREE_BYTES=0)
    return subprocess.run([str(FLASK), "--app", "app", *map(str, args)], cwd=REPO, env=env,
                          capture_output=True, text=True, timeout=120, check=False)


@pytest.mark.parametrize("name", [c.name for c in COMMANDS])
def test_every_command_explains_itself(cli, name):
    result = cli(name, "--help")
    assert result.exit_code == 0
    assert "Usage:" in result.stdout and len(result.stdout.splitlines()) > 8


def test_verify_and_du_through_the_flask_cli(tmp_path, images):
    root = tmp_path / "root"
    write(root, JPEG_KEY, images["jpg"])
    result = flask(root, "verify", "--json")
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout)["files"] == 1
    before = fingerprint(root)
    result = flask(root, "du", "--json", "--progress")
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout)["bytes"] == len(images["jpg"])
    assert fingerprint(root) == before

    write(root, "i/p/2025/10/avatar_1760877849691_broken.jpg", b"\xff\xd8\xff\xe0broken")
    result = flask(root, "verify")
    assert result.returncode == 1
    assert "ERROR i/p/2025/10/avatar_1760877849691_broken.jpg" in result.stdout


@pytest.mark.parametrize("args", [("verify",), ("du",), ("gc", "--referenced", "REFS"),
                                  ("backup", "-o", "OUT")])
def test_reading_commands_leave_the_volume_untouched(tmp_path, images, args):
    """No start-up cleaning behind an operator's back: verify must see a leftover, and a
    command that only reads never creates, deletes or changes anything on the volume."""
    root = tmp_path / "root"
    write(root, JPEG_KEY, images["jpg"])
    write(root, ".tmp/up-999999999-dead", b"half a file")  # a writer that is long gone
    (tmp_path / "refs.txt").write_text("/" + JPEG_KEY + "\n")
    args = [str(tmp_path / "refs.txt") if a == "REFS" else str(tmp_path / "b.tar") if a == "OUT"
            else a for a in args]
    before = fingerprint(root)
    result = flask(root, *args)
    assert fingerprint(root) == before, result.stderr
    if args[0] == "verify":
        assert result.returncode == 1
        assert ".tmp/up-999999999-dead" in result.stdout


def test_backup_restore_through_the_flask_cli(tmp_path, images):
    root, other = tmp_path / "root", tmp_path / "other"
    write(root, JPEG_KEY, images["jpg"])
    archive = tmp_path / "b.tgz"
    assert flask(root, "backup", "-o", archive).returncode == 0
    result = flask(other, "restore", "-i", archive)
    assert result.returncode == 0, result.stderr
    assert (other / JPEG_KEY).read_bytes() == images["jpg"]
