"""The scale-out file on top of the base one, as Compose reads it (no engine needed): SeaweedFS
pinned, hardened and unreachable from outside, the replicas, nginx's S3 config kept alike with
the volume's, and the start script's refusals."""

import json
import re
import subprocess

import pytest
from harness import COMPOSE_FILE, REPO, S3_FILE, compose_config

from devstack.configs import replicas_script
from devstack.tools import venv_tool
from uploads.settings import SETTINGS as APP_SETTINGS

SETTINGS = {"UPLOADS_AUTH": "none", "UPLOADS_PUBLIC_BASE_URL": "https://example.com",
            "UPLOADS_S3_ACCESS_KEY_ID": "E2EKEY", "UPLOADS_S3_SECRET_ACCESS_KEY": "s" * 40}
START = REPO / "seaweedfs" / "start.sh"


def config(settings, *args):
    return compose_config([COMPOSE_FILE, S3_FILE], settings, *args)


@pytest.fixture(scope="module")
def project():
    done = config(SETTINGS, "--format", "json")
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)


def test_seaweedfs_is_the_official_image_at_the_release_tested_here(project):
    image = project["services"]["seaweedfs"]["image"]
    tag = re.fullmatch(r"chrislusf/seaweedfs:(\d+\.\d+)", image).group(1)
    local = subprocess.run([venv_tool("weed"), "version"], capture_output=True, text=True,
                           timeout=30).stdout
    assert f" {tag} " in local, local


def test_nothing_but_the_edge_is_published_and_the_store_is_fenced(project):
    services = project["services"]
    assert [s for s, spec in services.items() if spec.get("ports")] == ["traefik"]
    assert project["networks"]["store"]["internal"] is True
    on_store = sorted(s for s, spec in services.items() if "store" in spec.get("networks", {}))
    assert on_store == ["app", "seaweedfs", "static"]
    assert list(services["seaweedfs"]["networks"]) == ["store"]


def test_every_long_running_service_is_hardened_and_seaweedfs_stops_in_its_grace(project):
    for name, spec in project["services"].items():
        assert spec["read_only"] is True, name
        assert "no-new-privileges:true" in spec["security_opt"], name
        assert spec["cap_drop"] == ["ALL"], name
    helper = project["services"]["static-cache"]
    assert helper["cap_add"] == ["CHOWN"] and helper["network_mode"] == "none"
    assert helper["restart"] == "no"
    weed = project["services"]["seaweedfs"]
    assert weed["restart"] == "unless-stopped"
    assert int(weed["stop_grace_period"].removesuffix("s")) >= 10  # `weed mini` needs ~3 s
    assert weed["healthcheck"]["test"][0] == "CMD"
    assert {m["target"] for m in weed["volumes"]} == {"/data", "/etc/uploads/start.sh"}


def test_replicas_and_their_store_come_from_the_settings(project):
    app = project["services"]["app"]
    assert app["deploy"]["replicas"] == 2
    assert app["environment"]["UPLOADS_STORAGE"] == "s3"
    assert app["environment"]["UPLOADS_S3_ENDPOINT"] == "http://seaweedfs:8333"
    assert app["depends_on"]["seaweedfs"]["condition"] == "service_healthy"
    assert project["services"]["traefik"]["environment"]["UPLOADS_APP_REPLICAS"] == "2"
    done = config({**SETTINGS, "UPLOADS_APP_REPLICAS": "4"}, "--format", "json")
    assert json.loads(done.stdout)["services"]["app"]["deploy"]["replicas"] == 4
    volumes = project["volumes"]
    assert volumes["seaweedfs"]["name"] == "uploads_seaweedfs"
    assert volumes["s3_cache"]["name"] == "uploads_s3_cache"
    assert volumes["data"]["name"] == "uploads_data"  # still there, for the move and nginx


def test_the_base_file_alone_is_unchanged_by_the_scale_out_file():
    base = compose_config([COMPOSE_FILE], SETTINGS, "--format", "json")
    services = json.loads(base.stdout)["services"]
    assert sorted(services) == ["app", "static", "traefik"]
    assert services["app"]["environment"]["UPLOADS_STORAGE"] == "local"
    assert "UPLOADS_APP_REPLICAS" not in services["traefik"]["environment"]


