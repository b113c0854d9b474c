"""The app's log lines, in process: one JSON object a line whatever a client put into it, the
request's id on each line of the request and in its answer, and every refusal with its code."""

import io
import json
import logging
import re
import sys

import pytest

from devstack.client import multipart
from devstack.images import make_image
from uploads.logs import REQUEST_ID, JsonFormatter

HEX_ID = re.compile(r"[0-9a-f]{32}")
FORGED = "alice\n2026-01-01T00:00:00.000Z INFO stored\r\x00\x1b[31m\u2028\u2029\x85é"


@pytest.fixture(autouse=True)
def outside_any_request():
    """An answer another test never closed leaves its id set in this thread."""
    token = REQUEST_ID.set(None)
    yield
    REQUEST_ID.reset(token)


@pytest.fixture
def lines():
    """What the app logs while a test runs, as the JSON formatter writes it: call for the
    records so far, each line parsed."""
    out = io.StringIO()
    handler = logging.StreamHandler(out)
    handler.setFormatter(JsonFormatter())
    root = logging.getLogger()
    root.addHandler(handler)
    try:
        yield lambda: [json.loads(line) for line in out.getvalue().split("\n") if line]
    finally:
        root.removeHandler(handler)


def format_one(message: str, *args, exc_info=None, **fields) -> str:
    record = logging.LogRecord("uploads.test", logging.INFO, __file__, 1, message, args,
                               exc_info)
    record.__dict__.update(fields)
    return JsonFormatter().format(record)


# -- the formatter ---------------------------------------------------------------------------------

def test_a_record_is_one_json_object_with_its_fields():
    line = json.loads(format_one("stored %s", "now", path="/i/p/a.jpg", bytes=12, sub=None))
    assert list(line)[:4] == ["time", "level", "logger", "msg"]
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z", line["time"])
    assert line | {"time": None} == {"time": None, "level": "info", "logger": "uploads.test",
                                     "msg": "stored now", "path": "/i/p/a.jpg", "bytes": 12,
                                     "sub": None}


@pytest.mark.parametrize("where", ["field", "message"])
def test_no_client_value_can_end_a_line_or_add_a_field(where):
    text = (format_one("stored", sub=FORGED) if where == "field"
            else format_one("stored %s", FORGED))
    assert text.isascii() and text.isprintable()  # not one line break, raw or Unicode
    line = json.loads(text)
    assert line["msg"] == ("stored" if where == "field" else f"stored {FORGED}")
    fields = {k: v for k, v in line.items() if k not in ("time", "level", "logger", "msg")}
    assert fields == ({"sub": FORGED} if where == "field" else {})


def test_a_traceback_stays_on_its_line():
    try:
        raise ValueError("bad\nvalue")
    except ValueError:
        text = format_one("unexpected error", exc_info=sys.exc_info())
    assert len(text.splitlines()) == 1
    assert json.loads(text)["exc"].endswith("ValueError: bad\nvalue")


def test_the_request_id_is_on_every_line_made_while_it_is_set():
    token = REQUEST_ID.set("0123456789abcdef0123456789abcdef")
    try:
        assert json.loads(format_one("stored"))["request_id"] == "0123456789abcdef0123456789abcdef"
    finally:
        REQUEST_ID.reset(token)
    assert "request_id" not in json.loads(format_one("stored"))


# -- through the app -------------------------------------------------------------------------------

def post(client, data, headers=None):
    """An upload of `data`, or (None) a form without a file."""
    part = ("avatar", "a.jpg", "image/jpeg", data) if data is not None else ("x", None, None, b"")
    body, ctype = multipart([part])
    return client.post("/api/upload/avatar", data=body, content_type=ctype, headers=headers or {})


def test_an_upload_answers_with_its_id_and_every_line_of_it_carries_the_id(client, lines):
    with post(client, make_image(), {"X-Request-Id": "chosen-by-the-client"}) as answer:
        assert answer.status_code == 201
    request_id = answer.headers["X-Request-Id"]
    assert HEX_ID.fullmatch(request_id)  # made by the app, never the client's
    records = [r for r in lines() if r["logger"].startswith("uploads")]
    assert [r["msg"] for r in records] == ["stored", "request"]
    assert {r["request_id"] for r in records} == {request_id}
    assert "chosen-by-the-client" not in json.dumps(records)
    request = records[-1]
    assert request | {"time": None, "ms": None} == {
        "time": None, "level": "info", "logger": "uploads.requestid", "msg": "request",
        "request_id": request_id, "method": "POST", "path": "/api/upload/avatar",
        "query": None, "status": 201, "bytes": len(answer.data), "ms": None,
        "ip": "127.0.0.1", "agent": answer.request.headers["User-Agent"]}


def test_each_request_has_an_id_of_its_own(client):
    ids = set()
    for _ in range(3):
        with client.get("/healthz") as answer:
            ids.add(answer.headers["X-Request-Id"])
    assert len(ids) == 3


@pytest.mark.parametrize("send, status, code, detail", [
    (lambda c: post(c, None), 400, "no_file", "no file part named avatar"),
    (lambda c: post(c, b"GIF89a" + b"\0" * 64), 415, "unsupported_format", None),
    (lambda c: c.get("/api/upload/elsewhere?x=1"), 404, "not_found", "NotFound"),
    (lambda c: c.get("/api/upload/avatar"), 405, "method_not_allowed", "MethodNotAllowed"),
    (lambda c: c.get("/i/p/2026/01/a.jpg"), 404, "not_found",
     "image paths are served by the static server"),
], ids=["app", "pipeline", "werkzeug-404", "werkzeug-405", "images"])
def test_every_refusal_is_logged_with_its_code_and_status(client, lines, send, status, code,
                                                          detail):
    with send(client) as answer:
        assert (answer.status_code, answer.json["code"]) == (status, code)
    records = [r for r in lines() if r.get("request_id") == answer.headers["X-Request-Id"]]
    refused = [r for r in records if r["msg"] == "refused"]
    assert [(r["code"], r["status"]) for r in refused] == [(code, status)]
    assert detail is None or refused[0]["detail"] == detail
    assert records[-1]["msg"] == "request" and records[-1]["status"] == status


def test_the_id_is_gone_once_the_answer_is_closed(client, lines):
    with client.get("/healthz"):
        pass
    logging.getLogger("uploads.test").warning("between requests")
    assert "request_id" not in lines()[-1]
