"""Every setting in one table: name, default, meaning, and a parser that fails fast.

The same table validates the environment at start-up, feeds the app's config and renders the
README's configuration section (`make readme`), so they cannot drift. A variable with the
prefix that is not in the table stops the start-up too, naming the closest setting: a typo must
not silently leave a default in force.
Settings marked "edge" are read by Traefik's templating or the stack runner, "compose" ones only
by docker-compose.traefik.yml, "tooling" ones by the test and benchmark scripts; the app still
validates them all, so that a typo stops the deployment instead of silently disabling a limit.
"""

import difflib
from dataclasses import dataclass
from typing import Any

from .coherence import cross_checks, secret_files
from .values import (
    base_url,
    boolean,
    choice,
    endpoint,
    networks,
    origins,
    sizes,
    text,
    whole,
)

PREFIX = "UPLOADS_"


class ConfigError(Exception):
    """A setting, or the storage it names, that the service must not start with. Raised at
    start-up only, and reported as one line; never an HTTP answer."""

    def __init__(self, detail: str):
        super().__init__(detail)
        self.detail = detail


@dataclass(frozen=True)
class Setting:
    name: str  # without the prefix; the config key is the same name
    default: str
    meaning: str
    parse: Any = text
    where: str = "app"  # or "edge", "compose", "tooling": who reads it besides the check


MIB = 1024 * 1024

