"""A full volume: 507 with the JSON error, nothing partial left, service back once space is.

The filesystems are real and small (tmpfs mounted by the test), filled by uploads through the
real gunicorn. Uploads go four at a time, so that several may pass the free-space check
together; a filesystem out of inodes makes the write itself fail with ENOSPC every time.
"""

import os
from concurrent.futures import ThreadPoolExecutor

import requests

from devstack.images import make_image
from helpers import assert_json_error

from .checks import (
    answered,
    assert_complete_image,
    assert_stored,
    files_under,
    png_without_line_breaks,
    post_image,
)

IMAGE_SIZE = (300, 300)  # about 270 KB on disk: random pixels do not compress


def _upload_batch(url, images):
    with ThreadPoolExecutor(len(images)) as pool:
        return list(pool.map(lambda data: post_image(url, data, filename="a.png"), images))


def _free(root) -> int:
    st = os.statvfs(root)
    return st.f_bavail * st.f_frsize


def _assert_nothing_partial(root, accepted):
    for answer in accepted:
        assert_stored(root, answer)
    stored = {p.relative_to(root).as_posix() for p in files_under(root / "i")}
    assert stored == answered(accepted)  # no variant of a refused upload left behind
    for path in files_under(root / "i"):
        assert_complete_image(path)
    assert files_under(root / ".tmp") == []


def test_full_filesystem_answers_507_and_keeps_nothing_partial(tmpfs, gunicorn):
    root = tmpfs("small", "2m")
    server = gunicorn(root, MIN_FREE_BYTES=0, WORKERS=2, THREADS=4)
    accepted, refused = [], []
    for _ in range(12):  # 2 MiB hold 7 of them; stop after a batch refused whole
        batch = _upload_batch(server.url, [png_without_line_breaks(IMAGE_SIZE) for _ in range(4)])
        for response in batch:
            if response.status_code == 201:
                accepted.append(response.json()["data"])
            else:
                assert_json_error(response, 507, "storage_full")
                refused.append(response)
        if all(r.status_code == 507 for r in batch):
            break
    assert accepted and refused
    assert len(accepted) < 8  # the filesystem really was the limit
    _assert_nothing_partial(root, accepted)
    assert "Traceback" not in server.log()

    for path in answered(accepted[:2]):  # the operator makes room: images with variants
        (root / path).unlink()
    response = post_image(server.url, png_without_line_breaks(IMAGE_SIZE), filename="a.png")
    assert response.status_code == 201, response.text
    _assert_nothing_partial(root, accepted[2:] + [response.json()["data"]])


def test_an_attachment_filling_the_volume_while_it_arrives_is_507_and_leaves_nothing(
        tmpfs, gunicorn):
    """A part streamed into `.tmp/` until the volume is full: the storage's 507, not a 500,
    nothing stored and no temp file left; the next attachment that fits is stored."""
    root = tmpfs("attachments-full", "2m")
    server = gunicorn(root, MIN_FREE_BYTES=0, ATTACHMENTS="true")

    def attach(size):
        return requests.post(server.url + "/api/upload/attachment", timeout=60,
                             files={"file": ("notes.txt", b"a" * size, "text/plain")})

    assert_json_error(attach(3 * 1024 * 1024), 507, "storage_full")
    assert files_under(root / ".tmp") == [] and not (root / "f").exists()
    assert attach(100_000).status_code == 201
    assert files_under(root / ".tmp") == []
    assert "Traceback" not in server.log()


def test_out_of_inodes_answers_507_and_keeps_nothing_partial(tmpfs, gunicorn):
    """Space left but no inode for the temp file: the write itself fails with ENOSPC."""
    root = tmpfs("few-inodes", "8m", "nr_inodes=16")
    server = gunicorn(root, MIN_FREE_BYTES=0)
    accepted, statuses = [], []
    for i in range(20):
        data = make_image("PNG", (30, 20), color=(i, 0, 0))
        response = post_image(server.url, data, filename="a.png")
        statuses.append(response.status_code)
        if response.status_code != 201:
            assert_json_error(response, 507, "storage_full")
            break
        accepted.append(response.json()["data"])
    assert statuses[-1] == 507 and accepted, statuses
    assert _free(root) > 4 * 1024 * 1024  # bytes were not the limit
    _assert_nothing_partial(root, accepted)

    (root / accepted[0]["path"].lstrip("/")).unlink()
    response = post_image(server.url, make_image("PNG", (30, 20)), filename="a.png")
    assert response.status_code == 201, response.text
    _assert_nothing_partial(root, accepted[1:] + [response.json()["data"]])


def test_min_free_guard_refuses_before_writing(tmpfs, gunicorn):
    """UPLOADS_MIN_FREE_BYTES keeps room on the volume: the upload that would eat into it is
    refused while there is still space to write it."""
    root = tmpfs("guarded", "4m")
    server = gunicorn(root, MIN_FREE_BYTES=str(2 * 1024 * 1024))
    accepted = []
    for _ in range(12):
        data = png_without_line_breaks(IMAGE_SIZE)
        response = post_image(server.url, data, filename="a.png")
        if response.status_code != 201:
            break
        accepted.append(response.json()["data"])
    assert_json_error(response, 507, "storage_full")
    assert "2MB" in response.json()["error"]  # the limit is named
    assert accepted
    assert _free(root) > len(data) + 64 * 1024  # it would have fitted: the guard said no
    _assert_nothing_partial(root, accepted)


def test_min_free_above_the_volume_size_refuses_everything(tmpfs, gunicorn):
    root = tmpfs("tiny", "1m")
    server = gunicorn(root, MIN_FREE_BYTES=str(8 * 1024 * 1024))
    response = post_image(server.url, make_image("PNG", (30, 20)), filename="a.png")
    assert_json_error(response, 507, "storage_full")
    assert not (root / "i").exists()
    assert files_under(root) == []
    ready = requests.get(server.url + "/readyz", timeout=5)
    assert ready.status_code == 503
    assert ready.json()["success"] is False


def test_not_ready_when_no_upload_would_fit_even_with_no_reserve(tmpfs, gunicorn):
    root = tmpfs("small", "2m")
    server = gunicorn(root, MIN_FREE_BYTES="0")  # no reserve: 2 MiB free, 5 MiB largest upload
    ready = requests.get(server.url + "/readyz", timeout=5)
    assert ready.status_code == 503
    assert ready.json()["code"] == "storage_full"
    roomy = gunicorn(tmpfs("roomy", "8m"), MIN_FREE_BYTES="0")
    assert requests.get(roomy.url + "/readyz", timeout=5).status_code == 200
