"""`python -m devstack.check`: the edge and static configs are accepted by the programs that read
them, without Docker and without starting the app.

- `nginx -t` on the container's `nginx/nginx.conf` and on the local stack's generated configs
  (all include `nginx/locations.conf`; the local stack's in both storage modes);
- Traefik started on a free loopback port with the local copy of `traefik/traefik.yml` and the
  templated routes in `traefik/dynamic/`, once with the defaults and once with other settings:
  it must answer /ping, route /i/, /f/, /api/upload/ and the attachment route (a 502 from
  Traefik, since no upstream is running, proves the router exists; an unknown route would be
  a 404), serve /metrics on its
  metrics entry point and log no error;
- Traefik started with the compose file's own `command:` arguments and environment (as the Go
  compose binary renders them), plain HTTP and HTTPS (ACME pointed at a closed loopback port),
  with only the listen addresses, the dynamic folder and the certificate store swapped: /ping
  on the health entry point, the same routes, and /metrics on the metrics entry point.
"""

import json
import os
import re
import shutil
import ssl
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from pathlib import Path

from uploads import links, settings

from . import configs
from .tools import free_port, http_get, nginx_binary, venv_tool

COMPOSE_FILE = configs.REPO / "docker-compose.traefik.yml"
COMPOSE_VARIANTS = ({}, {"UPLOADS_HTTPS": "true", "UPLOADS_DOMAIN": "uploads.test",
                         "UPLOADS_ACME_EMAIL": "ops@uploads.test"})

VARIANTS = (
    {},
    {"UPLOADS_MAX_BYTES": "1000", "UPLOADS_RATE_LIMIT": "0", "UPLOADS_RATE_BURST": "1",
     "UPLOADS_TRUSTED_PROXIES": "10.0.0.0/8, 192.168.1.7", "UPLOADS_TRUSTED_HOPS": "2",
     "UPLOADS_CORS_ORIGINS": "https://app.example.com,http://127.0.0.1:3000",
     "UPLOADS_LANGUAGE": "en", "UPLOADS_ATTACHMENT_MAX_BYTES": "100000",
     "UPLOADS_ATTACHMENT_IMAGE_MAX_BYTES": "5000"},
    {"UPLOADS_APP_REPLICAS": "2"},  # docker-compose.s3.yml's edge: replicas.yml beside it
)
# Private attachments, with a secret made for the check (uploads/links.py).
PRIVATE = {"UPLOADS_ATTACHMENTS": "true", "UPLOADS_ATTACHMENTS_PRIVATE": "true",
           "UPLOADS_LINK_SECRET": "check-" + "0" * 32}
ANSI = re.compile(r"\x1b\[[0-9;]*m")


def check_nginx(conf: Path, prefix: Path, label: str) -> None:
    result = subprocess.run([nginx_binary(), "-t", "-p", f"{prefix}/", "-c", str(conf)],
                            capture_output=True, text=True, check=False)
    if result.returncode != 0:
        raise SystemExit(f"nginx -t failed for {conf}:\n{result.stderr}")
    print(f"ok   nginx -t {label}")


def check_traefik(work: Path, overrides: dict) -> None:
    port, dead, metrics = free_port(), free_port(), free_port()
    static = work / "traefik.yml"
    proxies = settings.load(overrides)["TRUSTED_PROXIES"]
    dynamic = None
    if overrides.get("UPLOADS_APP_REPLICAS"):  # the folder traefik/replicas.py writes
        dynamic = work / "dynamic"
        shutil.copytree(configs.TRAEFIK_DYNAMIC, dynamic, dirs_exist_ok=True)
        (dynamic / "replicas.yml").write_text(
            configs.replicas_script().service(["127.0.0.1", "127.0.0.2"], port=dead))
    static.write_text(configs.traefik_static(port, proxies=proxies, metrics_port=metrics,
                                             dynamic=dynamic))
    env = {k: v for k, v in os.environ.items() if not k.startswith(("UPLOADS_", "TRAEFIK_"))}
    env.update(overrides, UPLOADS_APP_URL=f"http://127.0.0.1:{dead}",
               UPLOADS_STATIC_URL=f"http://127.0.0.1:{dead}")
    log = work / "traefik.log"
    with open(log, "wb") as out:
        proc = subprocess.Popen([venv_tool("traefik"), f"--configFile={static}"], env=env,
                                stdout=out, stderr=subprocess.STDOUT, start_new_session=True)
    try:
        answers = _wait_for_routes(proc, f"http://127.0.0.1:{port}",
                                   f"http://127.0.0.1:{metrics}")
    finally:
        proc.terminate()
        proc.wait(timeout=15)
    text = ANSI.sub("", log.read_text(errors="replace"))
    errors = [line for line in text.splitlines() if " ERR " in line or '"level":"error"' in line]
    if answers is None or errors:
        raise SystemExit(f"Traefik did not load its config ({overrides or 'defaults'}):\n"
                         + "\n".join(errors or text.splitlines()[-20:]))
    print(f"ok   traefik loads traefik/ ({', '.join(overrides) or 'defaults'}): {answers}")


