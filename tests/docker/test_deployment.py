"""The seed's incident replayed against a real engine: every file uploaded through Traefik is
still served, byte for byte, after each thing that used to lose it.

The tests share one deployment and run in file order: each lifecycle step checks every URL
uploaded before it (served through Traefik and stored in the volume), then uploads one more
small image and each phone-size file again.
"""

import datetime
import hashlib
import json
import uuid

import pytest
import requests
from harness import APP_IMAGE, MAX_BYTES, PROJECT, VOLUME, run, wait_until
from stack.net import push_body

import samples
from devstack import free_port
from devstack.client import multipart
from devstack.images import make_image
from helpers import assert_json_error

pytestmark = [pytest.mark.docker, pytest.mark.timeout(900)]

SERVED: dict[str, bytes] = {}  # path -> bytes first served
PHONE_FILES = ["jpeg-12mp-exif", "png-3mb", "webp-7mp", "png-exactly-max-bytes"]
EDGE_LIMIT = MAX_BYTES + 1024 * 1024  # the buffering's maxRequestBodyBytes


def upload_one(deployment, n: int):
    fmt, ext = [("PNG", "png"), ("JPEG", "jpg"), ("WEBP", "webp")][n % 3]
    image = make_image(fmt, (40 + n * 13, 30 + n * 7), color=(n * 40 % 256, 90, 200))
    data = deployment.upload(f"photo{n}.{ext}", image)
    assert data["path"].startswith("/i/p/") and data["path"].endswith("." + ext)
    assert data["url"] == deployment.base + data["path"]
    served = deployment.get(data["path"])
    assert served.status_code == 200
    assert len(served.content) == data["size"]
    SERVED[data["path"]] = served.content


def upload_phone_file(deployment, phone, base=None, **kwargs) -> str:
    """Upload through Traefik, get the in-process app's answer, GET the returned URL (through
    Traefik again) and find the bytes it stored. Returns the path."""
    data = deployment.upload(phone.name, phone.data, base, **kwargs)
    assert {key: data[key] for key in phone.answer} == phone.answer, phone.name
    served = requests.get(data["url"], timeout=30, **kwargs)
    assert served.status_code == 200, (data["url"], served.status_code)
    assert len(served.content) == data["size"]
    assert served.content == phone.stored, f"{phone.name}: other bytes than the app's"
    SERVED[data["path"]] = served.content
    return data["path"]


def assert_all_served(deployment):
    """Every URL handed out so far: the same bytes through Traefik, and the same in the volume."""
    assert SERVED, "nothing was uploaded"
    for path, content in SERVED.items():
        answer = deployment.get(path)
        assert answer.status_code == 200, f"{path}: {answer.status_code}"
        assert answer.content == content, f"{path}: other bytes"
    assert deployment.stored(SERVED) == {
        path: hashlib.sha256(content).hexdigest() for path, content in SERVED.items()}


def test_compose_names_only_images_present_here(deployment):
    images = deployment.compose("config", "--images").stdout.split()
    assert sorted(images) == sorted([APP_IMAGE, "nginx:1.31-alpine", "traefik:v3.7"])


def test_uploads_are_served_by_nginx_from_the_volume(deployment):
    for n in range(4):
        upload_one(deployment, n)
    for path, content in SERVED.items():
        # nginx serves exactly the bytes the app wrote into the volume, with the modes it set.
        out = deployment.compose("exec", "-T", "app", "stat", "-c", "%a %u %s",
                                 "/data" + path).stdout.split()
        assert out == ["644", "10001", str(len(content))]
        digest = deployment.compose("exec", "-T", "app", "sha256sum", "/data" + path).stdout
        assert digest.split()[0] == hashlib.sha256(content).hexdigest()
        answer = deployment.get(path)
        assert answer.headers["Content-Type"].startswith("image/")
        assert "immutable" in answer.headers["Cache-Control"]
        assert "Strict-Transport-Security" not in answer.headers  # plain HTTP: never


@pytest.mark.parametrize("kind", PHONE_FILES)
def test_phone_photos_upload_and_read_back_byte_for_byte(deployment, phone_files, kind):
    """Each accepted format at camera size (all over the 2 MiB that used to get a plain-text
    500), and a file of exactly the limit: the same answer as the app gives in-process."""
    path = upload_phone_file(deployment, phone_files[kind])
    assert deployment.stored([path]) == {path: hashlib.sha256(SERVED[path]).hexdigest()}


