"""`make run`'s first step (devstack/venv.sh) as a newcomer meets it: too old a Python is one
line before anything is installed, a newer python3.1x on PATH is used instead (and said), a venv
left by an older Python or an unfinished install is made again, a good one is kept."""

import os
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
SCRIPT = REPO / "devstack" / "venv.sh"
# Answers the script's two questions (is it 3.11+? which version?) as a Python 3.10 would.
OLD_PYTHON = """#!/bin/sh
case "$2" in *exit*) exit 1 ;; *print*) echo 3.10.12 ;; esac
"""


def fake_path(tmp_path, *, newer: bool) -> Path:
    """A PATH holding an old python3, `rm`, and with `newer` a real python3.11 or later."""
    folder = tmp_path / "bin"
    folder.mkdir()
    (folder / "python3").write_text(OLD_PYTHON)
    (folder / "python3").chmod(0o755)
    (folder / "rm").symlink_to("/bin/rm")
    if newer:
        (folder / "python3.11").symlink_to(os.path.realpath(sys._base_executable))
    return folder


def make_venv(tmp_path, path: Path, venv: Path) -> subprocess.CompletedProcess:
    return subprocess.run(["/bin/sh", str(SCRIPT), str(venv), "python3"], env={"PATH": str(path)},
                          capture_output=True, text=True, timeout=120, check=False)


def test_too_old_a_python_is_one_line_and_makes_nothing(tmp_path):
    done = make_venv(tmp_path, fake_path(tmp_path, newer=False), tmp_path / "venv")
    assert done.returncode == 1 and done.stdout == ""
    assert done.stderr == ("uploads needs Python 3.11 or later: python3 is 3.10.12; install "
                           "python3.11 (or newer) and run again, or set "
                           "PYTHON=/path/to/python3.11\n")
    assert not (tmp_path / "venv").exists()


def test_a_venv_left_by_an_older_python_is_made_again_with_a_newer_one(tmp_path):
    venv = tmp_path / "venv"
    (venv / "bin").mkdir(parents=True)
    (venv / "pyvenv.cfg").write_text("version = 3.10.12\n")
    (venv / "bin" / "python").write_text(OLD_PYTHON)
    (venv / "bin" / "python").chmod(0o755)
    (venv / "lib" / "python3.10" / "site-packages" / "half-installed").mkdir(parents=True)
    path = fake_path(tmp_path, newer=True)
    done = make_venv(tmp_path, path, venv)
    assert done.returncode == 0, done.stderr
    version = "%d.%d.%d" % sys.version_info[:3]  # noqa: UP031 (the script's own format)
    assert done.stdout.splitlines() == [
        f"python3 is 3.10.12, uploads needs 3.11 or later: using python3.11 ({version})",
        f"{venv} was made by an older Python or not finished: making it again",
        f"making {venv} with python3.11 ({version})"]
    assert not (venv / "lib" / "python3.10").exists()
    subprocess.run([venv / "bin" / "python", "-m", "pip", "--version"], check=True,
                   capture_output=True)
    again = make_venv(tmp_path, path, venv)
    assert (again.returncode, again.stdout, again.stderr) == (0, "", "")


def test_a_folder_that_is_not_a_venv_is_left_alone(tmp_path):
    venv = tmp_path / "venv"
    venv.mkdir()
    (venv / "notes.txt").write_text("mine")
    done = make_venv(tmp_path, fake_path(tmp_path, newer=True), venv)
    assert done.returncode == 1
    assert done.stderr == (f"{venv} exists and is not a venv: move it away, or set VENV to "
                           "another folder\n")
    assert (venv / "notes.txt").read_text() == "mine"
