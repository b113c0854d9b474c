"""The local stack's two generated files, made from the committed configs.

Traefik's static file cannot be templated, so the container's `traefik/traefik.yml` is copied
with exactly five values swapped (the two addresses, dynamic folder, read timeout, trusted
proxies); a swap that finds nothing fails loudly instead of silently running another config.
nginx gets a small main config of its own that includes the shared `nginx/locations.conf`, like
the container's, and the `/i/` location of the storage: `nginx/images-local.conf` (and the
attachments' `/f/`, `nginx/files-local.conf`), or `nginx/images-s3.conf` and
`nginx/files-s3.conf` with the store's upstream and the cache around them. Beside it in
the work folder: the include of the private links' secret (what the app writes in
compose) and a copy of `nginx/files-private.conf`, which the `/f/` locations include by a
name relative to the main config.
"""

import importlib.util
import json
import os
from pathlib import Path
from urllib.parse import urlsplit

from uploads import links, settings

REPO = Path(__file__).resolve().parent.parent
TRAEFIK_STATIC = REPO / "traefik" / "traefik.yml"
TRAEFIK_DYNAMIC = REPO / "traefik" / "dynamic"
NGINX_LOCATIONS = REPO / "nginx" / "locations.conf"
NGINX_MAPS = REPO / "nginx" / "maps.conf"
NGINX_ERRORS = REPO / "nginx" / "errors.conf"
NGINX_IMAGES = {"local": REPO / "nginx" / "images-local.conf",
                "s3": REPO / "nginx" / "images-s3.conf"}
# Attachments under /f/, from the storage of each mode.
NGINX_FILES = {"local": REPO / "nginx" / "files-local.conf",
               "s3": REPO / "nginx" / "files-s3.conf"}
# The link check those include by a relative name (so beside the main config, in run_dir), and
# the include holding the link secret the app writes in compose (uploads/links.py).
NGINX_FILES_PRIVATE = REPO / "nginx" / "files-private.conf"
LINK_INCLUDE = "link.conf"
WEB_DIR = REPO / "web"


def _swap(text: str, old: str, new: str) -> str:
    if text.count(old) != 1:
        raise RuntimeError(f"{TRAEFIK_STATIC.name}: expected {old!r} exactly once")
    return text.replace(old, new)


def replicas_script():
    """traefik/replicas.py as a module: it runs in the deployment, not from this package."""
    spec = importlib.util.spec_from_file_location("replicas", REPO / "traefik" / "replicas.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def traefik_static(port: int, read_timeout: str = "300s", proxies: tuple[str, ...] = (),
                   metrics_port: int = 0, dynamic: Path | None = None) -> str:
    """The container's static config, listening on loopback and reading the repo's routes;
    `proxies` are the peers whose X-Forwarded-For Traefik keeps (UPLOADS_TRUSTED_PROXIES).
    The metrics entry point listens on `metrics_port` (UPLOADS_METRICS_PORT), by default on
    one the system picks: a caller that never scrapes needs no port of its own. `dynamic`: the
    folder of routes, if not the repository's."""
    text = TRAEFIK_STATIC.read_text()
    text = _swap(text, 'address: ":8080"', f'address: "127.0.0.1:{port}"')
    text = _swap(text, 'address: ":8083"', f'address: "127.0.0.1:{metrics_port}"')
    text = _swap(text, "directory: /etc/traefik/dynamic",
                 f"directory: {dynamic or TRAEFIK_DYNAMIC}")
    text = _swap(text, "readTimeout: 300s", f"readTimeout: {read_timeout}")
    text = _swap(text, "trustedIPs: []", f"trustedIPs: {json.dumps(list(proxies))}")
    return text


def _quoted(path) -> str:
    value = str(path)
    if any(c in value for c in "\"'\\;{}$") or any(c.isspace() for c in value):
        raise RuntimeError(f"nginx paths with quotes, spaces or braces are not supported: {value}")
    return value


