"""Every request the app answers gets an id, in its `X-Request-Id` header and on each of its
log lines, and one `request` line once its answer is sent.

The id is made here (32 hex digits, like nginx's `$request_id`), never taken from the request:
a client could otherwise choose it, to reuse another user's or to write one that forges a log
line. Traefik records the id the client sent beside the one it answered with
(`request_X-Request-Id`, `downstream_X-Request-Id` in its access log), so an id given by a load
balancer in front still leads to ours (docs/operations.md, "Logs").

gunicorn's access log is off: this line says the same with the id, as JSON.
"""

import logging
import time
import uuid

from .deletion import redact
from .logs import REQUEST_ID

log = logging.getLogger(__name__)
HEADER = "X-Request-Id"


class RequestId:
    """WSGI middleware, outermost: the id is set before anything can log, and the request line
    is written when the server closes the answer (after sending it, or failing to)."""

    def __init__(self, app):
        self.app = app

    def __call__(self, environ, start_response):
        started = time.perf_counter()
        request_id = uuid.uuid4().hex
        REQUEST_ID.set(request_id)  # this thread's, until the answer is closed
        status = []

        def start(status_line, headers, exc_info=None):
            status[:] = [int(status_line.split(None, 1)[0])]
            return start_response(status_line, [*headers, (HEADER, request_id)], exc_info)

        try:
            body = self.app(environ, start)
        except BaseException:
            REQUEST_ID.set(None)
            raise
        return _Logged(body, environ, status, started)


class _Logged:
    """The answer's body, counted; closing it writes the request line."""

    def __init__(self, body, environ, status, started):
        self.body, self.environ, self.status = body, environ, status
        self.started, self.sent = started, 0

    def __iter__(self):
        for chunk in self.body:
            self.sent += len(chunk)
            yield chunk

    def close(self):
        try:
            if hasattr(self.body, "close"):
                self.body.close()
        finally:
            environ = self.environ
            log.info("request", extra={
                "method": environ.get("REQUEST_METHOD"), "path": redact(environ.get("PATH_INFO")),
                "query": environ.get("QUERY_STRING") or None,
                "status": self.status[0] if self.status else None, "bytes": self.sent,
                "ms": round((time.perf_counter() - self.started) * 1000, 1),
                "ip": environ.get("REMOTE_ADDR"), "agent": environ.get("HTTP_USER_AGENT"),
            })
            REQUEST_ID.set(None)
