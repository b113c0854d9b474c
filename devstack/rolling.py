"""`make rolling-upgrade`: replace the app replicas of a scale-out deployment one at a time.

`docker compose up -d` recreates every replica of a service at once: with new images, each
upgrade would refuse uploads for as long as the slowest replica takes to stop and start. This
replaces them one by one instead: start one replica more from the current image and settings
(`up -d --no-recreate --scale app=N+1`, waiting until it is healthy), then stop one old replica
with the service's grace period (gunicorn finishes the uploads it holds) and remove it; then the
next. The edge lists the replicas from Docker's DNS (traefik/replicas.py, about 3 s for a new
one to be in its list), so this waits that long before stopping an old one; one that is
stopping refuses new connections, which the edge sends to another.

Standard library only, like persistence.py: it runs with the server's python3 from the
deployment's folder. Exits 1 with one line when a step fails (the old replica then keeps
running).
"""

from __future__ import annotations

import argparse
import shlex
import subprocess
import sys
import time

COMPOSE = "docker compose -f docker-compose.traefik.yml -f docker-compose.s3.yml"
SERVICE = "app"
LISTED = 5  # seconds for the edge to list a new replica (1 s lookups, Traefik's 2 s, margin)


class Failed(Exception):
    pass


def compose(base: list[str], *args: str, timeout: float = 600) -> str:
    done = subprocess.run([*base, *args], capture_output=True, text=True, timeout=timeout)
    if done.returncode != 0:
        lines = (done.stderr or done.stdout).strip().splitlines() or ["no output"]
        raise Failed(f"{' '.join(args[:3])}: {lines[-1]}")
    return done.stdout


def replicas(base: list[str]) -> list[str]:
    """The service's containers (running or not), oldest first."""
    ids = compose(base, "ps", "-a", "-q", SERVICE).split()
    if not ids:
        return []
    out = subprocess.run(["docker", "inspect", "-f", "{{.Created}} {{.Id}}", *ids],
                         capture_output=True, text=True, check=True).stdout
    return [line.split()[1] for line in sorted(out.splitlines())]


def upgrade(base: list[str], grace: int, wait: int, say=print) -> int:
    old = replicas(base)
    if not old:
        raise Failed(f"no {SERVICE} container: is the deployment up?")
    count = len(old)
    for n, container in enumerate(old, 1):
        compose(base, "up", "-d", "--no-deps", "--no-recreate", "--wait", "--wait-timeout",
                str(wait), "--scale", f"{SERVICE}={count + 1}", SERVICE, timeout=wait + 60)
        time.sleep(LISTED)
        subprocess.run(["docker", "stop", "-t", str(grace), container], capture_output=True,
                       check=True, timeout=grace + 60)
        subprocess.run(["docker", "rm", container], capture_output=True, check=True)
        say(f"ok   replica {n}/{count} replaced ({container[:12]})", flush=True)
    return count


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--compose", default=COMPOSE,
                        help=f"the deployment's compose command (default: {COMPOSE})")
    parser.add_argument("--grace", type=int, default=30,
                        help="seconds a replica has to finish its uploads (the compose "
                             "file's stop_grace_period for app, 30)")
    parser.add_argument("--wait", type=int, default=180,
                        help="seconds a new replica has to become healthy (180)")
    args = parser.parse_args(argv)
    try:
        count = upgrade(shlex.split(args.compose), args.grace, args.wait)
    except (Failed, subprocess.SubprocessError, OSError) as exc:
        print(f"FAIL {exc}", flush=True)
        return 1
    print(f"ok   {count} replicas running the current image and settings", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
