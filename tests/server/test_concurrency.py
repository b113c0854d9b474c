"""200 uploads at once against the real gunicorn (several workers, several threads each).

Names are drawn independently in every process; this is where a clash, a lost file, a file
written under the wrong name or a wrong answer would show.
"""

import random
import threading
from concurrent.futures import ThreadPoolExecutor

from devstack.images import encode, make_image, noise

from .checks import (
    EXTENSIONS,
    answered,
    assert_folder_modes,
    assert_stored,
    files_under,
    post_image,
)

UPLOADS = 200
MAX_SIDE = 2048
CONTENT_TYPES = {"JPEG": "image/jpeg", "PNG": "image/png", "WEBP": "image/webp"}


def _cases():
    """Sizes and formats spread over small avatars, odd sizes and a few over the side cap."""
    rng = random.Random(2)
    cases = []
    for i in range(UPLOADS):
        fmt = ("JPEG", "PNG", "WEBP")[i % 3]
        if i % 50 == 7:
            size = (MAX_SIDE + 300, 600 + i)  # scaled down by the app
        else:
            size = (rng.randint(1, 700), rng.randint(1, 700))
        if i % 4 == 0:  # each encoder takes its own option: JPEG and WebP 95, PNG fast
            data = encode(noise(size), fmt, quality=95, compress_level=1)
        else:
            data = make_image(fmt, size, color=(i % 256, 80, 3))
        cases.append((fmt, size, data))
    return cases


def _expected_size(size):
    if max(size) <= MAX_SIDE:
        return size
    scale = MAX_SIDE / max(size)
    return max(1, round(size[0] * scale)), max(1, round(size[1] * scale))


def test_200_concurrent_uploads_all_stored_complete_and_distinct(gunicorn, tmp_path):
    root = tmp_path / "root"
    server = gunicorn(root, WORKERS=2, THREADS=8, MIN_FREE_BYTES=0)
    cases = _cases()
    barrier = threading.Barrier(50)

    def send(case):
        fmt, _size, data = case
        barrier.wait(timeout=30)  # uploads leave fifty at a time, all together
        # the client's hints lie on purpose: the content decides
        return post_image(server.url, data, filename="photo.gif", content_type="text/plain")

    with ThreadPoolExecutor(max_workers=50) as pool:
        responses = list(pool.map(send, cases))

    assert [r.status_code for r in responses] == [201] * UPLOADS, [
        r.text for r in responses if r.status_code != 201][:3]
    answers = [r.json()["data"] for r in responses]
    names = [a["filename"] for a in answers]
    assert len(set(names)) == UPLOADS
    assert len({a["url"] for a in answers}) == UPLOADS
    for (fmt, size, _data), answer, response in zip(cases, answers, responses, strict=True):
        assert answer["content_type"] == CONTENT_TYPES[fmt]
        assert answer["filename"].endswith("." + EXTENSIONS[fmt])
        assert (answer["width"], answer["height"]) == _expected_size(size), (size, answer)
        assert response.headers["Location"] == answer["url"]
        assert answer["url"].endswith(answer["path"])
        assert_stored(root, answer)

    stored = {p.relative_to(root).as_posix() for p in files_under(root / "i")}
    assert stored == answered(answers)
    assert files_under(root / ".tmp") == []
    assert_folder_modes(root)
