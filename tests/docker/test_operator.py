"""An operator's plausible mistakes, replayed against a real engine: another project name, another
volume, a stop in the middle of an upload. None of them may lose a file or start quietly on an
empty volume.

The tests share this module's deployment and run in file order; the later ones take it down.
"""

import hashlib
import shlex
import subprocess
import sys
import time
import uuid

import pytest
import requests
from harness import APP_IMAGE, OTHER_PROJECT, PROJECT, REPO, VOLUME, run

from devstack.client import multipart
from devstack.images import make_image

pytestmark = [pytest.mark.docker, pytest.mark.timeout(900)]

ID_FILE = ".uploads-volume-id"
CHECK_STEPS = ["volume", "upload", "get", "recreate", "same-vol", "same-get"]
LABEL = f"com.docker.compose.project={PROJECT}"  # remove_leftovers finds what a test leaves


def volume_file(volume: str, path: str, check=True):
    return run("docker", "run", "--rm", "-v", f"{volume}:/v:ro", "alpine", "cat", f"/v/{path}",
               check=check)


def persistence_check(deployment, *args, env_file=None):
    """`make persistence-check` as an operator runs it, against this run's project."""
    compose = shlex.join(deployment.command(env_file=env_file))
    return run(sys.executable, "devstack/persistence.py", "--url", deployment.base,
               "--compose", compose, *args, check=False, timeout=600, cwd=REPO)


def test_the_app_names_its_volume_at_start_and_in_readyz(deployment):
    volume_id = volume_file(VOLUME, ID_FILE).stdout.strip()
    assert str(uuid.UUID(volume_id)) == volume_id
    ready = deployment.readyz()
    assert (ready["status"], ready["volume_id"], ready["files"]) == ("ready", volume_id, 0)
    logs = deployment.compose("logs", "--no-log-prefix", "app").stdout
    assert f"volume {volume_id}: storage root /data holds 0 files" in logs
    for path in (f"/{ID_FILE}", f"/i/../{ID_FILE}", f"/i/%2e%2e/{ID_FILE}", f"/i/{ID_FILE}"):
        answer = deployment.get(path)
        assert answer.status_code in (400, 404), path
        assert volume_id not in answer.text


def start_app(deployment, volume: str, expected: str):
    """The app's image on `volume`, expecting `expected`: it must refuse, not serve."""
    return run("docker", "run", "--rm", "--read-only", "--tmpfs", "/tmp", "--label", LABEL,
               "-v", f"{volume}:/data", "-e", "UPLOADS_AUTH=none",
               "-e", f"UPLOADS_PUBLIC_BASE_URL={deployment.base}",
               "-e", f"UPLOADS_VOLUME_ID={expected}", APP_IMAGE, check=False, timeout=120)


def test_the_app_refuses_a_volume_that_is_not_the_one_expected(deployment):
    volume_id = deployment.readyz()["volume_id"]
    wrong = str(uuid.uuid4())
    done = start_app(deployment, VOLUME, wrong)
    assert done.returncode != 0
    refusals = [line for line in (done.stdout + done.stderr).splitlines() if "uploads:" in line]
    assert len(refusals) == 1, done.stdout + done.stderr
    assert f"storage root /data is volume {volume_id}, but UPLOADS_VOLUME_ID={wrong}" in \
        refusals[0]

    fresh = f"{PROJECT}_no_id"
    run("docker", "volume", "create", "--label", LABEL, fresh)
    try:
        run("docker", "run", "--rm", "-v", f"{fresh}:/v", "alpine", "chown", "10001:10001", "/v")
        done = start_app(deployment, fresh, volume_id)
        assert done.returncode != 0
        assert "storage root /data is empty and has no volume id" in done.stdout + done.stderr
        run("docker", "run", "--rm", "-v", f"{fresh}:/v", "alpine", "sh", "-c",
            "mkdir -p /v/i/p/2025/10 && echo x > /v/i/p/2025/10/a.png && chown -R 10001 /v")
        done = start_app(deployment, fresh, volume_id)
        assert done.returncode != 0
        assert "storage root /data holds 1 file but no volume id" in done.stdout + done.stderr
        assert volume_file(fresh, ID_FILE, check=False).returncode != 0, "nothing written"
    finally:
        run("docker", "volume", "rm", fresh, check=False)


def test_persistence_check_passes_on_the_deployment(deployment):
    old = deployment.upload("old.png", make_image("PNG", (24, 24)))
    done = persistence_check(deployment, "--existing", old["url"])
    assert done.returncode == 0, done.stdout + done.stderr
    lines = done.stdout.splitlines()
    assert [line.split()[:2] for line in lines] == [["ok", step] for step in CHECK_STEPS], lines
    assert "2 URL(s): the same bytes" in lines[-1]


