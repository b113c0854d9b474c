"""A stopping gunicorn refuses new connections at once, while it finishes the uploads it holds:
a connection the kernel queued instead would be reset when the last worker exits, after the
edge had sent it a request it can no longer send to another replica."""

import signal
import socket
import time
from urllib.parse import urlsplit

import pytest

from devstack.client import multipart

from .checks import png_without_line_breaks


def test_a_stopping_server_refuses_new_connections_and_finishes_its_upload(gunicorn):
    server = gunicorn(WORKERS=2, THREADS=2)
    port = urlsplit(server.url).port
    body, mimetype = multipart([("avatar", "a.png", "image/png",
                                 png_without_line_breaks((40, 30)))])
    head = (f"POST /api/upload/avatar HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n"
            f"Connection: close\r\nContent-Type: {mimetype}\r\n"
            f"Content-Length: {len(body)}\r\n\r\n").encode()
    with socket.create_connection(("127.0.0.1", port), timeout=30) as held:
        held.sendall(head + body[:100])  # an upload in progress: its worker must finish it
        time.sleep(0.5)
        server.proc.send_signal(signal.SIGTERM)
        time.sleep(1.5)  # every worker has left its accept loop (it polls once a second)
        assert server.proc.poll() is None, "the master did not wait for the upload"
        with pytest.raises(ConnectionRefusedError):
            socket.create_connection(("127.0.0.1", port), timeout=5).close()
        held.sendall(body[100:])
        answer = b""
        while chunk := held.recv(65536):
            answer += chunk
    assert answer.startswith(b"HTTP/1.1 201 "), answer[:200]
    server.proc.wait(30)
