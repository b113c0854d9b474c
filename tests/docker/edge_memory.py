"""Traefik's memory in the compose deployment, under large uploads and aborted bodies.

A measurement, not a test: it prints numbers and asserts nothing. It needs the engine and the
stand-in images the Docker tier uses (run the tier once first), and the tier must not be
running (the same compose project name).

    .venv/bin/python tests/docker/edge_memory.py [--settle 30]

Steps: idle; after 50 uploads of a file of exactly MAX_BYTES (5 MiB); right after and
`--settle` seconds after 200 aborted bodies (headers announcing 6 MB, half the body, then the
client closes), sent 8 at a time (the per-IP in-flight limit); `--rounds` repeats them.
"""

import argparse
import socket
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))  # devstack, run as a script
from harness import Deployment, exact_max_png, remove_leftovers, run  # noqa: E402

from devstack import free_port  # noqa: E402

ABORTED = 200
ABORTED_SIZE = 6_000_000  # announced; within the edge's MAX_BYTES + 1 MiB
UPLOADS = 50
AT_ONCE = 8


def memory(deployment) -> str:
    cid = deployment.container("traefik")["id"]
    return run("docker", "stats", "--no-stream", "--format", "{{.MemUsage}}", cid).stdout.strip()


def aborted_body(port: int) -> None:
    """Headers and half of an announced 6 MB body, then close without reading any answer."""
    head = (f"POST /api/upload/avatar HTTP/1.1\r\nHost: 127.0.0.1\r\n"
            f"Content-Type: multipart/form-data; boundary=x\r\n"
            f"Content-Length: {ABORTED_SIZE}\r\n\r\n").encode()
    with socket.create_connection(("127.0.0.1", port), timeout=30) as sock:
        sock.sendall(head)
        sock.sendall(b"\0" * (ABORTED_SIZE // 2))
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, b"\1\0\0\0\0\0\0\0")  # RST


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--settle", type=int, default=30, help="seconds to wait at the end")
    parser.add_argument("--rounds", type=int, default=1,
                        help="rounds of aborted bodies (a second one tells a leak from reuse)")
    args = parser.parse_args()
    data = exact_max_png()
    remove_leftovers()
    with tempfile.TemporaryDirectory() as work:
        deployment = Deployment(Path(work), free_port())
        try:
            deployment.compose("build", "app", timeout=900)
            deployment.up()
            time.sleep(5)
            print(f"idle:                                {memory(deployment)}")
            for n in range(UPLOADS):
                deployment.upload(f"big{n}.png", data)
            print(f"after {UPLOADS} uploads of {len(data)} bytes:  {memory(deployment)}")
            for round_ in range(1, max(1, min(args.rounds, 10)) + 1):
                with ThreadPoolExecutor(AT_ONCE) as pool:
                    for future in [pool.submit(aborted_body, deployment.port)
                                   for _ in range(ABORTED)]:
                        future.result()
                print(f"right after {ABORTED} aborted bodies (round {round_}): "
                      f"{memory(deployment)}")
            for waited in range(10, min(args.settle, 600) + 1, 10):
                time.sleep(10)
                print(f"{waited:3d} s after the aborted bodies:     {memory(deployment)}")
            answer = deployment.post("after.png", data)
            print(f"an upload after all that: {answer.status_code}")
        finally:
            deployment.compose("down", "-v", "--remove-orphans", "--timeout", "10", check=False)
            remove_leftovers()
    return 0


if __name__ == "__main__":
    sys.exit(main())