def test_traefik_can_write_only_its_small_tmp_its_spool_and_the_certificates(deployment):
    """Production's image has a read-only root under compose; the stand-in must be no kinder:
    no volume declared by the image (the scratch variant of the real image declares /tmp one),
    no TMPDIR of its own. A spilled body goes to the spool volume compose names in TMPDIR
    (attachments spill past 2 MiB); the 16 MiB tmpfs is for nothing else."""
    cid = deployment.container("traefik")["id"]
    host = json.loads(run("docker", "inspect", "-f", "{{json .HostConfig}}", cid).stdout)
    assert host["ReadonlyRootfs"] is True
    assert host.get("Tmpfs") == {"/tmp": "size=16m,mode=1777"}
    mounts = run("docker", "inspect", "-f",
                 "{{range .Mounts}}{{.Destination}}:{{.RW}} {{end}}", cid).stdout.split()
    assert sorted(mounts) == ["/etc/traefik/dynamic:false", "/letsencrypt:true",
                              "/var/spool/traefik:true"]
    env = json.loads(run("docker", "inspect", "-f", "{{json .Config.Env}}", cid).stdout)
    assert "TMPDIR=/var/spool/traefik" in env
    config = json.loads(run("docker", "image", "inspect", "-f", "{{json .Config}}",
                            "traefik:v3.7").stdout)
    assert not config.get("Volumes")
    assert not [v for v in config.get("Env") or [] if v.startswith("TMPDIR=")]


def reached_app(deployment, marker) -> bool:
    return marker in deployment.compose("logs", "--no-log-prefix", "app").stdout


@pytest.mark.parametrize("body_size", [MAX_BYTES + 600 * 1024, EDGE_LIMIT],
                         ids=["limit-plus-600k", "exactly-the-edge-limit"])
def test_a_body_over_the_limit_gets_the_apps_json_413(deployment, body_size):
    """Within the edge's margin the body reaches the app, which words the refusal itself (a
    body of exactly the edge's limit is the one Traefik spills to its /tmp)."""
    marker = f"over-{uuid.uuid4().hex[:12]}"
    framing = len(multipart([("avatar", "big.png", "image/png", b"")])[0])
    png = make_image("PNG", (8, 8))
    body, mimetype = multipart([("avatar", "big.png", "image/png",
                                 png + b"\0" * (body_size - framing - len(png)))])
    assert len(body) == body_size
    answer = requests.post(f"{deployment.base}/api/upload/avatar?probe={marker}", data=body,
                           headers={"Content-Type": mimetype}, timeout=60)
    assert_json_error(answer, 413, "file_too_large")
    assert wait_until(lambda: reached_app(deployment, marker), 10)


@pytest.mark.parametrize("body_size", [EDGE_LIMIT + 1, 50 * 1024 * 1024],
                         ids=["edge-limit-plus-one", "50mb"])
def test_a_body_far_over_the_limit_gets_the_edges_json_413(deployment, body_size):
    marker = f"far-{uuid.uuid4().hex[:12]}"
    status, headers, body, sent = push_body(
        deployment.base, f"/api/upload/avatar?probe={marker}", body_size)
    assert_json_error((status, headers, body), 413, "file_too_large")
    if body_size > 2 * EDGE_LIMIT:
        assert sent < body_size  # refused while the body was still coming
    assert not reached_app(deployment, marker)


def test_post_deployment_smoke_command_passes(deployment):
    """docs/deploy.md's checklist step 5, run from the app's image against the public URL."""
    done = run("docker", "run", "--rm", "--network", "host", "--read-only",
               "-e", "UPLOADS_ALLOW_EPHEMERAL=true", "-e", "UPLOADS_AUTH=none",
               "-e", f"UPLOADS_PUBLIC_BASE_URL={deployment.base}", "-e", "UPLOADS_ROOT=/tmp",
               "--tmpfs", "/tmp", APP_IMAGE, "flask", "--app", "app", "smoke", deployment.base,
               check=False, timeout=120)
    assert done.returncode == 0, done.stdout + done.stderr
    assert [line.split()[:2] for line in done.stdout.splitlines()] == [
        ["ok", step] for step in ("upload", "get", "headers", "head", "missing", "delete")]


