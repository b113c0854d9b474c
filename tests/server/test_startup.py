"""Start-up refuses storage that would not survive the container: the incident's root cause.

Run as production runs it (gunicorn with the project's config, and the flask CLI): a plain
folder is refused unless UPLOADS_ALLOW_EPHEMERAL says so, a mount point of its own is accepted,
and a root the app cannot write is refused whatever the setting.
"""

import pytest
import requests

from devstack.images import make_image

from .checks import post_image
from .process import run_to_exit

COMMANDS = ["gunicorn", "flask"]


@pytest.mark.parametrize("command", COMMANDS)
def test_plain_folder_is_refused_without_allow_ephemeral(tmp_path, command):
    root = tmp_path / "plain"
    root.mkdir()
    result = run_to_exit(root, tmp_path, command, ALLOW_EPHEMERAL="false")
    assert result.returncode != 0, result.stdout
    assert "UPLOADS_ALLOW_EPHEMERAL" in result.stdout
    assert str(root) in result.stdout
    assert list(root.iterdir()) == []  # refused before writing anything


@pytest.mark.parametrize("command", COMMANDS)
def test_missing_root_is_refused_without_allow_ephemeral(tmp_path, command):
    root = tmp_path / "not-mounted"
    result = run_to_exit(root, tmp_path, command, ALLOW_EPHEMERAL="false")
    assert result.returncode != 0, result.stdout
    assert "UPLOADS_ALLOW_EPHEMERAL" in result.stdout
    assert not root.exists()


@pytest.mark.parametrize("command", COMMANDS)
def test_refusal_is_one_clear_message_not_a_traceback(tmp_path, command):
    """An operator reads the reason, not forty lines of Python internals ending with it."""
    root = tmp_path / "plain"
    root.mkdir()
    result = run_to_exit(root, tmp_path, command, ALLOW_EPHEMERAL="false")
    assert result.returncode != 0
    assert "Traceback" not in result.stdout, result.stdout


def test_mount_point_of_its_own_is_accepted(tmpfs, gunicorn):
    root = tmpfs("volume", "8m")
    server = gunicorn(root, ALLOW_EPHEMERAL="false", MIN_FREE_BYTES=0)
    response = post_image(server.url, make_image("PNG", (20, 10)), filename="a.png")
    assert response.status_code == 201, response.text
    assert (root / response.json()["data"]["path"].lstrip("/")).is_file()
    assert requests.get(server.url + "/readyz", timeout=5).status_code == 200


@pytest.mark.parametrize("allow_ephemeral", ["true", "false"])
def test_read_only_root_is_refused_whatever_the_setting(tmpfs, tmp_path, allow_ephemeral):
    root = tmpfs("read-only", "1m", "ro")
    result = run_to_exit(root, tmp_path, "gunicorn", ALLOW_EPHEMERAL=allow_ephemeral)
    assert result.returncode != 0, result.stdout
    assert "not writable" in result.stdout
    assert str(root) in result.stdout
