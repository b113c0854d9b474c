"""The app's log: one JSON object a line, gunicorn's own messages included.

Clients control some values that are logged (a JWT's `sub`, a detail taken from their request,
the query string). JSON encoding with `ensure_ascii` turns every control character, and every
non-ASCII one (U+2028 splits a line for some readers), into an escape: no value can end a line
or pass for another field. Fields are given as `extra=`; the request's id (uploads/requestid.py)
is added to every line made while a request is being answered.
"""

import json
import logging
import time
from contextvars import ContextVar

REQUEST_ID: ContextVar[str | None] = ContextVar("request_id", default=None)
# What every LogRecord has: the rest of its attributes came from `extra=` and are fields.
_STANDARD = set(vars(logging.LogRecord("", 0, "", 0, "", None, None))) | {"message", "asctime"}


class JsonFormatter(logging.Formatter):
    """`{"time", "level", "logger", "msg", "request_id", <fields>, "exc"}` on one line."""

    def format(self, record: logging.LogRecord) -> str:
        line = {
            "time": time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(record.created))
            + f".{int(record.msecs):03d}Z",
            "level": record.levelname.lower(),
            "logger": record.name,
            "msg": record.getMessage(),
        }
        request_id = REQUEST_ID.get()
        if request_id:
            line["request_id"] = request_id
        line.update((k, v) for k, v in vars(record).items() if k not in _STANDARD)
        if record.exc_info:
            line["exc"] = self.formatException(record.exc_info)
        elif record.stack_info:
            line["exc"] = self.formatStack(record.stack_info)
        return json.dumps(line, ensure_ascii=True, default=str)


def configure(level: str) -> None:
    """Outside gunicorn (the operator commands, `flask run`): JSON lines on stderr. Under
    gunicorn, `dict_config` has already given the root logger its handler. Python's warnings
    become records too, so not even they print a line of another shape."""
    root = logging.getLogger()
    if not root.handlers:
        handler = logging.StreamHandler()
        handler.setFormatter(JsonFormatter())
        root.addHandler(handler)
    logging.getLogger("uploads").setLevel(level.upper())
    logging.captureWarnings(True)


def dict_config(level: str) -> dict:
    """gunicorn's `logconfig_dict`: its own messages and the app's through one JSON handler on
    stderr. No access logger: the app logs each request itself (uploads/requestid.py)."""
    return {
        "version": 1,
        "disable_existing_loggers": False,
        "formatters": {"json": {"()": JsonFormatter}},
        "handlers": {"stderr": {"class": "logging.StreamHandler", "formatter": "json",
                                "stream": "ext://sys.stderr"}},
        "root": {"level": "WARNING", "handlers": ["stderr"]},
        "loggers": {
            "gunicorn.error": {"level": level.upper(), "handlers": [], "propagate": True},
            "uploads": {"level": level.upper()},
        },
    }