SETTINGS: tuple[Setting, ...] = (
    Setting("ROOT", "static_root", "Storage root: files live under `<root>/i/p/YYYY/MM/` "
            "(attachments under `<root>/f/p/YYYY/MM/`)."),
    Setting("PUBLIC_BASE_URL", "http://127.0.0.1:8080",
            "Public origin prepended to `path` to make `url` (never taken from the request).",
            base_url),
    Setting("STORAGE", "local",
            "Where images are stored: `local` (the volume at `ROOT`) or `s3` (an S3-compatible "
            "bucket; nginx reads it through its cache).", choice("local", "s3")),
    Setting("S3_ENDPOINT", "",
            "S3 endpoint URL (SeaweedFS, MinIO, Ceph RGW, Garage, R2); empty: AWS S3 in "
            "`S3_REGION` (`make run`: a local SeaweedFS).", endpoint),
    Setting("S3_BUCKET", "", "Bucket holding the objects; keys are URL paths (`i/p/...`)."),
    Setting("S3_REGION", "us-east-1", "Region of the bucket (for signing)."),
    Setting("S3_ACCESS_KEY_ID", "", "Access key of the app's S3 identity (read-write)."),
    Setting("S3_ACCESS_KEY_ID_FILE", "", "A file holding `S3_ACCESS_KEY_ID` (a secret mount)."),
    Setting("S3_SECRET_ACCESS_KEY", "", "Secret key of the app's S3 identity."),
    Setting("S3_SECRET_ACCESS_KEY_FILE", "",
            "A file holding `S3_SECRET_ACCESS_KEY` (a secret mount)."),
    Setting("S3_CACHE_SECONDS", "600",
            "How long nginx serves an object from its cache before asking the store again: the "
            "longest a deleted object can still be served (S3 mode).", whole(1, 86400),
            where="edge"),
    Setting("ALLOW_EPHEMERAL", "false",
            "Start even when the root is not a mount point of its own (development, tests).",
            boolean),
    Setting("VOLUME_ID", "",
            "The id the store must carry (written into it at its first start, logged at each "
            "start, in /readyz): the app refuses another store, or one without an id, even "
            "empty. Empty: any store, and one without an id gets one.", text),
    Setting("LANGUAGE", "fr", "Language of error messages (`fr` or `en`) for clients whose "
            "Accept-Language names neither.", choice("fr", "en")),
    Setting("MAX_BYTES", str(5 * MIB), "Largest accepted file, in bytes (5 MiB).", whole(1)),
    Setting("ATTACHMENTS", "false",
            "Accept attachments at POST /api/upload/attachment (README, \"The attachment "
            "contract\"); off, that route is a 404. Off by default: a new way to fill the storage "
            "is the operator's choice, not a side effect of an upgrade.",
            boolean),
    Setting("ATTACHMENT_MAX_FILES", "10",
            "Files one attachment upload may carry (parts named `file`); more: 400.",
            whole(1, 100)),
    Setting("ATTACHMENT_IMAGE_MAX_BYTES", str(20 * MIB),
            "Largest accepted image attachment, in bytes (20 MiB): a part is refused with 413 "
            "as soon as it passes it.", whole(1)),
    Setting("ATTACHMENT_MAX_BYTES", str(100 * MIB),
            "Largest accepted attachment of the other kinds (PDF, audio, video, text), in bytes "
            "(100 MiB); with 1 MiB of framing, also the most a whole attachment upload may "
            "carry (the edge refuses more before it arrives).", whole(1)),
    Setting("ATTACHMENT_FILENAME_MAX", "120",
            "Longest display name kept for an attachment, in characters (and at most 200 "
            "bytes of UTF-8); the extension is kept.", whole(16, 200)),
    # Private attachments (README, "Private attachments"): signed, expiring links.
    Setting("ATTACHMENTS_PRIVATE", "false",
            "Attachments are served only on signed links that expire (`?expires=&sig=`, checked "
            "by nginx); a missing, altered or expired signature gets 403. Needs `LINK_SECRET`.",
            boolean),
    Setting("LINK_SECRET", "",
            "With `ATTACHMENTS_PRIVATE=true`: the key that signs attachment links, shared with "
            "nginx and with any gateway that signs stored paths itself; at least 32 characters "
            "of A-Z a-z 0-9 `_` `-` (`python3 -c 'import secrets; "
            "print(secrets.token_urlsafe(32))'`)."),
    Setting("LINK_SECRET_FILE", "", "A file holding `LINK_SECRET` (a secret mount)."),
    Setting("LINK_SECONDS", "3600",
            "Lifetime of a signed link the app gives out (upload answers, POST /api/upload/sign), "
            "in seconds: 60 (a minute) to 604800 (a week).", whole(60, 604800)),
    Setting("LINK_NGINX_CONF", "",
            "Where the app writes, at start, the nginx include that gives nginx the link "
            "secret (compose: `/run/uploads-link/link.conf`, in a volume nginx reads); empty: "
            "none written (`make run` writes its own)."),
    Setting("MAX_PIXELS", "25000000",
            "Largest accepted image in pixels (width x height); more is a decompression bomb.",
            whole(1)),
    Setting("DECODE_SLOTS", "1",
            "Images decoded at once per worker (workers x slots ~ cores); bounds memory.",
            whole(1, 64)),
    Setting("CLIENT_SLOTS", "2",
            "Uploads one client (JWT subject, else IP) may have waiting for or holding a decode "
            "slot in a worker; one more gets 503 `busy` at once.", whole(1, 64)),
    Setting("QUEUE_SECONDS", "5",
            "Longest wait for a decode slot; past it the upload gets 503 `busy` with "
            "Retry-After instead of hanging.", whole(1, 60)),
    Setting("MAX_INPUT_SIDE", "16384", "Largest accepted width or height of an upload, in px.",
            whole(1, 65535)),
    Setting("MAX_SIDE", "2048", "Longest side of a stored image; larger ones are scaled down.",
            whole(16, 16384)),
    Setting("IMAGE_BUDGET_MS", "1000",
            "Estimated server time an upload may cost, in ms on the reference machine, told "
            "from its headers before decoding (`uploads/cost.py`); over it: 422.", whole(50)),
    Setting("IMAGE_BUDGET_MB", "150",
            "Estimated memory an upload may take to decode and re-encode, in MB; over it: 422.",
            whole(32)),
    Setting("JPEG_QUALITY", "85", "JPEG re-encoding quality (1-95).", whole(1, 95)),
    Setting("WEBP_QUALITY", "85", "WebP re-encoding quality (1-100).", whole(1, 100)),
    Setting("VARIANTS", "64,128,256,512",
            "Boxes, in px, of the smaller WebP copies written with each upload (longest side "
            "at most the box, never upscaled; README, \"Variants\"). Empty: none.",
            sizes(16, 2048)),
    Setting("VARIANT_QUALITY", "75", "WebP quality of the variants (1-100).", whole(1, 100)),
    Setting("MIN_FREE_BYTES", str(64 * MIB),
            "Free space kept on the volume: below it uploads get 507 and /readyz fails.",
            whole(0)),
    Setting("AUTH", "none", "Who may upload: `none` (anyone) or `jwt` (a Bearer token).",
            choice("none", "jwt")),
    Setting("JWT_SECRET", "", "Shared secret for HS256 tokens (with `AUTH=jwt`)."),
    Setting("JWT_PUBLIC_KEY", "", "PEM public key for RS256/ES256 tokens (with `AUTH=jwt`)."),
    Setting("JWT_AUDIENCE", "", "Required `aud` claim, when set."),
    Setting("JWT_ISSUER", "", "Required `iss` claim, when set."),
    Setting("JWT_LEEWAY", "30", "Clock skew allowed on `exp`/`nbf`, in seconds.", whole(0, 600)),
    Setting("DELETE_SECRET", "",
            "Key of the delete links (`delete_url`, README \"Deleting uploads\"), at least 32 "
            "characters, the same for every replica. Empty: a random one made once and kept in "
            "the store (`.uploads-delete-secret`, never served). Changing it voids every delete "
            "link given so far."),
    Setting("DELETE_SECRET_FILE", "", "A file holding `DELETE_SECRET` (a secret mount)."),
    Setting("PROXY_COUNT", "1",
            "Proxies in front of the app that set X-Forwarded-For (Traefik: 1).", whole(0, 5)),
    Setting("BIND", "127.0.0.1:8000", "gunicorn listen address."),
    Setting("WORKERS", "2", "gunicorn worker processes.", whole(1, 64)),
    Setting("THREADS", "4", "Threads per gunicorn worker (gthread).", whole(1, 64)),
    Setting("TIMEOUT", "30", "Seconds a request may take before its worker is recycled.",
            whole(1, 3600)),
    Setting("GRACEFUL_TIMEOUT", "20", "Seconds workers get to finish on shutdown.",
            whole(1, 3600)),
    Setting("MAX_REQUESTS", "2000", "Requests before a worker is replaced (with jitter); 0 off.",
            whole(0)),
    Setting("LOG_LEVEL", "info", "Log level.", choice("debug", "info", "warning", "error")),
    Setting("APP_URL", "http://127.0.0.1:8000",
            "Where Traefik finds the app (compose: `http://app:8000`).", base_url, where="edge"),
    Setting("STATIC_URL", "http://127.0.0.1:8081",
            "Where Traefik finds nginx (compose: `http://static:8080`).", base_url, where="edge"),
    Setting("PORT", "8080", "Port of the edge (Traefik) on loopback for `make run`.",
            whole(1, 65535), where="edge"),
    Setting("METRICS_PORT", "8083",
            "Port of the edge's Prometheus metrics (`/metrics`), an entry point of its own: on "
            "loopback for `make run`; in compose reachable inside its network only "
            "(`traefik:<port>/metrics`), not published.", whole(1, 65535), where="edge"),
    Setting("RATE_LIMIT", "30", "Uploads per minute per client IP at the edge; 0 turns it off.",
            whole(0), where="edge"),
    Setting("RATE_BURST", "10", "Uploads a client IP may make at once before the rate applies.",
            whole(1), where="edge"),
    Setting("MAX_CONCURRENT", "8",
            "Uploads a client IP may have in progress at the edge at once (bodies still "
            "arriving included); more get 429. Bounds what one IP holds in the edge's memory.",
            whole(1, 1000), where="edge"),
    Setting("READ_TIMEOUT", "300",
            "Seconds a client has to send a whole request, body included (300: a 5 MiB photo "
            "at 18 KB/s); slower gets 408. At most 360 (the edge's write timeout is 420 s).",
            whole(2, 360), where="edge"),
    Setting("TRUSTED_PROXIES", "",
            "Comma-separated addresses/CIDRs of the load balancers in front of Traefik: only "
            "their X-Forwarded-For names the client (rate-limit IP). Empty: the TCP peer.",
            networks, where="edge"),
    Setting("TRUSTED_HOPS", "0",
            "With `TRUSTED_PROXIES`: the client is this many places from the right of "
            "X-Forwarded-For (0 or 1: the peer the load balancer saw).",
            whole(0, 5), where="edge"),
    Setting("HTTPS", "false", "The edge speaks TLS with a Let's Encrypt certificate (compose).",
            boolean, where="edge"),
    Setting("DOMAIN", "", "Host name of the certificate (with `HTTPS=true`).", where="edge"),
    Setting("ACME_EMAIL", "", "Let's Encrypt account e-mail (with `HTTPS=true`).", where="edge"),
    Setting("HSTS_SECONDS", "31536000",
            "With `HTTPS=true`: max-age of the Strict-Transport-Security header the edge adds "
            "to every HTTPS answer (a year); 0: none.", whole(0, 63072000), where="edge"),
    Setting("CORS_ORIGINS", "",
            "Comma-separated origins allowed to upload from a browser (answered at the edge).",
            origins, where="edge"),
    Setting("LISTEN", "80", "Host port Traefik publishes (443 with `HTTPS=true`).",
            whole(1, 65535), where="compose"),
    Setting("REDIRECT_LISTEN", "",
            "With `HTTPS=true`: host port (or address:port) whose plain HTTP requests Traefik "
            "redirects to HTTPS on 443 (usually 80); empty: none.", where="compose"),
    Setting("ACME_CA_SERVER", "https://acme-v02.api.letsencrypt.org/directory",
            "ACME directory for the certificate (Let's Encrypt's staging one for trials).",
            base_url, where="compose"),
    Setting("APP_IMAGE", "uploads-app:latest", "Tag of the app image compose builds and runs.",
            where="compose"),
    Setting("VOLUME", "uploads_data",
            "Name of the volume holding the files, whatever the compose project is called "
            "(another to adopt an existing one).", where="compose"),
    Setting("VOLUME_EXTERNAL", "false",
            "`true` when `VOLUME` names a volume compose must not create.", boolean,
            where="compose"),
    Setting("APP_REPLICAS", "2",
            "Scale-out (`docker-compose.s3.yml`): app replicas behind Traefik, which checks "
            "each on `/readyz` and retries an upload none took (1 to 64; `edge-replicas` "
            "refuses others).", whole(1, 64), where="compose"),
    Setting("SEAWEEDFS_VOLUME", "uploads_seaweedfs",
            "Scale-out: name of the volume holding SeaweedFS's data (the images).",
            where="compose"),
    Setting("S3_CACHE_VOLUME", "uploads_s3_cache",
            "Scale-out: name of the volume holding nginx's cache of the store.", where="compose"),
    Setting("ENGINE_STATE", "/run/uploads-engine",
            "Where `docker/engine.sh` keeps the pid and log of the engine it starts.",
            where="tooling"),
    Setting("STANDIN_CACHE", "~/.cache/uploads-standins",
            "Cache of the Debian root the local stand-in images are built from.",
            where="tooling"),
)


