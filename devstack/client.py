"""The client side, shared by every test tier and the benchmark: multipart bodies built by
hand (exact bytes, no temp files, any field or file name), POSTs from a chosen loopback
address (the edge tells clients apart by address, so each simulated user can have its own),
and the environment a server under test starts with (never a developer's own settings).
"""

import http.client
import os
from urllib.parse import urlsplit

BOUNDARY = "uploads-test-boundary"


def multipart(parts, boundary: str = BOUNDARY) -> tuple[bytes, str]:
    """Encode [(field, filename or None, content type, bytes)] as a multipart body; returns the
    body and its Content-Type."""
    chunks = []
    for field, filename, content_type, data in parts:
        disposition = f'form-data; name="{field}"'
        if filename is not None:
            disposition += f'; filename="{filename}"'
        head = f"--{boundary}\r\nContent-Disposition: {disposition}\r\n"
        if content_type:
            head += f"Content-Type: {content_type}\r\n"
        chunks += [head.encode("utf-8", "surrogateescape"), b"\r\n", data, b"\r\n"]
    chunks.append(f"--{boundary}--\r\n".encode())
    return b"".join(chunks), f"multipart/form-data; boundary={boundary}"


def post_from(base_url: str, source: str, body: bytes, content_type: str, headers=None,
              target: str = "/api/upload/avatar", timeout: float = 60) -> tuple[int, dict, bytes]:
    """POST a ready-made body from the loopback address `source`; status, headers (lower-case
    names) and body of the answer."""
    parts = urlsplit(base_url)
    conn = http.client.HTTPConnection(parts.hostname, parts.port, timeout=timeout,
                                      source_address=(source, 0))
    try:
        conn.request("POST", target, body=body,
                     headers={"Content-Type": content_type, **(headers or {})})
        answer = conn.getresponse()
        return answer.status, {k.lower(): v for k, v in answer.getheaders()}, answer.read()
    finally:
        conn.close()


def clean_env(drop: tuple[str, ...] = (), **settings) -> dict:
    """This process's environment without any UPLOADS_ variable (nor any whose name starts with
    one of `drop`), plus `settings` named without the prefix: `clean_env(RATE_LIMIT=0)`."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("UPLOADS_", *drop))}
    env.update({f"UPLOADS_{name}": str(value) for name, value in settings.items()})
    return env
