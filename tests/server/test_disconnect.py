"""A client that goes away mid-upload leaves nothing behind, and the server carries on.

Each aborted request is followed by a normal one, once the app has logged the aborted one (it
is the only request without a User-Agent), so every upload after a disconnect is served.
"""

import socket
import struct
from urllib.parse import urlsplit

import pytest

from devstack.client import multipart

from .checks import (
    answered,
    assert_stored,
    files_under,
    png_without_line_breaks,
    post_image,
    raw_request,
)

IMAGE = png_without_line_breaks((400, 300))
BODY, _ = multipart([("avatar", "avatar.png", "image/png", IMAGE)])
RAW_REQUEST_LOG = '"agent": null}'  # the end of the app's line of a request with no User-Agent


def _send_and_close(port: int, payload: bytes, reset: bool) -> None:
    with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
        sock.sendall(payload)
        if reset:  # close with RST instead of FIN, as a killed browser tab or a dead link does
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))


CASES = {
    "headers only": raw_request(0, b"", length=len(BODY)),
    "half the body": raw_request(0, BODY[: len(BODY) // 2], length=len(BODY)),
    "all but the closing boundary": raw_request(0, BODY[: -len(b"--\r\n") - 30], length=len(BODY)),
}


@pytest.mark.parametrize("reset", [False, True], ids=["fin", "rst"])
def test_client_gone_mid_upload_leaves_nothing(gunicorn, tmp_path, reset):
    root = tmp_path / "root"
    server = gunicorn(root, WORKERS=1, THREADS=1, MIN_FREE_BYTES=0)
    port = urlsplit(server.url).port
    accepted = []
    for done, payload in enumerate(CASES.values(), 1):
        _send_and_close(port, payload, reset)
        server.wait_for_log(RAW_REQUEST_LOG, done)
        response = post_image(server.url, IMAGE)  # served after the aborted one
        assert response.status_code == 201, response.text
        accepted.append(response.json()["data"])

    stored = {p.relative_to(root).as_posix() for p in files_under(root / "i")}
    assert stored == answered(accepted)
    for answer in accepted:
        assert_stored(root, answer)
    assert files_under(root / ".tmp") == []
    assert "Traceback" not in server.log()


def test_body_cut_short_by_one_byte_is_not_stored(gunicorn, tmp_path):
    """The whole file part arrived, but not the whole body the client announced: the client
    is gone and will never read an answer, so a 201 would only leave an orphan behind (and the
    client, seeing a failure, uploads again). The body must be read to its Content-Length."""
    root = tmp_path / "root"
    server = gunicorn(root, WORKERS=1, THREADS=1, MIN_FREE_BYTES=0)
    port = urlsplit(server.url).port
    _send_and_close(port, raw_request(port, BODY[:-1], length=len(BODY)), reset=False)
    log = server.wait_for_log(RAW_REQUEST_LOG)
    aborted = next(line for line in log.splitlines() if line.endswith(RAW_REQUEST_LOG))
    assert '"status": 201,' not in aborted, aborted
    response = post_image(server.url, IMAGE)
    assert response.status_code == 201, response.text
    stored = {p.relative_to(root).as_posix() for p in files_under(root / "i")}
    assert stored == answered([response.json()["data"]])
    assert files_under(root / ".tmp") == []
