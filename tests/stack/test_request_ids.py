"""One request, one id, through the real stack: every answer carries an `X-Request-Id`, and the
same id is on the edge's access-log line and on the app's or nginx's lines for that request,
whoever made the answer. The three logs are JSON lines, and a refusal says its code."""

import json
import re
import time

import pytest
import requests

from devstack import Stack
from devstack.client import clean_env
from devstack.images import make_image
from helpers import assert_json_error

from .net import push_body, upload

pytestmark = pytest.mark.stack

HEX_ID = re.compile(r"[0-9a-f]{32}")
MISSING_IMAGE = "/i/p/2020/01/avatar_1577836800000_abcdef.jpg"


@pytest.fixture(scope="module")
def stack(tmp_path_factory):
    """A stack of this module's own, so that its logs hold these requests only."""
    root = tmp_path_factory.mktemp("request-ids") / "root"
    with Stack(root=root, env=clean_env(RATE_LIMIT=100000, RATE_BURST=10000,
                                        MIN_FREE_BYTES=0)) as running:
        yield running


def records(stack, name: str) -> list[dict]:
    """Every line of a log, each parsed: a line that is not one JSON object fails the test.
    `traefik` holds its own log and its access log, `gunicorn` the app's, `nginx-access`
    nginx's access log."""
    return [json.loads(line) for line in stack.log(name).splitlines() if line]


def edge_line(stack, request_id: str) -> dict:
    """Traefik's access-log line for the answer that carried `request_id`."""
    lines = wait_for(stack, "traefik", "downstream_X-Request-Id", request_id)
    assert len(lines) == 1, lines
    return lines[0]


def lines_with(stack, name: str, key: str, request_id: str) -> list[dict]:
    return [r for r in records(stack, name) if r.get(key) == request_id]


def wait_for(stack, name: str, key: str, request_id: str) -> list[dict]:
    """The lines of log `name` whose `key` is `request_id`, once there is one: a server may
    write its line a moment after the answer has left."""
    deadline = time.monotonic() + 10
    while not (found := lines_with(stack, name, key, request_id)):
        assert time.monotonic() < deadline, f"{request_id} never in the {name} log"
        time.sleep(0.05)
    return found


def answer_id(headers) -> str:
    request_id = {k.lower(): v for k, v in dict(headers).items()}["x-request-id"]
    assert HEX_ID.fullmatch(request_id), request_id
    return request_id


def app_lines(stack, request_id: str) -> dict[str, dict]:
    """The app's lines for one request, by message; the last one is always `request`."""
    lines = wait_for(stack, "gunicorn", "request_id", request_id)
    deadline = time.monotonic() + 10
    while lines[-1]["msg"] != "request" and time.monotonic() < deadline:
        time.sleep(0.05)
        lines = wait_for(stack, "gunicorn", "request_id", request_id)
    assert lines[-1]["msg"] == "request", lines
    return {line["msg"]: line for line in lines}


# -- the app's answers -----------------------------------------------------------------------------

def test_an_upload_and_its_image_each_have_their_id_in_every_log(stack):
    stored = upload(stack.url)
    assert stored.status_code == 201
    upload_id = answer_id(stored.headers)
    path = stored.json()["data"]["path"]
    edge = edge_line(stack, upload_id)
    assert (edge["RequestPath"], edge["DownstreamStatus"]) == ("/api/upload/avatar", 201)
    assert edge["origin_X-Request-Id"] == upload_id  # as the app answered it
    app = app_lines(stack, upload_id)
    assert app["stored"]["path"] == path and app["request"]["status"] == 201

    image = requests.get(stack.url + path, timeout=10)
    assert image.status_code == 200
    image_id = answer_id(image.headers)
    [served] = wait_for(stack, "nginx-access", "request_id", image_id)
    assert (served["uri"], served["status"], served["bytes"]) == (path, 200, len(image.content))
    # The /i/ router keeps no access log at the edge (docs/performance.md): nginx's is the one.
    assert lines_with(stack, "traefik", "downstream_X-Request-Id", image_id) == []