def _wait_for_routes(proc, url: str, metrics: str):
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline and proc.poll() is None:
        paths = ("/ping", "/i/x.jpg", "/api/upload/avatar", "/f/x.pdf", "/api/upload/attachment")
        answers = [http_get(url + path)[0] for path in paths]
        answers.append(http_get(metrics + "/metrics")[0])
        if answers == [200, 502, 502, 502, 502, 200]:
            return dict(zip(("/ping", "/i/", "/api/upload/", "/f/", "/api/upload/attachment",
                             "/metrics (metrics)"), answers, strict=True))
        time.sleep(0.2)
    return None


def compose_traefik(work: Path, settings: dict) -> tuple[list[str], dict]:
    """The traefik service's command and environment, as `docker compose config` renders them
    from a throwaway env file."""
    import compose

    env_file = work / "compose.env"
    env_file.write_text("".join(f"{k}={v}\n" for k, v in settings.items()))
    env = {k: v for k, v in os.environ.items() if not k.startswith(("UPLOADS_", "COMPOSE_"))}
    done = subprocess.run([str(Path(compose.__file__).parent / "docker-compose"), "-f",
                           str(COMPOSE_FILE), "--env-file", str(env_file), "config", "--format",
                           "json"], env=env, capture_output=True, text=True, timeout=60,
                          cwd=configs.REPO, check=False)
    if done.returncode != 0:
        raise SystemExit(f"docker compose config failed:\n{done.stderr}")
    service = json.loads(done.stdout)["services"]["traefik"]
    return service["command"], service.get("environment") or {}


def _swap_arg(args: list[str], old: str, new: str) -> list[str]:
    if args.count(old) != 1:
        raise SystemExit(f"{COMPOSE_FILE.name}: expected the argument {old!r} exactly once")
    return [new if a == old else a for a in args]


def check_compose_traefik(work: Path, https: dict) -> None:
    port, health, dead, metrics = free_port(), free_port(), free_port(), free_port()
    redirect = free_port()
    settings = {"UPLOADS_AUTH": "none", "UPLOADS_PUBLIC_BASE_URL": "http://127.0.0.1", **https}
    if https:
        settings["UPLOADS_ACME_CA_SERVER"] = f"https://127.0.0.1:{dead}/directory"
    args, service_env = compose_traefik(work, settings)
    for name, old, new in (("web", 8080, port), ("health", 8082, health),
                           ("metrics", 8083, metrics), ("redirect", 8084, redirect)):
        args = _swap_arg(args, f"--entryPoints.{name}.address=:{old}",
                         f"--entryPoints.{name}.address=127.0.0.1:{new}")
    args = _swap_arg(args, "--providers.file.directory=/etc/traefik/dynamic",
                     f"--providers.file.directory={configs.TRAEFIK_DYNAMIC}")
    store = "--certificatesResolvers.letsencrypt.acme.storage="
    args = _swap_arg(args, f"{store}/letsencrypt/acme.json", f"{store}{work}/acme.json")
    env = {k: v for k, v in os.environ.items() if not k.startswith(("UPLOADS_", "TRAEFIK_"))}
    env.update(service_env, UPLOADS_APP_URL=f"http://127.0.0.1:{dead}",
               UPLOADS_STATIC_URL=f"http://127.0.0.1:{dead}")
    label = "HTTPS" if https else "HTTP"
    log = work / f"traefik-compose-{label}.log"
    with open(log, "wb") as out:
        proc = subprocess.Popen([venv_tool("traefik"), *args], env=env, stdout=out,
                                stderr=subprocess.STDOUT, start_new_session=True)
    try:
        scheme = "https" if https else "http"
        answers = _wait_for_compose_routes(proc, f"http://127.0.0.1:{health}",
                                           f"{scheme}://127.0.0.1:{port}",
                                           f"http://127.0.0.1:{metrics}")
    finally:
        proc.terminate()
        proc.wait(timeout=15)
    text = ANSI.sub("", log.read_text(errors="replace"))
    # With HTTPS the ACME server is unreachable on purpose: its errors are expected.
    errors = [line for line in text.splitlines()
              if (" ERR " in line or '"level":"error"' in line)
              and not (https and "acme" in line.lower())]
    if answers is None or errors:
        raise SystemExit(f"Traefik did not load the compose file's arguments ({label}):\n"
                         + "\n".join(errors or text.splitlines()[-20:]))
    print(f"ok   traefik runs {COMPOSE_FILE.name}'s command ({label}): {answers}")