def test_the_example_env_file_names_the_scale_out_settings():
    used = set(re.findall(r"\$\{(UPLOADS_\w+)", S3_FILE.read_text()))
    named = set(re.findall(r"^#?(UPLOADS_\w+)=", (REPO / ".env.example").read_text(), re.M))
    assert used - named == set()


def test_nginx_s3_config_is_the_volume_config_plus_the_store():
    """nginx-s3.conf repeats nginx.conf line for line, adding only the store's part and the
    images and attachments includes: a change to one that the other misses would serve two
    ways."""
    def lines(name):
        text = (REPO / "nginx" / name).read_text()
        return [line.strip() for line in text.splitlines()
                if line.strip() and not line.strip().startswith("#")]

    local, s3 = lines("nginx.conf"), lines("nginx-s3.conf")
    start = next(i for i, line in enumerate(s3) if line.startswith("resolver "))
    end = next(i for i, line in enumerate(s3) if line.startswith("proxy_headers_hash_max_size"))
    store = s3[start:end + 1]
    rest = s3[:start] + s3[end + 1:]
    assert rest == [line.replace("images-local", "images-s3").replace("files-local", "files-s3")
                    for line in local]
    cache = next(line for line in store if line.startswith("proxy_cache_valid 200 "))
    default = next(s.default for s in APP_SETTINGS if s.name == "S3_CACHE_SECONDS")
    assert cache == f"proxy_cache_valid 200 {default}s;"
    assert "map $host $uploads_s3_bucket { default uploads; }" in store


def run_start(tmp_path, **env):
    """seaweedfs/start.sh with a stand-in `weed` that prints what it was given."""
    fake = tmp_path / "weed"
    fake.write_text('#!/bin/sh\necho "args: $*"\n'
                    'echo "jwt: ${WEED_JWT_FILER_SIGNING_KEY:+set}"\n'
                    'echo "keys: ${UPLOADS_S3_SECRET_ACCESS_KEY:-gone}"\n'
                    'cat "$SEAWEEDFS_CONFIG_DIR/s3.json"\n')
    fake.chmod(0o755)
    return subprocess.run(["sh", str(START)], capture_output=True, text=True, timeout=30,
                          env={"PATH": "/usr/bin:/bin", "WEED": str(fake),
                               "SEAWEEDFS_CONFIG_DIR": str(tmp_path), **env})


def test_the_start_script_writes_identities_and_turns_off_every_unsafe_default(tmp_path):
    done = run_start(tmp_path, UPLOADS_S3_ACCESS_KEY_ID="AKID1",
                     UPLOADS_S3_SECRET_ACCESS_KEY="s/k+=" + "k" * 16, UPLOADS_S3_BUCKET="uploads")
    assert done.returncode == 0, done.stderr
    head, config = done.stdout.split("{", 1)
    identities = json.loads("{" + config)["identities"]
    assert identities[0] == {"name": "anonymous",
                             "actions": ["Read:uploads/i/*", "Read:uploads/f/*"]}
    assert identities[1]["credentials"] == [{"accessKey": "AKID1",
                                             "secretKey": "s/k+=" + "k" * 16}]
    for flag in ("-master.telemetry=false", "-webdav=false", "-admin.ui=false",
                 "-s3.port.iceberg=0", "-s3.port.lance=0", "-filer.disableDirListing",
                 "-whiteList=127.0.0.1,@", "-bucket=uploads"):
        assert flag in head, flag
    assert "jwt: set" in head and "keys: gone" in head
    assert oct((tmp_path / "s3.json").stat().st_mode & 0o777) == "0o600"


