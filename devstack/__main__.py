"""`python -m devstack`: start the stack, print where it answers, stop it on Ctrl-C or SIGTERM.

Storage lives in `static_root/` (or UPLOADS_ROOT) and survives restarts; the edge listens on
UPLOADS_PORT (8080); logs and generated configs go to `var/devstack/`.
"""

import os
import signal
import sys
import time

from .configs import REPO, trusted_proxies
from .stack import Stack


def _stop(signum, frame):
    raise KeyboardInterrupt


def who_may_upload(env) -> str:
    """The banner's lines on access: open uploads must never go unnoticed."""
    auth = env.get("UPLOADS_AUTH", "none").strip().lower() or "none"
    if auth == "none":
        lines = ["  auth         NONE: anyone who can reach this port may upload "
                 "(UPLOADS_AUTH=jwt requires a token)"]
    else:
        key = "HS256 shared secret" if env.get("UPLOADS_JWT_SECRET") else "RS256/ES256 public key"
        lines = [f"  auth         {auth}: a Bearer token signed with the {key}"]
    origins = [o.strip() for o in env.get("UPLOADS_CORS_ORIGINS", "").split(",") if o.strip()]
    lines.append(f"  CORS         {', '.join(origins) if origins else 'none (same origin only)'}")
    rate = env.get("UPLOADS_RATE_LIMIT", "30").strip()
    limit = "off" if rate == "0" else (
        f"{rate}/min per client IP, burst {env.get('UPLOADS_RATE_BURST', '10').strip()}")
    proxies = trusted_proxies(env.get("UPLOADS_TRUSTED_PROXIES"))
    if proxies and rate != "0":
        limit += f" (X-Forwarded-For believed from {', '.join(proxies)})"
    lines.append(f"  rate limit   {limit}")
    return "\n".join(lines) + "\n"


def main() -> int:
    # Both set explicitly: a shell starting us in the background may have left SIGINT ignored.
    signal.signal(signal.SIGTERM, _stop)
    signal.signal(signal.SIGINT, _stop)
    port = int(os.environ.get("UPLOADS_PORT", "8080"))
    root = REPO / os.environ.get("UPLOADS_ROOT", "static_root")  # absolute stays absolute
    # Logs and generated configs; `--run-dir DIR` keeps a second runner's apart (the tests).
    args = sys.argv[1:]
    run_dir = REPO / (args[1] if args[:1] == ["--run-dir"] and len(args) == 2
                      else "var/devstack")
    stack = Stack(root=root, port=port, run_dir=run_dir)
    try:
        stack.start()
        print(f"uploads is up: {stack.url}\n"
              f"  upload page  {stack.url}/uploads/\n"
              f"  upload API   POST {stack.url}/api/upload/avatar (multipart field 'avatar')\n"
              f"  images       {stack.url}/i/p/YYYY/MM/<name>\n"
              f"  storage      {root}\n"
              + who_may_upload(os.environ) +
              f"  logs         {os.path.relpath(run_dir)}/{{traefik,nginx,gunicorn}}.log\n"
              "Ctrl-C stops all three.", flush=True)
        while True:
            time.sleep(0.5)
            dead = stack.dead()
            if dead:
                print(f"{dead} stopped on its own; stopping the stack. Its log ends with:\n"
                      + stack.tail(dead), file=sys.stderr)
                return 1
    except KeyboardInterrupt:
        print("\nstopping...", flush=True)
        return 0
    except RuntimeError as error:
        print(f"could not start the stack: {error}", file=sys.stderr)
        return 1
    finally:
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        stack.stop()


if __name__ == "__main__":
    sys.exit(main())
