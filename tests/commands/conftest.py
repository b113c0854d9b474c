"""Fixtures of the operator command tests: real trees on disk, the CLI, tree fingerprints."""

import hashlib
import json
import os
import stat
import time

import jwt
import pytest

from devstack.client import multipart
from devstack.images import make_image
from helpers import cli_runner
from uploads import create_app
from uploads.storage import OWN_NAMES

JPEG_KEY = "i/p/2025/10/avatar_1760877849690_827t7v.jpg"
PNG_KEY = "i/p/2025/11/avatar_1762000000000_abc123.png"
WEBP_KEY = "i/p/2026/01/avatar_1767225600000_zz99aa.webp"


def write(root, key, data, mode=0o644, mtime=None):
    """Put a file in a tree the plain way (no storage code), folders 0755."""
    path = os.path.join(str(root), *key.split("/"))
    folder = os.path.dirname(path)
    os.makedirs(folder, exist_ok=True)
    rel = os.path.relpath(folder, str(root))
    current = str(root)
    for part in rel.split(os.sep):
        current = os.path.join(current, part)
        os.chmod(current, 0o755)
    with open(path, "wb") as f:
        f.write(data)
    os.chmod(path, mode)
    if mtime is not None:
        os.utime(path, (mtime, mtime))
    return path


def fingerprint(root) -> dict:
    """Every entry under root (the temp folder included): type, mode, size, sha256, mtime (s);
    but the store's own id, which differs from store to store (uploads/storage/identity.py)."""
    found = {}
    for folder, dirs, files in os.walk(str(root)):
        for name in [n for n in dirs + files if n not in OWN_NAMES]:
            path = os.path.join(folder, name)
            st = os.lstat(path)
            row = (stat.S_IFMT(st.st_mode), stat.S_IMODE(st.st_mode))
            if stat.S_ISREG(st.st_mode):
                with open(path, "rb") as f:
                    row += (st.st_size, hashlib.sha256(f.read()).hexdigest(), int(st.st_mtime))
            elif stat.S_ISLNK(st.st_mode):
                row += (os.readlink(path),)
            found[os.path.relpath(path, str(root))] = row
    return found


@pytest.fixture
def images():
    return {"jpg": make_image("JPEG"), "png": make_image("PNG", mode="RGBA", color=(0, 0, 0, 0)),
            "webp": make_image("WEBP")}


@pytest.fixture
def tree(app, root, images):
    """A clean storage root with one file of each format, as the app would have stored them."""
    for key in (JPEG_KEY, PNG_KEY, WEBP_KEY):
        write(root, key, images[key.rsplit(".", 1)[1]])
    return root


@pytest.fixture
def cli(app):
    """Run `flask <args>` in process; returns click's result (stdout and stderr apart)."""
    return cli_runner(app)


@pytest.fixture
def cli_json(cli):
    def run(*args, input=None):
        result = cli(*args, "--json", input=input)
        return result, json.loads(result.stdout)

    return run


@pytest.fixture
def other(tmp_path):
    """A second, empty storage root and a CLI runner on it (the machine restored onto)."""
    root = tmp_path / "other"
    app = create_app({"ROOT": str(root), "ALLOW_EPHEMERAL": True, "MIN_FREE_BYTES": 0})
    runner = app.test_cli_runner()

    def run(*args, input=None):
        return runner.invoke(args=[str(a) for a in args], input=input, catch_exceptions=False)

    run.root = root
    return run


JWT_SECRET = "k" * 40


@pytest.fixture
def jwt_app(root):
    """An app on `root` taking uploads with JWTs (their subjects are recorded: owners.py)."""
    return create_app({"ROOT": str(root), "ALLOW_EPHEMERAL": True, "MIN_FREE_BYTES": 0,
                       "ATTACHMENTS": True, "AUTH": "jwt", "JWT_SECRET": JWT_SECRET})


def send(app, sub, route, parts):
    """POST `parts` to `route` with a token of subject `sub`: the answer's data."""
    token = jwt.encode({"sub": sub, "exp": int(time.time()) + 300}, JWT_SECRET, "HS256")
    body, mimetype = multipart(parts)
    answer = app.test_client().post(route, data=body, content_type=mimetype,
                                    headers={"Authorization": f"Bearer {token}"})
    assert answer.status_code == 201, answer.get_json()
    return answer.get_json()["data"]
