"""The compose file as Compose itself reads it (the real Go binary, no engine needed): the
hardening, the one volume, and the refusal to start before authentication is chosen."""

import json
import os
import re
import subprocess
from pathlib import Path

import compose
import pytest
from harness import COMPOSE_FILE, REPO

BINARY = Path(compose.__file__).parent / "docker-compose"
SETTINGS = {"UPLOADS_AUTH": "none", "UPLOADS_PUBLIC_BASE_URL": "https://example.com"}


def config(settings, *args):
    env = {k: v for k, v in os.environ.items() if not k.startswith(("UPLOADS_", "COMPOSE_"))}
    return subprocess.run([str(BINARY), "-f", str(COMPOSE_FILE), "--env-file", os.devnull,
                           "config", *args], env={**env, **settings}, capture_output=True,
                          text=True, timeout=60, cwd=REPO)


@pytest.fixture(scope="module")
def project():
    done = config(SETTINGS, "--format", "json")
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)


@pytest.mark.parametrize("missing", ["UPLOADS_AUTH", "UPLOADS_PUBLIC_BASE_URL"])
def test_refuses_until_the_operator_sets(missing):
    done = config({k: v for k, v in SETTINGS.items() if k != missing}, "--quiet")
    assert done.returncode != 0
    assert f"required variable {missing} is missing a value" in done.stderr


def test_only_the_edge_publishes_a_port(project):
    services = project["services"]
    assert sorted(services) == ["app", "static", "traefik"]
    assert [s for s, spec in services.items() if spec.get("ports")] == ["traefik"]
    assert [p["target"] for p in services["traefik"]["ports"]] == [8080]


def test_every_service_is_hardened(project):
    for name, spec in project["services"].items():
        assert spec["restart"] == "unless-stopped", name
        assert spec["read_only"] is True, name
        assert "no-new-privileges:true" in spec["security_opt"], name
        assert spec["cap_drop"] == ["ALL"], name
        assert spec["healthcheck"]["test"][0] == "CMD", name
        assert "curl" not in spec["healthcheck"]["test"], name
        for mount in spec.get("volumes", []):
            assert "docker.sock" not in mount.get("source", ""), name
    for upstream in ("app", "static"):
        assert project["services"]["traefik"]["depends_on"][upstream]["condition"] == \
            "service_healthy"


def test_one_volume_writable_by_the_app_only(project):
    def mounts(service):
        return {m["target"]: m for m in project["services"][service]["volumes"]}

    assert project["volumes"]["data"]["name"] == "uploads_data"
    app, static = mounts("app")["/data"], mounts("static")["/data"]
    assert app["type"] == static["type"] == "volume"
    assert app["source"] == static["source"] == "data"
    assert not app.get("read_only") and static["read_only"] is True
    assert all(m.get("read_only") for t, m in mounts("static").items())


def test_an_existing_volume_is_adopted_by_name():
    done = config({**SETTINGS, "UPLOADS_VOLUME": "meeshy_frontend_uploads",
                   "UPLOADS_VOLUME_EXTERNAL": "true"}, "--format", "json")
    assert done.returncode == 0, done.stderr
    volume = json.loads(done.stdout)["volumes"]["data"]
    assert volume["name"] == "meeshy_frontend_uploads" and volume["external"] is True


def test_edge_limits_match_the_local_stack(project):
    """The entry point's settings are arguments here (so .env can turn HTTPS on) and a file for
    the local stack: every leaf setting of the file's `web` entry point must be an argument."""
    text = (REPO / "traefik" / "traefik.yml").read_text()
    block = text.split("\n  web:\n", 1)[1].split("\n\n", 1)[0]
    leaves = re.findall(r"^\s+(\w+): (\S+)$", block, re.M)
    args = project["services"]["traefik"]["command"]
    assert len(leaves) > 10
    for key, value in leaves:
        if key == "address":
            continue
        value = "" if value == "[]" else value  # a list that .env fills in
        assert any(a.endswith(f".{key}={value}") for a in args), f"{key}: {value}"


def test_https_is_switched_on_by_settings():
    done = config({**SETTINGS, "UPLOADS_HTTPS": "true", "UPLOADS_DOMAIN": "example.com",
                   "UPLOADS_ACME_EMAIL": "ops@example.com", "UPLOADS_LISTEN": "443"},
                  "--format", "json")
    assert done.returncode == 0, done.stderr
    spec = json.loads(done.stdout)["services"]["traefik"]
    assert "--entryPoints.web.http.tls=true" in spec["command"]
    assert "--entryPoints.web.http.tls.domains[0].main=example.com" in spec["command"]
    assert "--certificatesResolvers.letsencrypt.acme.email=ops@example.com" in spec["command"]
    assert spec["ports"][0]["published"] == "443"
