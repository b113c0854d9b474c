"""The connection under a request: what the app owes it, and what it can learn from it.

gunicorn announces keep-alive on every answer, then drains at most 64 KiB of a body the app did
not read and closes the connection if more is left. Traefik, which pools its connections to
the app, would then send the next client's upload down a closed connection and answer it 502.
So the app reads every body to its end before answering, whatever it answers: a refused client
never costs another client its upload. The edge has buffered the body already, so draining is a
local copy bounded by the edge's own limit.

The same socket says when the client is gone: Traefik closes its connection to the app as soon
as its client hangs up, so a request whose peer has closed is abandoned before the expensive
work (decoding) and before anything is stored. As nginx does, a peer that has closed its
sending side (a half-close) counts as gone: the two look the same from here.
"""

import logging
import select
import socket

log = logging.getLogger(__name__)
CHUNK = 64 * 1024


class DrainBody:
    """WSGI middleware: after the app has made its answer (and before gunicorn sends it), read
    what is left of the request body, up to `limit` bytes, or up to the limit of its path in
    `routes` (the attachment route's edge lets far larger bodies through than the avatar's)."""

    def __init__(self, app, limit: int, routes: dict[str, int] | None = None):
        self.app = app
        self.limit = limit
        self.routes = routes or {}

    def __call__(self, environ, start_response):
        result = self.app(environ, start_response)
        limit = self.routes.get(environ.get("PATH_INFO", ""), self.limit)
        if _declared(environ) <= limit:  # a body announced larger is not waited for:
            drain(environ.get("wsgi.input"), limit)  # the edge never sends one
        return result


def _declared(environ) -> int:
    try:
        return int(environ.get("CONTENT_LENGTH") or 0)
    except ValueError:
        return 0


def drain(stream, limit: int) -> None:
    """Read and drop up to `limit` bytes of `stream`; a body that cannot be read any further
    (cut short, malformed) is left to the server, which then closes the connection."""
    if stream is None:
        return
    left = limit
    try:
        while left > 0:
            chunk = stream.read(min(CHUNK, left))
            if not chunk:
                return
            left -= len(chunk)
    except Exception as exc:  # noqa: BLE001 (any reader error means: nothing more to read)
        log.debug("body not drained: %s", exc)


def client_gone(environ) -> bool:
    """True when the peer of this request (Traefik, for its client) has closed the connection.
    Only asked once the body has been read in full, so pending bytes mean a next request."""
    sock = environ.get("gunicorn.socket")
    if not isinstance(sock, socket.socket):
        return False
    try:
        readable, _, _ = select.select([sock], [], [], 0)
        if not readable:
            return False
        return sock.recv(1, socket.MSG_PEEK | socket.MSG_DONTWAIT) == b""
    except BlockingIOError:
        return False
    except (OSError, ValueError):
        return True  # reset or already closed