def test_the_start_script_reads_secret_files(tmp_path):
    (tmp_path / "id").write_text("AKIDFILE")
    (tmp_path / "secret").write_text("from-a-file-of-its-own")
    done = run_start(tmp_path, UPLOADS_S3_ACCESS_KEY_ID_FILE=str(tmp_path / "id"),
                     UPLOADS_S3_SECRET_ACCESS_KEY_FILE=str(tmp_path / "secret"))
    assert done.returncode == 0, done.stderr
    assert '"accessKey": "AKIDFILE", "secretKey": "from-a-file-of-its-own"' in done.stdout


@pytest.mark.parametrize("env, says", [
    ({}, "UPLOADS_S3_ACCESS_KEY_ID is not set"),
    ({"UPLOADS_S3_ACCESS_KEY_ID": "A"}, "UPLOADS_S3_SECRET_ACCESS_KEY is not set"),
    ({"UPLOADS_S3_ACCESS_KEY_ID": 'A", "x": "', "UPLOADS_S3_SECRET_ACCESS_KEY": "s"},
     "UPLOADS_S3_ACCESS_KEY_ID holds a character other than"),
    ({"UPLOADS_S3_ACCESS_KEY_ID": "A", "UPLOADS_S3_ACCESS_KEY_ID_FILE": "/x",
      "UPLOADS_S3_SECRET_ACCESS_KEY": "s"}, "set UPLOADS_S3_ACCESS_KEY_ID or"),
    ({"UPLOADS_S3_ACCESS_KEY_ID_FILE": "/nonexistent", "UPLOADS_S3_SECRET_ACCESS_KEY": "s"},
     "cannot be read"),
    ({"UPLOADS_S3_ACCESS_KEY_ID": "A", "UPLOADS_S3_SECRET_ACCESS_KEY": "s" * 16,
      "UPLOADS_S3_BUCKET": "Bad_Name"}, "is not a bucket name"),
    ({"UPLOADS_S3_ACCESS_KEY_ID": "a", "UPLOADS_S3_SECRET_ACCESS_KEY": "a"},
     "UPLOADS_S3_SECRET_ACCESS_KEY has 1 characters, 16 at least"),
])
def test_the_start_script_refuses_in_one_line(tmp_path, env, says):
    done = run_start(tmp_path, **env)
    assert done.returncode != 0
    assert says in done.stderr and "args:" not in done.stdout
    assert len(done.stderr.strip().splitlines()) == 1


def test_the_edge_reads_the_replica_list_and_nothing_else_writes_it(project):
    services = project["services"]
    edge, lister = services["traefik"], services["edge-replicas"]
    dynamic = [m for m in edge["volumes"] if m["target"] == "/etc/traefik/dynamic"]
    assert dynamic == [{"type": "volume", "source": "edge_config",
                        "target": "/etc/traefik/dynamic", "read_only": True, "volume": {}}]
    assert edge["depends_on"]["edge-replicas"]["condition"] == "service_healthy"
    writable = {m["target"]: m.get("read_only", False) for m in lister["volumes"]}
    assert writable == {"/etc/traefik/source": True, "/etc/traefik/dynamic": False}
    assert lister["environment"]["UPLOADS_APP_REPLICAS"] == "2"
    assert not lister.get("ports")


@pytest.mark.parametrize("raw", ["0", "65", "100", "two", "", "-1"])
def test_the_replica_count_is_refused_outside_1_to_64(monkeypatch, raw):
    monkeypatch.setenv("UPLOADS_APP_REPLICAS", raw)
    with pytest.raises(SystemExit) as refused:
        replicas_script().wanted()
    assert "expected a whole number from 1 to 64" in str(refused.value.code)


def test_the_replica_list_is_one_server_each_and_replaced_in_one_rename(tmp_path):
    module = replicas_script()
    text = module.service(["172.20.0.5", "172.20.0.7"])
    assert '- url: "http://172.20.0.5:8000"' in text and '- url: "http://172.20.0.7:8000"' in text
    assert "path: /readyz" in text and "timeout: 5s" in text
    target = tmp_path / "replicas.yml"
    assert module.write(str(target), text) and target.read_text() == text
    assert not module.write(str(target), text)  # unchanged: no rename, no reload
    assert [p.name for p in tmp_path.iterdir()] == ["replicas.yml"]