def test_static_container_cannot_write_the_volume(deployment):
    """Not even root inside the container: the mount itself is read-only."""
    mounts = run("docker", "inspect", "-f", "{{range .Mounts}}{{.Destination}}:{{.RW}} {{end}}",
                 deployment.container("static")["id"]).stdout.split()
    assert "/data:false" in mounts
    for target in ("/data/probe", "/data/i/probe"):
        done = deployment.compose("exec", "-T", "-u", "0", "static", "sh", "-c",
                                  f"echo x > {target}", check=False)
        assert done.returncode != 0
        assert "Read-only file system" in done.stderr, done.stderr
    existing = "/data" + next(iter(SERVED))
    for command in (f"echo x >> {existing}", f"rm -f {existing}", f"mv {existing} /tmp/"):
        for user in ("0", "101"):
            done = deployment.compose("exec", "-T", "-u", user, "static", "sh", "-c", command,
                                      check=False)
            assert done.returncode != 0, command
    assert_all_served(deployment)


def restart(service):
    """`compose restart <service>`: the same container, started again."""
    def step(deployment):
        before = deployment.container(service)
        deployment.compose("restart", service)
        deployment.up()
        after = deployment.container(service)
        assert after["id"] == before["id"] and after["started"] != before["started"]

    step.__name__ = f"restart_{service}"
    return step


restart_static, restart_app = restart("static"), restart("app")


def force_recreate(deployment):
    before = {s: deployment.container(s)["id"] for s in ("traefik", "app", "static")}
    deployment.up("--force-recreate")
    for service, cid in before.items():
        assert deployment.container(service)["id"] != cid, service


def rebuilt_app_image(deployment):
    before = deployment.container("app")
    deployment.compose("build", "--no-cache", "app", timeout=900)
    deployment.up()
    after = deployment.container("app")
    assert after["image"] != before["image"] and after["id"] != before["id"]


def down_then_up(deployment):
    before = deployment.container("app")["id"]
    deployment.compose("down", "--timeout", "10")
    assert deployment.compose("ps", "-aq").stdout.strip() == ""
    deployment.up()
    assert deployment.container("app")["id"] != before


@pytest.mark.parametrize("step", [restart_static, restart_app, force_recreate,
                                  rebuilt_app_image, down_then_up],
                         ids=lambda step: step.__name__)
def test_files_survive(deployment, phone_files, step):
    step(deployment)
    assert_all_served(deployment)
    upload_one(deployment, len(SERVED))
    for kind in PHONE_FILES:  # the new containers take phone-size files too
        upload_phone_file(deployment, phone_files[kind])


def test_app_refuses_to_start_without_its_volume(deployment):
    done = run("docker", "run", "--rm", "--read-only", "--tmpfs", "/tmp",
               "-e", "UPLOADS_AUTH=none", "-e", f"UPLOADS_PUBLIC_BASE_URL={deployment.base}",
               "--name", f"{PROJECT}-novolume", APP_IMAGE, check=False, timeout=120)
    assert done.returncode != 0
    assert "/data is not a mount point" in done.stdout + done.stderr


