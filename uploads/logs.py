"""The app's log lines: one line a record, whatever a client managed to put into it.

Clients control some values that are logged (a JWT's `sub`, a detail taken from their request).
Control characters in a message are escaped, so no value can start a forged line, and values
that could pass for another `key=value` field are quoted.
"""

import json
import logging
import re

FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"
PLAIN = re.compile(r"[\w.@:/+-]+")


class OneLineFormatter(logging.Formatter):
    def formatMessage(self, record):  # noqa: N802 (logging's name)
        record.message = escape(record.message)
        return super().formatMessage(record)


def escape(text: str) -> str:
    """Control and other unprintable characters as Python escapes: `\\n`, `\\x00`, `\\u2028`."""
    return "".join(c if c.isprintable() or c == " " else repr(c)[1:-1] for c in text)


def field(value) -> str:
    """A client-controlled value for a `key=value` line: as it is when plain, else quoted."""
    text = "-" if value is None or value == "" else str(value)
    return text if PLAIN.fullmatch(text) else json.dumps(text)


def configure(level: str) -> None:
    root = logging.getLogger()
    if not root.handlers:
        handler = logging.StreamHandler()
        handler.setFormatter(OneLineFormatter(FORMAT))
        root.addHandler(handler)
    logging.getLogger("uploads").setLevel(level.upper())
