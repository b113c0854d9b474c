"""Workers SIGKILLed while they write: no partial file is ever served, no 201 is ever a lie.

Each round fires a batch of large uploads, watches `<root>/.tmp/` and kills every worker of the
real gunicorn the moment a temp file exists, that is while a worker is writing or fsyncing. The
master starts new workers and the next round goes on. Then gunicorn is restarted on the same
root: the leftovers of the dead writers must be gone, and nothing else touched.
"""

import os
import threading
import time
from pathlib import Path

import requests

from .checks import (
    assert_complete_image,
    assert_stored,
    files_under,
    mains,
    png_without_line_breaks,
    post_image,
)

ROUNDS = 4
BATCH = 6
SIZE = (1000, 800)  # 2.4 MB as PNG, on disk too: long enough to write that a kill lands mid-file
WATCH_SECONDS = 20


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
    images = [png_without_line_breaks(SIZE) for _ in range(BATCH)]
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
    for path in served:  # main files, and variants (of a killed writer's too: gc's to remove)
        assert_complete_image(path, *(("PNG", SIZE) if path in mains(served) else ()))
    assert set(files_under(root)) == set(served)  # temp files only ever in .tmp, and gone:
    # the master removed the killed writers' temp files when it reaped them, not at a restart
    assert "temp leftovers of worker" in server.log()

    server.stop()
    gunicorn(root, WORKERS=2, THREADS=4, MIN_FREE_BYTES=0)
    assert files_under(root / ".tmp") == []
    assert files_under(root / "i") == served
    for answer in accepted:
        assert_stored(root, answer)