def test_persistence_check_fails_when_the_recreate_mounts_another_volume(deployment, tmp_path):
    """A changed UPLOADS_VOLUME between two `up`s: the check names both volumes."""
    volume_id = deployment.readyz()["volume_id"]
    swapped = tmp_path / "swapped.env"
    settings = {**deployment.settings, "UPLOADS_VOLUME": f"{PROJECT}_swapped"}
    swapped.write_text("".join(f"{k}={v}\n" for k, v in settings.items()))
    done = persistence_check(deployment, env_file=swapped)
    assert done.returncode == 1, done.stdout + done.stderr
    last = done.stdout.splitlines()[-1]
    assert last.startswith("FAIL same-vol") and "another volume is mounted" in last, last
    assert f"it ran on {volume_id} before" in last
    # The deployment now runs on the swapped volume; the next tests do not need the old one.


SLOW_UPLOAD = """
import socket, sys, time
boundary, body = sys.argv[1], sys.stdin.buffer.read()
conn = socket.create_connection(("app", 8000), timeout=120)
conn.sendall(("POST /api/upload/avatar HTTP/1.1\\r\\nHost: app\\r\\nConnection: close\\r\\n"
              "Content-Type: multipart/form-data; boundary=%s\\r\\nContent-Length: %d\\r\\n\\r\\n"
              % (boundary, len(body))).encode())
step = len(body) // 13 + 1
for start in range(0, len(body), step):
    conn.sendall(body[start:start + step])
    print("sent", start, flush=True)
    time.sleep(1)
answer = b""
while True:
    chunk = conn.recv(65536)
    if not chunk:
        break
    answer += chunk
print(answer.split(b"\\r\\n", 1)[0].decode(), flush=True)
"""


def test_a_stop_lets_an_upload_in_flight_finish(deployment):
    """Straight to the app (Traefik would buffer the body): an upload whose body takes 13 s,
    and `compose stop app` a second into it. Docker's default 10 s would kill it."""
    body, mimetype = multipart([("avatar", "slow.png", "image/png", make_image("PNG", (60, 60)))])
    boundary = mimetype.split("boundary=")[1]
    with subprocess.Popen(
            ["docker", "run", "--rm", "-i", "--label", LABEL, "--network", f"{PROJECT}_default",
             APP_IMAGE, "python", "-c", SLOW_UPLOAD, boundary],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.STDOUT) as client:
        client.stdin.write(body)
        client.stdin.close()
        first = client.stdout.readline()
        assert first.startswith(b"sent"), first + client.stdout.read()
        started = time.monotonic()
        deployment.compose("stop", "app")
        stopped = time.monotonic() - started
        out = client.stdout.read().decode()
        client.wait(timeout=60)
    assert out.splitlines()[-1].startswith("HTTP/1.1 201"), out
    assert 10 < stopped < 30, stopped  # it waited for the upload, not for Docker's kill


def test_another_project_name_finds_the_same_volume(deployment):
    """`-p other` (or COMPOSE_PROJECT_NAME) with the default volume name: the same files, the
    same volume id. The volume is this run's own copy of the deployment's, under the default
    name, which must not exist yet on this engine (it may be a real deployment's)."""
    if "uploads_data" in run("docker", "volume", "ls", "-q").stdout.split():
        pytest.skip("a volume named uploads_data exists on this engine: left alone")
    deployment.compose("down", "--timeout", "30")
    listing = run("docker", "run", "--rm", "-v", f"{VOLUME}:/v:ro", "alpine", "sh", "-c",
                  "cd /v && find i -type f | sort | xargs sha256sum").stdout
    files = {"/" + path: digest for digest, path in (line.split() for line in listing.splitlines())}
    assert len(files) >= 2
    volume_id = volume_file(VOLUME, ID_FILE).stdout.strip()
    run("docker", "volume", "create", "--label", LABEL, "uploads_data")
    deployment.write_env(UPLOADS_VOLUME=None)  # the compose file's default
    try:
        run("docker", "run", "--rm", "-v", f"{VOLUME}:/from:ro", "-v", "uploads_data:/to",
            "alpine", "cp", "-a", "/from/.", "/to/")
        deployment.up(project=OTHER_PROJECT)
        assert deployment.readyz(project=OTHER_PROJECT)["volume_id"] == volume_id
        for path, digest in files.items():
            answer = requests.get(deployment.base + path, timeout=30)
            assert answer.status_code == 200, path
            assert hashlib.sha256(answer.content).hexdigest() == digest, path
        volumes = run("docker", "volume", "ls", "-q").stdout.split()
        assert f"{OTHER_PROJECT}_data" not in volumes
    finally:
        deployment.compose("down", "--timeout", "30", project=OTHER_PROJECT, check=False)
        deployment.write_env(UPLOADS_VOLUME=VOLUME)
        run("docker", "volume", "rm", "uploads_data", check=False)