def load(environ, overrides: dict | None = None) -> dict:
    """Parse every setting from `environ` (and test overrides); ConfigError on any bad one."""
    overrides = overrides or {}
    config, problems = {}, unknown(environ)
    for setting in SETTINGS:
        if setting.name in overrides:
            config[setting.name] = overrides[setting.name]
            continue
        raw = environ.get(PREFIX + setting.name, setting.default)
        try:
            config[setting.name] = setting.parse(raw)
        except ValueError as exc:
            problems.append(f"{PREFIX}{setting.name}={raw!r}: {exc}")
    if not problems:
        problems = secret_files(config) + cross_checks(config)
    if problems:
        raise ConfigError("invalid configuration: " + "; ".join(problems))  # one line
    return config


def default(name: str):
    """A setting's default, parsed: for code that must know it whatever the configuration."""
    setting = next(s for s in SETTINGS if s.name == name)
    return setting.parse(setting.default)


def unknown(environ) -> list[str]:
    """A line for each prefixed variable that is no setting, with the closest one."""
    known = [PREFIX + s.name for s in SETTINGS]
    problems = []
    for name in sorted(n for n in environ if n.startswith(PREFIX) and n not in known):
        close = difflib.get_close_matches(name, known, n=1, cutoff=0.6)
        hint = f"; did you mean {close[0]}?" if close else " (README, Configuration)"
        problems.append(f"{name} is not a setting{hint}")
    return problems


def markdown_table() -> str:
    """The README's configuration table."""
    rows = ["| Variable | Default | Meaning |", "|---|---|---|"]
    for s in SETTINGS:
        default = f"`{s.default}`" if s.default else "(empty)"
        where = "" if s.where == "app" else f" *({s.where})*"
        rows.append(f"| `{PREFIX}{s.name}` | {default} | {s.meaning}{where} |")
    return "\n".join(rows)


def write_readme(path: str) -> None:
    """Replace the table between the README's settings markers."""
    with open(path, encoding="utf-8") as f:
        text = f.read()
    begin, end = "<!-- settings:begin -->", "<!-- settings:end -->"
    head, _, rest = text.partition(begin)
    _, _, tail = rest.partition(end)
    with open(path, "w", encoding="utf-8") as f:
        f.write(f"{head}{begin}\n{markdown_table()}\n{end}{tail}")
