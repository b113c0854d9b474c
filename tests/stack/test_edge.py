"""What the edge refuses before the app sees it: far too large bodies, slow clients, bursts."""

import threading
import time

import pytest
import requests

from devstack.images import make_image
from helpers import assert_json_error
from stack.net import parse, probe_id, push_body, trickle, upload

pytestmark = pytest.mark.stack

FIFTY_MB = 50 * 1024 * 1024


def app_saw(stack, marker: str) -> bool:
    return marker in stack.log("gunicorn")


def wait_until_app_logged(stack, marker: str) -> None:
    """The control request: the app's access log does record what reaches it."""
    deadline = time.monotonic() + 10
    while not app_saw(stack, marker):
        assert time.monotonic() < deadline, f"{marker} never reached the app's log"
        time.sleep(0.1)


@pytest.mark.parametrize("chunked", [False, True], ids=["content-length", "chunked"])
def test_a_50mb_body_gets_413_from_the_edge_and_never_reaches_the_app(stack, chunked):
    refused = probe_id("big")
    status, headers, body, sent = push_body(
        stack.url, f"/api/upload/avatar?probe={refused}", FIFTY_MB, chunked=chunked)
    assert_json_error((status, headers, body), 413, "file_too_large")
    assert "5MB" in body.decode()
    assert sent < FIFTY_MB  # refused while the body was still coming

    control = probe_id("control")
    assert upload(stack.url, query=f"?probe={control}").status_code == 201
    wait_until_app_logged(stack, control)
    assert not app_saw(stack, refused)


def test_a_body_just_over_the_apps_limit_gets_the_apps_own_413(stack):
    # Above MAX_BYTES but within the edge's margin: the app refuses it, with the same shape.
    data = make_image("PNG", size=(8, 8)) + b"\0" * (5 * 1024 * 1024 + 10)
    answer = upload(stack.url, data, "PNG", "big.png", "image/png")
    assert_json_error(answer, 413, "file_too_large")


HEAD = ("POST /api/upload/avatar?probe={marker} HTTP/1.1\r\nHost: 127.0.0.1\r\n"
        "Content-Type: multipart/form-data; boundary=x\r\nContent-Length: 100000\r\n\r\n")


@pytest.mark.parametrize("slow_part", ["body", "headers"])
def test_a_slow_client_is_cut_off_at_the_read_timeout_and_never_holds_a_worker(stack, slow_part):
    read_timeout = stack.read_timeout
    marker = probe_id("slow")
    head = HEAD.format(marker=marker).encode()
    if slow_part == "body":
        first, then = head, b"-" * 1000
    else:
        first, then = head[:30], head[30:] + b"-" * 1000

    # The shared stack has one worker thread: an upload while the slow client is connected
    # goes through only if that thread is free.
    during = {}

    def upload_meanwhile():
        time.sleep(read_timeout / 2)
        during["status"] = upload(stack.url).status_code

    side = threading.Thread(target=upload_meanwhile)
    side.start()
    seconds, answer = trickle(stack.url, first, then, every=0.25, limit=read_timeout * 8)
    side.join()

    assert seconds is not None, "the edge let a slow client hold the connection"
    # Cut off by the read timeout itself (measured: 4.00 s for 4s), not by some later limit.
    assert read_timeout - 0.5 <= seconds <= read_timeout + 2, seconds
    status, _headers, _body = parse(answer)
    assert status == 0 or status >= 400  # cut off, never a success
    assert during["status"] == 201
    assert not app_saw(stack, marker)


def test_the_rate_limit_answers_429_after_its_burst(make_stack):
    limited = make_stack(RATE_LIMIT=1, RATE_BURST=3)  # 1 a minute: no refill during the test
    answers = [upload(limited.url) for _ in range(5)]
    assert [a.status_code for a in answers[:3]] == [201, 201, 201]
    for answer in answers[3:]:
        refused = assert_json_error(answer, 429, "rate_limited")
        assert "1 par minute" in refused["error"]  # the limit is named
        assert "3 d'affilée" in refused["error"]
    stored = list((limited.root / "i").rglob("*.jpg"))
    assert len(stored) == 3
    # Images are never rate limited.
    path = answers[0].json()["data"]["path"]
    assert all(requests.get(limited.url + path, timeout=10).status_code == 200 for _ in range(10))


def test_api_answers_carry_the_security_headers(stack):
    for answer in (upload(stack.url), requests.get(stack.url + "/api/upload/avatar", timeout=10)):
        assert answer.headers["X-Content-Type-Options"] == "nosniff"
        assert answer.headers["X-Frame-Options"] == "DENY"
        assert answer.headers["Referrer-Policy"] == "no-referrer"
        assert "default-src 'none'" in answer.headers["Content-Security-Policy"]



def test_the_edge_limits_follow_the_settings(make_stack):
    # UPLOADS_MAX_BYTES, UPLOADS_LANGUAGE and UPLOADS_RATE_LIMIT=0 reach Traefik's templates.
    small = make_stack(MAX_BYTES=100 * 1024, LANGUAGE="en", RATE_LIMIT=0, RATE_BURST=1)
    status, headers, body, _sent = push_body(small.url, "/api/upload/avatar", 2 * 1024 * 1024)
    refused = assert_json_error((status, headers, body), 413, "file_too_large")
    assert refused["error"] == "The image must not be larger than 100KB"
    assert [upload(small.url).status_code for _ in range(4)] == [201] * 4  # no rate limit
