"""Small HTTP clients for what `requests` will not send: raw paths, declared-but-unsent bodies,
bytes trickled slowly. Everything goes to the edge over loopback."""

import select
import socket
import time
import uuid
from urllib.parse import urlsplit

import requests

from devstack.images import make_image


def probe_id(label: str) -> str:
    """A marker to put in a query string, then to look for in the app's access log."""
    return f"{label}-{uuid.uuid4().hex[:12]}"


def upload(base_url, data=None, fmt="JPEG", name="avatar.jpg", mime="image/jpeg", query="",
           timeout=30):
    """What the web client sends: one file part (a small `fmt` image unless `data` is given)."""
    data = data if data is not None else make_image(fmt)
    return requests.post(f"{base_url}/api/upload/avatar{query}",
                         files={"avatar": (name, data, mime)}, timeout=timeout)


def connect(base_url, timeout=10.0, source="127.0.0.1") -> socket.socket:
    """A connection to the edge from `source`, one of the loopback addresses: the edge tells
    clients apart by address, so each simulated user may have its own."""
    parts = urlsplit(base_url)
    return socket.create_connection((parts.hostname, parts.port), timeout=timeout,
                                    source_address=(source, 0))


def parse(raw: bytes) -> tuple[int, dict, bytes]:
    head, _, body = raw.partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    status = int(lines[0].split()[1]) if lines and lines[0].startswith("HTTP/") else 0
    headers = {}
    for line in lines[1:]:
        name, _, value = line.partition(":")
        headers[name.strip().lower()] = value.strip()
    return status, headers, body


def raw_get(base_url, target: str, method="GET") -> tuple[int, dict, bytes]:
    """Send `target` exactly as given (no normalisation) and read the whole answer."""
    with connect(base_url) as sock:
        sock.sendall(f"{method} {target} HTTP/1.1\r\nHost: 127.0.0.1\r\n"
                     "Connection: close\r\n\r\n".encode("latin-1"))
        return parse(read_all(sock))


def read_all(sock) -> bytes:
    chunks = []
    while True:
        try:
            chunk = sock.recv(65536)
        except (ConnectionResetError, TimeoutError):
            break
        if not chunk:
            break
        chunks.append(chunk)
    return b"".join(chunks)


def push_body(base_url, target, total: int, chunked=False,
              headers: dict | None = None) -> tuple[int, dict, bytes, int]:
    """POST a body of `total` bytes, reading while writing: stop as soon as the server answers.
    Returns the answer and how many body bytes were sent before it came."""
    head = (f"POST {target} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n"
            "Content-Type: multipart/form-data; boundary=x\r\n")
    head += "".join(f"{name}: {value}\r\n" for name, value in (headers or {}).items())
    head += "Transfer-Encoding: chunked\r\n" if chunked else f"Content-Length: {total}\r\n"
    piece = b"\0" * 65536
    sent, answer, broken = 0, b"", False
    with connect(base_url, timeout=30) as sock:
        sock.sendall((head + "\r\n").encode())
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            sending = sent < total and not broken
            readable, writable, _ = select.select([sock], [sock] if sending else [], [], 5)
            if readable:
                answer = read_all(sock)
                break
            if not writable:
                if not sending:
                    break  # nothing more to send and no answer
                continue
            data = piece[: total - sent]
            frame = b"%x\r\n%s\r\n" % (len(data), data) if chunked else data
            try:
                sock.sendall(frame)
                sent += len(data)
                if chunked and sent >= total:
                    sock.sendall(b"0\r\n\r\n")
            except (BrokenPipeError, ConnectionResetError, TimeoutError):
                broken = True  # the answer may still be waiting to be read
    status, headers, body = parse(answer)
    return status, headers, body, sent


def trickle(base_url, head: bytes, then: bytes, every=0.5, limit=60.0):
    """Send `head` at once, then `then` one byte every `every` seconds until the server answers
    or closes. Returns (seconds until it did, raw answer), or (None, b'') if it never did."""
    started = time.monotonic()
    with connect(base_url) as sock:
        sock.sendall(head)
        for byte in then:
            readable, _, _ = select.select([sock], [], [], every)
            if readable:
                return time.monotonic() - started, read_all(sock)
            if time.monotonic() - started > limit:
                return None, b""
            try:
                sock.sendall(bytes([byte]))
            except (BrokenPipeError, ConnectionResetError):
                return time.monotonic() - started, read_all(sock)
        return None, b""
