"""The real-engine tier: a Docker engine, local stand-in images, the compose file unchanged.

`make e2e-docker` runs it (`pytest -m docker`). It installs and starts the engine itself
(docker/engine.sh) and skips, saying why, only when no engine can start. Everything it creates
carries its own project name and is removed at the end; images are kept for the next run.
"""

import os
import subprocess

import pytest
from harness import MAX_BYTES, REPO, Deployment, PhoneFile, phone_images, remove_leftovers, run

from devstack import free_port
from devstack.client import clean_env, multipart
from uploads import create_app


def pytest_collection_modifyitems(config, items):
    """Engine tests run only when asked for (`-m docker`), so `make pytest` stays engine-free."""
    if "docker" in (config.getoption("markexpr") or ""):
        return
    skip = pytest.mark.skip(reason="needs a Docker engine: run `make e2e-docker`")
    for item in items:
        if item.get_closest_marker("docker"):
            item.add_marker(skip)


def start_engine() -> bool:
    """Start (or find) the engine; True when this run started it. Skip when none can start."""
    done = subprocess.run([str(REPO / "docker" / "engine.sh"), "start"], capture_output=True,
                          text=True, timeout=900, cwd=REPO,
                          env={**os.environ, "VENV": str(REPO / ".venv")})
    if done.returncode != 0:
        lines = (done.stderr or done.stdout).strip().splitlines() or ["no reason given"]
        reason = f"no Docker engine can start here: {lines[-1]}"
        print(reason)
        pytest.skip(reason)
    return "engine: started" in done.stdout


@pytest.fixture(scope="session")
def engine():
    started = start_engine()
    yield
    if started:
        subprocess.run([str(REPO / "docker" / "engine.sh"), "stop"], timeout=120, cwd=REPO,
                       check=False)


@pytest.fixture(scope="session")
def standins(engine):
    """Local images under the names the compose file uses (no registry is reachable)."""
    run(str(REPO / "docker" / "standins" / "build.sh"), timeout=900, cwd=REPO,
        env={**os.environ, "VENV": str(REPO / ".venv")})


@pytest.fixture(scope="module")
def deployment(standins, tmp_path_factory):
    remove_leftovers()
    deploy = Deployment(tmp_path_factory.mktemp("deploy"), free_port())
    deploy.compose("build", "app", timeout=900)
    deploy.up()
    yield deploy
    deploy.compose("down", "-v", "--remove-orphans", "--timeout", "10", check=False)
    remove_leftovers()
    dangling = run("docker", "images", "-q", "--filter", "dangling=true", "--filter",
                   "label=org.opencontainers.image.title=uploads").stdout.split()
    if dangling:
        run("docker", "rmi", *dangling, check=False)


@pytest.fixture(scope="session")
def phone_files(tmp_path_factory) -> dict[str, PhoneFile]:
    """Made once per session (a few seconds), each with the in-process app's answer."""
    root = tmp_path_factory.mktemp("reference") / "root"
    with pytest.MonkeyPatch.context() as patch:
        for name in os.environ.keys() - clean_env().keys():
            patch.delenv(name)  # the compose file's defaults, whatever this shell has set
        client = create_app({"ROOT": str(root), "ALLOW_EPHEMERAL": True, "MIN_FREE_BYTES": 0,
                             "AUTH": "none"}).test_client()
    files = {}
    for key, (name, data) in phone_images().items():
        body, mimetype = multipart([("avatar", name, "application/octet-stream", data)])
        answer = client.post("/api/upload/avatar", data=body, content_type=mimetype)
        assert answer.status_code == 201, (key, answer.get_data(as_text=True))
        reply = answer.get_json()["data"]
        [stored] = [p.read_bytes() for p in root.rglob(reply["filename"])]
        files[key] = PhoneFile(name, data, {k: reply[k] for k in (
            "size", "width", "height", "content_type")}, stored)
    assert len(files["png-exactly-max-bytes"].data) == MAX_BYTES
    assert all(len(f.data) > 2 * 1024 * 1024 for f in files.values())
    jpeg = files["jpeg-12mp-exif"].answer  # 4000 x 3000 turned upright by its EXIF
    assert jpeg["height"] > jpeg["width"]
    return files
