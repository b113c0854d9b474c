"""`python -m bench.attachments [MiB] [--rate BYTES_PER_S] [--storage s3]`: one large attachment
through the real stack (default settings; the volume, or a SeaweedFS bucket), streamed by the
client from a generator, optionally at a limited rate (a slow link). Prints the answer's status,
the time it took, and the peak RSS (VmHWM, reset first) of the gunicorn worker and of Traefik:
what the README quotes for "a 100 MiB upload never sits whole in memory".
"""

import argparse
import http.client
import json
import struct
import sys
import time
from pathlib import Path

from devstack import Stack, children
from devstack.client import BOUNDARY, clean_env

MIB = 1024 * 1024
CHUNK = 64 * 1024


def status_kb(pid: int, field: str) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    raise KeyError(field)


def reset_peak(pid: int) -> None:
    Path(f"/proc/{pid}/clear_refs").write_text("5")


def mp4_parts(size: int) -> tuple[bytes, int]:
    """The head of an MP4 whose mdat fills it to `size` bytes, and the mdat's payload size."""
    ftyp = struct.pack(">I", 24) + b"ftypisom\0\0\0\0isommp41"
    moov = struct.pack(">I", 16) + b"moov" + struct.pack(">I", 8) + b"free"
    payload = size - len(ftyp) - len(moov) - 8
    return ftyp + moov + struct.pack(">I", payload + 8) + b"mdat", payload


def upload(url: str, size: int, rate: float | None) -> tuple[int, dict, float]:
    head, payload = mp4_parts(size)
    opening = (f"--{BOUNDARY}\r\nContent-Disposition: form-data; name=\"file\"; "
               f"filename=\"film.mp4\"\r\nContent-Type: video/mp4\r\n\r\n").encode() + head
    closing = f"\r\n--{BOUNDARY}--\r\n".encode()
    started = time.monotonic()

    def body():
        yield opening
        sent, zeros = 0, b"\0" * CHUNK
        while sent < payload:
            piece = zeros[:min(CHUNK, payload - sent)]
            sent += len(piece)
            if rate:
                time.sleep(max(0.0, started + sent / rate - time.monotonic()))
            yield piece
        yield closing

    host, port = url.split("//")[1].split(":")
    conn = http.client.HTTPConnection(host, int(port), timeout=600)
    conn.request("POST", "/api/upload/attachment", body=body(), headers={
        "Content-Type": f"multipart/form-data; boundary={BOUNDARY}",
        "Content-Length": str(len(opening) + payload + len(closing))})
    answer = conn.getresponse()
    data = json.loads(answer.read() or b"{}")
    return answer.status, data, time.monotonic() - started


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("mib", nargs="?", type=int, default=100)
    parser.add_argument("--rate", type=float, default=None, help="bytes per second")
    parser.add_argument("--storage", choices=("local", "s3"), default="local")
    args = parser.parse_args()
    with Stack(env=clean_env(RATE_LIMIT=0, MIN_FREE_BYTES=0, ATTACHMENTS="true",
                             STORAGE=args.storage)) as stack:
        workers = children(stack.procs["gunicorn"].pid)
        edge = stack.procs["traefik"].pid
        for pid in (*workers, edge):
            reset_peak(pid)
        status, data, seconds = upload(stack.url, args.mib * MIB, args.rate)
        peaks = [status_kb(pid, "VmHWM") / 1024 for pid in workers]
        print(f"{args.storage}: {args.mib} MiB at "
              f"{'full speed' if not args.rate else f'{args.rate:.0f} B/s'}: "
              f"{status} in {seconds:.1f} s; peak RSS per gunicorn worker "
              f"{', '.join(f'{p:.0f}' for p in peaks)} MB; Traefik "
              f"{status_kb(edge, 'VmHWM') / 1024:.0f} MB")
        if status != 201:
            print(data)
        return 0 if status == 201 else 1


if __name__ == "__main__":
    sys.exit(main())
