"""`python -m devstack`: start the stack, print where it answers, stop it on Ctrl-C, SIGTERM or
SIGHUP (the terminal closing), so that nothing is left running for the next `make run` to trip
over.

Settings are read through the table (`uploads.settings`), so a bad one is one line and no start;
storage lives in `static_root/` (or UPLOADS_ROOT) and survives restarts, or with
UPLOADS_STORAGE=s3 in the bucket at UPLOADS_S3_ENDPOINT, or without an endpoint in a local
SeaweedFS whose data is in `var/seaweedfs/`; the edge listens on UPLOADS_PORT (8080); logs and
generated configs go to `var/devstack/`.
"""

import contextlib
import os
import signal
import sys
import time

from uploads import settings

from .configs import REPO
from .stack import Stack, one_line, with_own_store


def _stop(signum, frame):
    raise KeyboardInterrupt


def terminal_gone(was_terminal: bool) -> bool:
    """Our terminal hung up. The kernel sends SIGHUP to the session leader only: when that is
    make (`ssh -t host make run`, a terminal running `make run` itself), make waits for us and
    nothing tells us; a hung-up terminal is no longer a tty."""
    return was_terminal and not os.isatty(sys.stdout.fileno())


def say(text: str, stream=sys.stdout) -> None:
    """Print, unless the terminal is gone (SIGHUP): stopping must not fail on a closed tty."""
    with contextlib.suppress(OSError):
        print(text, file=stream, flush=True)


def who_may_upload(config: dict) -> str:
    """The banner's lines on access: open uploads must never go unnoticed."""
    if config["AUTH"] == "none":
        lines = ["  auth         NONE: anyone who can reach this port may upload "
                 "(UPLOADS_AUTH=jwt requires a token)"]
    else:
        key = "HS256 shared secret" if config["JWT_SECRET"] else "RS256/ES256 public key"
        lines = [f"  auth         jwt: a Bearer token signed with the {key}"]
    origins = ", ".join(config["CORS_ORIGINS"]) or "none (same origin only)"
    lines.append(f"  CORS         {origins}")
    rate, proxies = config["RATE_LIMIT"], config["TRUSTED_PROXIES"]
    limit = f"{rate}/min per client IP, burst {config['RATE_BURST']}" if rate else "off"
    if proxies and rate:
        limit += f" (X-Forwarded-For believed from {', '.join(proxies)})"
    lines.append(f"  rate limit   {limit}")
    return "\n".join(lines) + "\n"


def where(stack, root) -> str:
    """The banner's storage line: the folder, or the bucket (and who runs the store)."""
    config = stack.config
    if config["STORAGE"] != "s3":
        return str(root)
    who = (f"a local SeaweedFS, data in {os.path.relpath(stack.weed.data_dir)}/"
           if stack.weed else "UPLOADS_S3_ENDPOINT")
    return (f"s3://{config['S3_BUCKET']} at {config['S3_ENDPOINT']} ({who}); nginx caches "
            f"reads {config['S3_CACHE_SECONDS']} s")


def banner(url: str, root, run_dir, config: dict) -> str:
    """What `make run` prints once all three answer; the upload page comes first."""
    return (f"uploads is up: {url}/uploads/ (the upload page)\n"
            f"  upload API   POST {url}/api/upload/avatar (multipart field 'avatar')\n"
            f"  images       {url}/i/p/YYYY/MM/<name>\n"
            f"  storage      {root}\n"
            + who_may_upload(config) +
            f"  logs         {os.path.relpath(run_dir)}/{{traefik,nginx,gunicorn}}.log\n"
            "Ctrl-C stops all three.")


def main() -> int:
    # All set explicitly: a shell starting us in the background may have left SIGINT ignored.
    for signum in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
        signal.signal(signum, _stop)
    # Logs and generated configs; `--run-dir DIR` keeps a second runner's apart (the tests).
    args = sys.argv[1:]
    run_dir = REPO / (args[1] if args[:1] == ["--run-dir"] and len(args) == 2
                      else "var/devstack")
    try:
        config = settings.load(with_own_store(os.environ))
        root = REPO / config["ROOT"]  # absolute stays absolute
        stack = Stack(root=root, port=config["PORT"], run_dir=run_dir,
                      s3_dir=run_dir.parent / "seaweedfs",  # var/seaweedfs
                      metrics_port=config["METRICS_PORT"])
    except settings.ConfigError as error:
        say(f"uploads: {one_line(error)}", sys.stderr)
        return 2
    on_terminal = os.isatty(sys.stdout.fileno())
    try:
        stack.start()
        say(banner(stack.url, where(stack, root), run_dir, config))
        while not terminal_gone(on_terminal):
            time.sleep(0.5)
            dead = stack.dead()
            if dead:
                say(f"{dead} stopped on its own; stopping the stack. Its log ends with:\n"
                    + stack.tail(dead), sys.stderr)
                return 1
        return 0
    except KeyboardInterrupt:
        say("\nstopping...")
        return 0
    except RuntimeError as error:
        say(f"could not start the stack: {error}", sys.stderr)
        return 1
    finally:
        for signum in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
            signal.signal(signum, signal.SIG_IGN)
        stack.stop()


if __name__ == "__main__":
    sys.exit(main())
