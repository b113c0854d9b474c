"""The edge's list of app replicas, for docker-compose.s3.yml: one server per replica, so that
Traefik checks each on /readyz and takes out only the one that fails.

Compose gives the replicas one name (`app`), Docker's DNS the address of each under it, and
Traefik's file provider no way to look a name up. Checked under that one name, a single replica
that could not reach the store, or hung, made every check fail in turn and took the whole
service out (the red team measured 695 of 817 uploads refused while one replica of two was cut
off from the store). This loop looks the name up every second and writes the addresses as the
`uploads-app` service into the folder Traefik watches, beside a copy of the repository's
dynamic configuration (Traefik watches one folder). A replica started, stopped, killed or
replaced is in the list, or out of it, within about 3 s (Traefik applies a change after 2 s).

It refuses to start on an UPLOADS_APP_REPLICAS outside 1-64 (compose would start 0 replicas,
or 100, without a word), and says when fewer replicas answer than were asked for.
"""

import os
import shutil
import socket
import sys
import time

SOURCE = "/etc/traefik/source/dynamic"  # the repository's traefik/dynamic, read-only
TARGET = "/etc/traefik/dynamic"  # the volume Traefik's file provider watches
NAME, PORT = "app", 8000
EVERY = 1.0  # seconds between two lookups
SHORT_AFTER = 60  # seconds of fewer replicas than asked before it is said again

SERVICE = """\
# Written by traefik/replicas.py from Docker's DNS: one server per app replica. Do not edit.
http:
  services:
    uploads-app:
      loadBalancer:
        serversTransport: uploads-replicas
        passHostHeader: true
        # Ready, not only alive: a replica that cannot write to the store, or does not answer
        # within 5 s (hung), fails /readyz and gets no upload until it passes again; the others
        # take them. /readyz never waits on the store (uploads/readiness.py).
        healthCheck:
          path: /readyz
          interval: 2s
          unhealthyInterval: 1s
          timeout: 5s
        servers:
{servers}
"""


def log(message: str) -> None:
    print(f"edge-replicas: {message}", flush=True)


def wanted() -> int:
    raw = os.environ.get("UPLOADS_APP_REPLICAS", "2")
    try:
        count = int(raw)
    except ValueError:
        count = 0
    if not 1 <= count <= 64:
        sys.exit(f"edge-replicas: UPLOADS_APP_REPLICAS={raw!r}: expected a whole number from "
                 "1 to 64 (README, Configuration)")
    return count


def addresses() -> list[str] | None:
    """The replicas' addresses, sorted; [] when none runs, None when DNS did not answer."""
    try:
        found = socket.getaddrinfo(NAME, PORT, type=socket.SOCK_STREAM)
    except socket.gaierror as exc:
        if exc.errno in (socket.EAI_NONAME, getattr(socket, "EAI_NODATA", -5)):
            return []
        return None
    return sorted({info[4][0] for info in found})


def write(path: str, text: str) -> bool:
    """Replace `path` with `text` in one rename (Traefik never reads half a file); False when
    it already holds that."""
    try:
        with open(path, encoding="utf-8") as current:
            if current.read() == text:
                return False
    except FileNotFoundError:
        pass
    temp = os.path.join(os.path.dirname(path), f".{os.path.basename(path)}.tmp")
    with open(temp, "w", encoding="utf-8") as out:
        out.write(text)
    os.replace(temp, path)
    return True


def copy_sources() -> None:
    for name in sorted(os.listdir(SOURCE)):
        if name.endswith((".yml", ".yaml", ".toml")):
            with open(os.path.join(SOURCE, name), encoding="utf-8") as source:
                write(os.path.join(TARGET, name), source.read())


def service(found: list[str], port: int = PORT) -> str:
    lines = [f'          - url: "http://{address}:{port}"' for address in found]
    return SERVICE.format(servers="\n".join(lines) if lines else "          []")


def main() -> None:
    count = wanted()
    for stale in os.listdir(TARGET):  # files of a removed source would linger otherwise
        if stale != "replicas.yml" and not os.path.exists(os.path.join(SOURCE, stale)):
            path = os.path.join(TARGET, stale)
            if os.path.isdir(path):
                shutil.rmtree(path)
            else:
                os.remove(path)
    short_since, said = None, 0.0
    while True:
        copy_sources()
        found = addresses()
        if found is not None:
            if write(os.path.join(TARGET, "replicas.yml"), service(found)):
                log(f"{len(found)} of {count} replicas: {', '.join(found) or 'none'}")
            now = time.monotonic()
            short_since = (short_since or now) if len(found) < count else None
            if short_since and now - short_since > SHORT_AFTER and now - said > SHORT_AFTER:
                log(f"WARNING only {len(found)} of {count} replicas for "
                    f"{now - short_since:.0f} s (`docker compose ps app`)")
                said = now
        time.sleep(EVERY)


if __name__ == "__main__":
    main()