def test_an_id_the_client_sends_is_recorded_but_never_taken(stack):
    sent = "chosen-by-the-client"
    stored = requests.post(stack.url + "/api/upload/avatar", headers={"X-Request-Id": sent},
                           files={"avatar": ("a.jpg", make_image(), "image/jpeg")}, timeout=30)
    assert stored.status_code == 201
    ours = answer_id(stored.headers)
    assert edge_line(stack, ours)["request_X-Request-Id"] == sent
    assert sent not in json.dumps(app_lines(stack, ours))
    image = requests.get(stack.url + stored.json()["data"]["path"],
                         headers={"X-Request-Id": sent}, timeout=10)
    assert answer_id(image.headers) != sent
    assert lines_with(stack, "nginx-access", "request_id", sent) == []


def test_a_refusal_by_the_app_is_logged_with_its_code_and_the_id(stack):
    refused = upload(stack.url, b"GIF89a" + b"\0" * 64, name="a.gif", mime="image/gif")
    assert_json_error(refused, 415, "unsupported_format")
    request_id = answer_id(refused.headers)
    assert edge_line(stack, request_id)["DownstreamStatus"] == 415
    app = app_lines(stack, request_id)
    assert (app["refused"]["code"], app["refused"]["status"]) == ("unsupported_format", 415)
    assert app["request"]["status"] == 415


# -- 404s: nginx's, the app's, and an image that is not there --------------------------------------

@pytest.mark.parametrize("path, by", [("/nope", "nginx"), (MISSING_IMAGE, "nginx"),
                                      ("/api/upload/elsewhere", "app")],
                         ids=["unrouted", "missing-image", "app"])
def test_a_404_carries_the_id_of_its_log_lines(stack, path, by):
    answer = requests.get(stack.url + path, timeout=10)
    assert_json_error(answer, 404, "not_found")
    request_id = answer_id(answer.headers)
    if by == "app":
        refused = app_lines(stack, request_id)["refused"]
        assert (refused["code"], refused["status"]) == ("not_found", 404)
    else:
        [line] = wait_for(stack, "nginx-access", "request_id", request_id)
        assert (line["uri"], line["status"]) == (path, 404)
    edge = lines_with(stack, "traefik", "downstream_X-Request-Id", request_id)
    assert [e["DownstreamStatus"] for e in edge] == ([] if path.startswith("/i/") else [404])


# -- answers the edge makes itself: the page nginx served for it carries the id --------------------

def assert_edge_refusal(stack, status: int, headers, page: str) -> None:
    request_id = answer_id(headers)
    edge = edge_line(stack, request_id)
    assert (edge["RequestPath"], edge["DownstreamStatus"]) == ("/api/upload/avatar", status)
    [fetched] = wait_for(stack, "nginx-access", "request_id", request_id)
    assert (fetched["uri"], fetched["status"]) == (page, status)
    assert lines_with(stack, "gunicorn", "request_id", request_id) == []  # never reached the app


def test_an_edge_413_carries_the_id_of_its_lines(stack):
    status, headers, body, _ = push_body(stack.url, "/api/upload/avatar", 8 * 1024 * 1024)
    assert_json_error((status, headers, body), 413, "file_too_large")
    assert_edge_refusal(stack, 413, headers, "/_edge/errors/fr/413/5MB")


def test_an_edge_429_carries_the_id_of_its_lines(make_stack):
    limited = make_stack(RATE_LIMIT=6, RATE_BURST=1, MIN_FREE_BYTES=0)
    assert upload(limited.url).status_code == 201
    answer = upload(limited.url)
    assert_json_error(answer, 429, "rate_limited")
    assert_edge_refusal(limited, 429, answer.headers, "/_edge/errors/fr/429/6-1-8-10")
    for name in ("traefik", "gunicorn", "nginx-access"):  # Traefik's own lines too
        assert records(limited, name), name


def test_every_line_of_the_three_logs_is_one_json_object(stack):
    upload(stack.url)  # at least one line in each, whichever tests ran before
    requests.get(stack.url + MISSING_IMAGE, timeout=10)
    for name in ("traefik", "gunicorn", "nginx-access"):
        assert records(stack, name), name
    assert any("DownstreamStatus" in line for line in records(stack, "traefik"))
    assert any(line["logger"] == "gunicorn.error" for line in records(stack, "gunicorn"))