def _status(url: str) -> int:
    context = ssl.create_default_context()
    context.check_hostname, context.verify_mode = False, ssl.CERT_NONE  # Traefik's own cert
    try:
        with urllib.request.urlopen(url, timeout=2, context=context) as answer:  # noqa: S310
            return answer.status
    except urllib.error.HTTPError as error:
        return error.code
    except OSError:
        return 0


def _wait_for_compose_routes(proc, health: str, url: str, metrics: str):
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline and proc.poll() is None:
        answers = [_status(health + "/ping"), _status(url + "/i/x.jpg"),
                   _status(url + "/api/upload/avatar"), _status(url + "/f/x.pdf"),
                   _status(url + "/api/upload/attachment"), _status(metrics + "/metrics")]
        if answers == [200, 502, 502, 502, 502, 200]:
            return dict(zip(("/ping (health)", "/i/", "/api/upload/", "/f/",
                             "/api/upload/attachment", "/metrics (metrics)"), answers,
                            strict=True))
        time.sleep(0.2)
    return None


def main() -> int:
    with tempfile.TemporaryDirectory(prefix="uploads-check-") as tmp:
        work = Path(tmp)
        (work / "nginx-tmp").mkdir()
        # The container's config as it is, but with its /tmp paths in our own folder.
        container = work / "container"
        container.mkdir()
        text = (configs.REPO / "nginx" / "nginx.conf").read_text()
        (container / "nginx.conf").write_text(text.replace(" /tmp/", f" {work}/"))
        (container / "locations.conf").write_text(configs.NGINX_LOCATIONS.read_text())
        (container / "maps.conf").write_text(configs.NGINX_MAPS.read_text())
        (container / "errors.conf").write_text(configs.NGINX_ERRORS.read_text())
        (container / "images-local.conf").write_text(configs.NGINX_IMAGES["local"].read_text())
        (container / "files-local.conf").write_text(configs.NGINX_FILES["local"].read_text())
        (container / "files-private.conf").write_text(configs.NGINX_FILES_PRIVATE.read_text())
        # The app's include of the link secret, at its compose path in our own folder: public,
        # then private (the container's config takes either).
        (container / "nginx.conf").write_text(
            (container / "nginx.conf").read_text().replace(" /run/uploads-link/", f" {work}/"))
        for link_settings in ({}, PRIVATE):
            (work / configs.LINK_INCLUDE).write_text(links.nginx_include(
                settings.load(link_settings)))
            check_nginx(container / "nginx.conf", work, "nginx/nginx.conf (container, "
                        f"{'private' if link_settings else 'public'} attachments)")
        # The scale-out file's config: the same, with the store (its cache in our folder).
        text = (configs.REPO / "nginx" / "nginx-s3.conf").read_text()
        (container / "nginx-s3.conf").write_text(
            text.replace(" /tmp/", f" {work}/").replace(" /cache ", f" {work}/cache ")
            .replace(" /run/uploads-link/", f" {work}/"))
        (container / "images-s3.conf").write_text(configs.NGINX_IMAGES["s3"].read_text())
        (container / "files-s3.conf").write_text(configs.NGINX_FILES["s3"].read_text())
        check_nginx(container / "nginx-s3.conf", work, "nginx/nginx-s3.conf (container, S3)")
        local = work / "nginx.conf"
        local.write_text(configs.nginx_main(free_port(), work / "root", work))
        check_nginx(local, work, "the local stack's main config + nginx/locations.conf")
        local.write_text(configs.nginx_main(free_port(), work / "root", work,
                                            config=settings.load(PRIVATE)))
        check_nginx(local, work, "the local stack's main config, private attachments")
        s3 = settings.load({"UPLOADS_STORAGE": "s3", "UPLOADS_S3_BUCKET": "uploads",
                            "UPLOADS_S3_ENDPOINT": f"http://127.0.0.1:{free_port()}"})
        local.write_text(configs.nginx_main(free_port(), work / "root", work, config=s3))
        check_nginx(local, work,
                    "the local stack's S3-mode config + nginx/images-s3.conf, files-s3.conf")
        for overrides in VARIANTS:
            check_traefik(work, overrides)
        for https in COMPOSE_VARIANTS:
            check_compose_traefik(work, https)
    return 0


if __name__ == "__main__":
    sys.exit(main())