def test_seed_backup_and_restore_round_trip(deployment, tmp_path):
    """The seed's own commands, with the volume's name, into a fresh volume; the stack then
    serves every file from the restored volume, adopted by name."""
    backup = tmp_path / "backup"
    backup.mkdir()
    source = deployment.volume()
    restored = f"{PROJECT}_restored"
    archive = f"frontend_uploads_{datetime.date.today():%Y%m%d}.tar.gz"
    run("docker", "run", "--rm", "-v", f"{source}:/source", "-v", f"{backup}:/dest",
        "alpine", "tar", "czf", f"/dest/{archive}", "-C", "/source", ".")
    assert (backup / archive).stat().st_size > 0
    run("docker", "volume", "create", restored)
    try:
        run("docker", "run", "--rm", "-v", f"{restored}:/dest", "-v", f"{backup}:/source",
            "alpine", "tar", "xzf", f"/source/{archive}", "-C", "/dest")
        listing = "cd /v && find . -type f ! -path './.tmp/*' | sort | xargs sha256sum"
        before = run("docker", "run", "--rm", "-v", f"{source}:/v:ro", "alpine", "sh", "-c",
                     listing).stdout
        after = run("docker", "run", "--rm", "-v", f"{restored}:/v:ro", "alpine", "sh", "-c",
                    listing).stdout
        assert before == after
        assert all(f".{path}" in before.split() for path in SERVED)

        deployment.compose("down", "--timeout", "10")
        deployment.write_env(UPLOADS_VOLUME=restored, UPLOADS_VOLUME_EXTERNAL="true")
        deployment.up()
        mounts = run("docker", "inspect", "-f",
                     "{{range .Mounts}}{{.Name}}:{{.Destination}}:{{.RW}} {{end}}",
                     deployment.container("app")["id"]).stdout.split()
        assert f"{restored}:/data:true" in mounts
        assert_all_served(deployment)
        fresh = deployment.upload("new.png", make_image("PNG", (30, 20)))  # ownership came back
        assert deployment.get(fresh["path"]).status_code == 200
    finally:
        deployment.compose("down", "--timeout", "10", check=False)
        deployment.write_env(UPLOADS_VOLUME=VOLUME, UPLOADS_VOLUME_EXTERNAL=None)
        run("docker", "volume", "rm", restored, check=False)
    assert wait_until(lambda: restored not in run("docker", "volume", "ls", "-q").stdout, 10)


ADOPT = ("mkdir -p /v/i && mv /v/p /v/i/ && chown -R 10001:10001 /v "
         "&& find /v -type d -exec chmod 755 {} + && find /v -type f -exec chmod 644 {} +")


def test_the_old_frontend_volume_is_adopted_in_place(deployment):
    """docs/deploy.md, "Adopt": a volume laid out as the old frontend's (p/YYYY/MM/ at its
    root, owned by the frontend's user) serves its old URLs and takes new uploads."""
    legacy = f"{PROJECT}_frontend_uploads"
    old_path = "/i/p/2025/10/avatar_1760877849690_827t7v.jpg"
    old_bytes = make_image("JPEG", (48, 48))
    run("docker", "volume", "create", legacy)
    try:
        run("docker", "run", "--rm", "-i", "-v", f"{legacy}:/app/public/i", "alpine", "sh", "-c",
            "mkdir -p /app/public/i/p/2025/10 && cat > /app/public/i" + old_path[2:]
            + " && chown -R 1000:1000 /app/public/i", input=old_bytes.decode("latin-1"),
            encoding="latin-1")
        run("docker", "run", "--rm", "-v", f"{legacy}:/v", "alpine", "sh", "-c", ADOPT)

        deployment.compose("down", "--timeout", "10")
        deployment.write_env(UPLOADS_VOLUME=legacy, UPLOADS_VOLUME_EXTERNAL="true")
        deployment.up()
        answer = deployment.get(old_path)
        assert answer.status_code == 200 and answer.content == old_bytes
        fresh = deployment.upload("new.png", make_image("PNG", (30, 20)))
        assert deployment.get(fresh["path"]).status_code == 200
    finally:
        deployment.compose("down", "--timeout", "10", check=False)
        deployment.write_env(UPLOADS_VOLUME=VOLUME, UPLOADS_VOLUME_EXTERNAL=None)
        run("docker", "volume", "rm", legacy, check=False)