def s3_origin(config: dict) -> tuple[str, str, int]:
    """(scheme, host, port) nginx fetches objects from: the endpoint, else AWS's regional one."""
    endpoint = config["S3_ENDPOINT"] or f"https://s3.{config['S3_REGION']}.amazonaws.com"
    parts = urlsplit(endpoint)
    return parts.scheme, parts.hostname, parts.port or (443 if parts.scheme == "https" else 80)


def nginx_s3(config: dict, run_dir: Path) -> str:
    """The http-level part of S3 mode: the store's upstream, where and how long to cache."""
    scheme, host, port = s3_origin(config)
    host_header = host if port in (80, 443) else f"{host}:{port}"
    return f"""
    upstream uploads_s3 {{
        server {_quoted(host)}:{port};
        keepalive 32;
    }}
    map $host $uploads_s3_scheme {{ default {scheme}; }}
    map $host $uploads_s3_host {{ default {_quoted(host_header)}; }}
    map $host $uploads_s3_bucket {{ default {_quoted(config["S3_BUCKET"])}; }}
    proxy_cache_path {_quoted(run_dir / "s3-cache")} levels=1:2 keys_zone=uploads_s3:10m
                     max_size=1g inactive=7d use_temp_path=off;
    proxy_cache_valid 200 {config["S3_CACHE_SECONDS"]}s;
    proxy_headers_hash_bucket_size 128;
    proxy_headers_hash_max_size 1024;
"""


def nginx_main(port: int, root: Path, run_dir: Path, language: str = "fr",
               config: dict | None = None) -> str:
    """A main config for a foreground nginx on loopback: everything it writes stays in run_dir.
    `config` (the settings) with STORAGE=s3 serves images from the bucket instead of `root`."""
    tmp = run_dir / "nginx-tmp"
    storage = (config or {}).get("STORAGE", "local")
    s3 = nginx_s3(config, run_dir) if storage == "s3" else ""
    files = (f"\n        include {_quoted(NGINX_FILES[storage])};"
             if storage in NGINX_FILES else "")
    link = write_link_files(config, run_dir)
    # As root, the master would hand requests to `nobody`, who may not read a checkout under a
    # private home; the local stack keeps its workers as the user who started it.
    user = "user root;\n" if os.geteuid() == 0 else ""
    return f"""# Generated by devstack for the local stack; the container uses nginx/nginx.conf.
daemon off;
{user}worker_processes 2;
pid {_quoted(run_dir / "nginx.pid")};
error_log stderr warn;

events {{
    worker_connections 1024;
}}

http {{
    client_body_temp_path {_quoted(tmp / "client-body")};
    proxy_temp_path {_quoted(tmp / "proxy")};
    fastcgi_temp_path {_quoted(tmp / "fastcgi")};
    uwsgi_temp_path {_quoted(tmp / "uwsgi")};
    scgi_temp_path {_quoted(tmp / "scgi")};
    client_max_body_size 1k;

    map $host $uploads_web {{ default {_quoted(WEB_DIR)}; }}
    map $host $uploads_language {{ default {"en" if language == "en" else "fr"}; }}
    include {_quoted(NGINX_MAPS)};
    include {_quoted(link)};
    access_log {_quoted(run_dir / "nginx-access.log")} uploads;
{s3}
    server {{
        listen 127.0.0.1:{port} default_server;
        root {_quoted(root)};
        include {_quoted(NGINX_LOCATIONS)};
        include {_quoted(NGINX_IMAGES[storage])};{files}
        include {_quoted(NGINX_ERRORS)};
    }}
}}
"""


def write_link_files(config: dict | None, run_dir: Path) -> Path:
    """The link secret's include (public when `config` says so or is None) and the link check
    the /f/ locations include, both in run_dir; the include's path."""
    (run_dir / NGINX_FILES_PRIVATE.name).write_text(NGINX_FILES_PRIVATE.read_text())
    link = run_dir / LINK_INCLUDE
    link.write_text(links.nginx_include(config or settings.load({})))
    return link
