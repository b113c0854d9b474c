"""`python -m devstack`: start the stack, print where it answers, stop it on Ctrl-C or SIGTERM.

Storage lives in `static_root/` (or UPLOADS_ROOT) and survives restarts; the edge listens on
UPLOADS_PORT (8080); logs and generated configs go to `var/devstack/`.
"""

import os
import signal
import sys
import time

from .configs import REPO
from .stack import Stack


def _stop(signum, frame):
    raise KeyboardInterrupt


def main() -> int:
    # Both set explicitly: a shell starting us in the background may have left SIGINT ignored.
    signal.signal(signal.SIGTERM, _stop)
    signal.signal(signal.SIGINT, _stop)
    port = int(os.environ.get("UPLOADS_PORT", "8080"))
    root = REPO / os.environ.get("UPLOADS_ROOT", "static_root")  # absolute stays absolute
    run_dir = REPO / "var" / "devstack"
    stack = Stack(root=root, port=port, run_dir=run_dir)
    try:
        stack.start()
        print(f"uploads is up: {stack.url}\n"
              f"  upload page  {stack.url}/uploads/\n"
              f"  upload API   POST {stack.url}/api/upload/avatar (multipart field 'avatar')\n"
              f"  images       {stack.url}/i/p/YYYY/MM/<name>\n"
              f"  storage      {root}\n"
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
