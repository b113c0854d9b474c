"""HTTP framing the real gunicorn sees and the in-process client never does: chunked bodies
(no Content-Length), `Expect: 100-continue`, and a Content-Length far over the limit."""

import json
import socket
from urllib.parse import urlsplit

from devstack.client import BOUNDARY, multipart

from .checks import assert_stored, files_under, png_without_line_breaks

SMALL = png_without_line_breaks((40, 30))
OVER_LIMIT = (1330, 1330)  # 5.3 MB as an uncompressed PNG: over 5 MiB


def _exchange(port: int, head: bytes, body: bytes = b"", wait_first=False) -> tuple[bytes, bytes]:
    """Send `head` (then `body`), read to the close; with `wait_first`, read one answer first."""
    with socket.create_connection(("127.0.0.1", port), timeout=30) as sock:
        sock.sendall(head)
        first = sock.recv(4096) if wait_first else b""
        if body:
            sock.sendall(body)
        # No half-close: like nginx, the app takes a client that closed its side for gone.
        rest = b""
        while chunk := sock.recv(65536):
            rest += chunk
    return first, rest


def _head(port: int, *headers: str) -> bytes:
    lines = ["POST /api/upload/avatar HTTP/1.1", f"Host: 127.0.0.1:{port}", "Connection: close",
             f"Content-Type: multipart/form-data; boundary={BOUNDARY}", *headers, "", ""]
    return "\r\n".join(lines).encode()


def _chunked(body: bytes, size=16384) -> bytes:
    pieces = [body[i:i + size] for i in range(0, len(body), size)]
    return b"".join(b"%x\r\n%s\r\n" % (len(p), p) for p in pieces) + b"0\r\n\r\n"


def _status(answer: bytes) -> int:
    return int(answer.split(b" ", 2)[1])


def _json_body(answer: bytes) -> bytes:
    return answer.split(b"\r\n\r\n", 1)[1]


def test_chunked_upload_without_content_length_is_stored(gunicorn, tmp_path):
    root = tmp_path / "root"
    server = gunicorn(root, MIN_FREE_BYTES=0)
    port = urlsplit(server.url).port
    body = multipart([("avatar", "a.png", "image/png", SMALL)])[0]
    _, answer = _exchange(port, _head(port, "Transfer-Encoding: chunked") + _chunked(body))
    assert _status(answer) == 201, answer[:300]
    assert b'"content_type":"image/png"' in answer
    assert len(files_under(root / "i")) == 1


def test_chunked_upload_over_the_limit_is_413_and_stores_nothing(gunicorn, tmp_path):
    root = tmp_path / "root"
    server = gunicorn(root, MIN_FREE_BYTES=0)
    port = urlsplit(server.url).port
    body = multipart([("avatar", "a.png", "image/png", png_without_line_breaks(OVER_LIMIT))])[0]
    _, answer = _exchange(port, _head(port, "Transfer-Encoding: chunked") + _chunked(body))
    assert _status(answer) == 413, answer[:300]
    assert b'"code":"file_too_large"' in _json_body(answer)
    assert files_under(root / "i") == [] and files_under(root / ".tmp") == []


def test_expect_100_continue_is_answered_then_the_upload_stored(gunicorn, tmp_path):
    root = tmp_path / "root"
    server = gunicorn(root, MIN_FREE_BYTES=0)
    port = urlsplit(server.url).port
    body = multipart([("avatar", "a.png", "image/png", SMALL)])[0]
    head = _head(port, f"Content-Length: {len(body)}", "Expect: 100-continue")
    first, rest = _exchange(port, head, body, wait_first=True)
    assert first.startswith(b"HTTP/1.1 100 Continue"), first
    assert _status(rest) == 201, rest[:300]
    assert len(files_under(root / "i")) == 1


def test_content_length_far_over_the_limit_is_refused_before_the_body(gunicorn, tmp_path):
    """The answer comes without a byte of the body sent: nothing is read, nothing stored."""
    root = tmp_path / "root"
    server = gunicorn(root, MIN_FREE_BYTES=0)
    port = urlsplit(server.url).port
    _, answer = _exchange(port, _head(port, "Content-Length: 50000000"))
    assert _status(answer) == 413, answer[:300]
    assert b'"success":false' in _json_body(answer)
    assert files_under(root) == []
    after = multipart([("avatar", "a.png", "image/png", SMALL)])[0]
    _, answer = _exchange(port, _head(port, f"Content-Length: {len(after)}") + after)
    assert _status(answer) == 201
    assert_stored(root, json.loads(_json_body(answer))["data"])
