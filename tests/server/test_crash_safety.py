"""Workers SIGKILLed while they write: no partial file is ever served, no 201 is ever a lie.

Each round fires a batch of large uploads, watches `<root>/.tmp/` and kills every worker of the
real gunicorn the moment a temp file exists, that is while a worker is writing or fsyncing. The
master starts new workers and the next round goes on. Then gunicorn is restarted on the same
root: the leftovers of the dead writers must be gone, and nothing else touched.
"""

import os
import struct
import threading
import time
import zlib
from pathlib import Path

import requests

from .checks import assert_complete_image, assert_stored, files_under, post_image

ROUNDS = 4
BATCH = 6
SIZE = (1000, 800)  # 2.4 MB as PNG: long enough to write that a kill lands mid-file
WATCH_SECONDS = 20
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
HEAD = 33  # signature and IHDR (whose length, 13, is a CR)
NO_LINE_BREAKS = bytes.maketrans(b"\r\n", b"\x0e\x0b")


def big_png() -> bytes:
    """A PNG of random pixels, unfiltered and stored uncompressed, so it is close to 5 MiB.

    Built by hand so that no byte of it is CR or LF after its first few: the multipart parser's
    handling of line breaks then plays no part here, only the kills do. The re-encoded file on
    disk is just as large, so the write the kill interrupts is a long one."""
    width, height = SIZE
    pixels = os.urandom(width * height * 3).translate(NO_LINE_BREAKS)
    rows = b"".join(b"\0" + pixels[y * width * 3:(y + 1) * width * 3] for y in range(height))
    for attempt in range(100):
        png = PNG_SIGNATURE + _chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0))
        png += _chunk(b"IDAT", zlib.compress(rows, 0)) + _chunk(b"IEND", b"")
        if b"\r" not in png[HEAD:] and b"\n" not in png[HEAD:]:
            return png
        rows = rows[:1] + bytes([32 + attempt]) + rows[2:]  # other checksums, same size
    raise AssertionError("no PNG without line breaks")


def _chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))


def _upload(url, data, results):
    try:
        response = post_image(url, data, filename="big.png", content_type="image/png")
    except requests.RequestException as exc:  # the worker died under this request
        results.append(("dropped", repr(exc)))
        return
    results.append((response.status_code, response.json()))


def _wait_for_writer(tmp: Path, threads, nth: int) -> bool:
    """True while the `nth` new temp file of this round is being written (earlier rounds'
    leftovers do not count; the writers before the `nth` were let through to their 201)."""
    before = set(os.listdir(tmp)) if tmp.exists() else set()
    seen: set[str] = set()
    deadline = time.monotonic() + WATCH_SECONDS
    while time.monotonic() < deadline and any(t.is_alive() for t in threads):
        try:
            current = set(os.listdir(tmp)) - before
        except FileNotFoundError:
            current = set()
        seen |= current
        if len(seen) >= nth and current:
            return True
        time.sleep(0.0005)
    return False


def test_sigkill_while_writing_never_leaves_a_partial_file(gunicorn, tmp_path):
    root = tmp_path / "root"
    server = gunicorn(root, WORKERS=2, THREADS=4, MIN_FREE_BYTES=0)
    images = [big_png() for _ in range(BATCH)]
    results, threads, kills_mid_write = [], [], 0
    for round_ in range(ROUNDS):
        workers = server.worker_pids()
        batch = [threading.Thread(target=_upload, args=(server.url, data, results))
                 for data in images]
        for thread in batch:
            thread.start()
        threads += batch
        if _wait_for_writer(root / ".tmp", batch, nth=1 + 2 * (round_ % 3)):
            server.kill_workers(workers)
            kills_mid_write += 1
        for thread in batch:
            thread.join(120)
        server.wait_ready()  # the master has replaced the dead workers, which now answer
        after = post_image(server.url, images[round_], filename="big.png", content_type="image/png")
        assert after.status_code == 201, after.text
        results.append((201, after.json()))
    assert kills_mid_write >= ROUNDS - 1, f"workers caught writing in {kills_mid_write} rounds"
    assert not any(t.is_alive() for t in threads)

    statuses = [status for status, _ in results]
    assert set(statuses) <= {201, "dropped"}, results
    assert "dropped" in statuses  # the kills did hit requests in flight
    accepted = [body["data"] for status, body in results if status == 201]
    for answer in accepted:
        assert_stored(root, answer)
    served = files_under(root / "i")
    for path in served:
        assert_complete_image(path, "PNG", SIZE)
    leftovers = files_under(root / ".tmp")
    everything = files_under(root)
    assert set(everything) == set(served) | set(leftovers)  # temp files only ever in .tmp
    assert leftovers, "a worker killed mid-write leaves its temp file behind"

    server.stop()
    gunicorn(root, WORKERS=2, THREADS=4, MIN_FREE_BYTES=0)  # start-up clears the leftovers
    assert files_under(root / ".tmp") == []
    assert files_under(root / "i") == served
    for answer in accepted:
        assert_stored(root, answer)