@pytest.mark.filterwarnings("ignore::urllib3.exceptions.InsecureRequestWarning")
def test_https_mode_serves_the_same_files_over_tls(deployment, phone_files):
    """UPLOADS_HTTPS=true: the public port speaks TLS, every answer carries HSTS, and plain HTTP
    on the redirect port is sent to the same URL over HTTPS. The ACME server is pointed at a
    closed loopback port, so Traefik serves its default certificate and nothing leaves here."""
    https, plain = f"https://127.0.0.1:{deployment.port}", free_port()
    deployment.compose("down", "--timeout", "10")
    deployment.write_env(UPLOADS_HTTPS="true", UPLOADS_DOMAIN="uploads.test",
                         UPLOADS_ACME_EMAIL="ops@uploads.test", UPLOADS_PUBLIC_BASE_URL=https,
                         UPLOADS_ACME_CA_SERVER="https://127.0.0.1:9/directory",
                         UPLOADS_REDIRECT_LISTEN=f"127.0.0.1:{plain}")
    try:
        deployment.up()
        for path, content in SERVED.items():
            answer = requests.get(https + path, verify=False, timeout=30)
            assert answer.status_code == 200 and answer.content == content, path
            assert answer.headers["Strict-Transport-Security"] == "max-age=31536000"
        path = next(iter(SERVED))
        for method, status in (("GET", 301), ("POST", 308)):
            moved = requests.request(method, f"http://127.0.0.1:{plain}{path}?v=1",
                                     allow_redirects=False, timeout=30)
            assert moved.status_code == status, method
            assert moved.headers["Location"] == f"https://127.0.0.1{path}?v=1"  # port 443
        # Plain HTTP on the same port reaches no route: every router now requires TLS.
        assert deployment.get(next(iter(SERVED))).status_code == 404
        answer = requests.post(f"{https}/api/upload/avatar", verify=False, timeout=30,
                               files={"avatar": ("x.png", make_image("PNG", (20, 20)))})
        assert answer.status_code == 201 and answer.json()["data"]["url"].startswith(https)
        assert answer.headers["Strict-Transport-Security"] == "max-age=31536000"
        path = upload_phone_file(deployment, phone_files["jpeg-12mp-exif"], https, verify=False)
        assert deployment.stored([path]) == {path: hashlib.sha256(SERVED[path]).hexdigest()}
    finally:
        deployment.compose("down", "--timeout", "10", check=False)
        deployment.write_env(UPLOADS_HTTPS=None, UPLOADS_DOMAIN=None, UPLOADS_ACME_EMAIL=None,
                             UPLOADS_ACME_CA_SERVER=None, UPLOADS_REDIRECT_LISTEN=None,
                             UPLOADS_PUBLIC_BASE_URL=deployment.base)


def test_private_attachments_and_deletes_work_as_deployed(deployment):
    """The compose file as an operator turns attachments on, private: the app writes nginx's
    link include into the shared volume, nginx checks the links it signs, and a delete through
    the edge makes the files 404 (within nginx's 10 s open-file bound)."""
    deployment.compose("down", "--timeout", "10")
    deployment.write_env(UPLOADS_ATTACHMENTS="true", UPLOADS_ATTACHMENTS_PRIVATE="true",
                         UPLOADS_LINK_SECRET="e2e-link-" + "k" * 32)
    try:
        deployment.up()
        body, mimetype = multipart([("file", "Résumé.pdf", "application/pdf", samples.pdf())])
        answer = requests.post(deployment.base + "/api/upload/attachment", data=body,
                               headers={"Content-Type": mimetype}, timeout=30)
        assert answer.status_code == 201, answer.text
        (pdf,) = answer.json()["data"]["files"]
        assert "&sig=" in pdf["url"] and "?" not in pdf["path"]
        served = requests.get(pdf["url"], timeout=30)
        assert served.status_code == 200 and served.content == samples.pdf()
        assert served.headers["Cache-Control"] == "private, no-cache"
        assert_json_error(deployment.get(pdf["path"]), 403, "link_invalid")
        photo = requests.post(deployment.base + "/api/upload/avatar", timeout=30,
                              files={"avatar": ("a.jpg", make_image("JPEG", (600, 400)))})
        assert photo.status_code == 201, photo.text
        avatar = photo.json()["data"]
        assert deployment.get(avatar["path"]).status_code == 200
        for item, url in ((avatar, avatar["url"]), (pdf, pdf["url"])):
            assert requests.delete(item["delete_url"], timeout=30).status_code == 204
            assert wait_until(lambda url=url: requests.get(url, timeout=10).status_code == 404,
                              timeout=12), f"{url} still served after its delete"
    finally:
        deployment.compose("down", "--timeout", "10", check=False)
        deployment.write_env(UPLOADS_ATTACHMENTS=None, UPLOADS_ATTACHMENTS_PRIVATE=None,
                             UPLOADS_LINK_SECRET=None)
