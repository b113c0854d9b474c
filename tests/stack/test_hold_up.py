"""What real clients and hostile neighbours do, through the real stack: refused bodies next to
valid uploads, a photo sent over a weak uplink, clients that vanish, broken framing, and every
error a client can cause answered in the JSON shape and never cacheable."""

import contextlib
import json
import socket
import threading
import time

import jwt
import pytest
import requests

from devstack.client import multipart, post_from
from devstack.images import encode, make_image, noise, photo
from helpers import assert_json_error
from uploads import naming

from .net import connect, parse, push_body, read_all, upload

pytestmark = pytest.mark.stack

WEAK_UPLINK = 32_000  # bytes a second: a weak mobile signal
SOAK_CLIENTS = 4


def send_paced(base_url, body: bytes, content_type: str, rate: int,
               source="127.0.0.1") -> tuple[int, dict, bytes]:
    """POST `body` at `rate` bytes a second, the way a weak uplink delivers it."""
    head = (f"POST /api/upload/avatar HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n"
            f"Content-Type: {content_type}\r\nContent-Length: {len(body)}\r\n\r\n").encode()
    step = rate // 10
    with connect(base_url, timeout=60, source=source) as sock:
        sock.sendall(head)
        started = time.monotonic()
        for offset in range(0, len(body), step):
            sock.sendall(body[offset:offset + step])
            pause = started + (offset + step) / rate - time.monotonic()
            if pause > 0:
                time.sleep(pause)
        return parse(read_all(sock))


def send_raw(base_url, data: bytes, close_after=False, source="127.0.0.1"):
    with connect(base_url, timeout=30, source=source) as sock:
        with contextlib.suppress(BrokenPipeError, ConnectionResetError):
            sock.sendall(data)
        if close_after:
            return 0, {}, b""
        return parse(read_all(sock))


def stored_count(stack) -> int:
    """The images stored (main files; their variants come and go with them)."""
    return sum(1 for p in (stack.root / "i").rglob("*")
               if p.is_file() and naming.main_stem(p.name) is None) if (
        stack.root / "i").exists() else 0


# -- a refused client never costs another client its upload ------------------------------------

def test_a_valid_upload_right_after_a_refused_body_always_succeeds(stack):
    # The app refuses these without needing the body; gunicorn used to close the connection
    # after announcing keep-alive, and Traefik then sent the next upload down it: 502.
    refused_kinds = [
        {"data": b"x" * 1_000_000, "headers": {"Content-Type": "application/octet-stream"}},
        {"files": {"other": ("a.bin", b"y" * 1_000_000, "application/octet-stream")}},
    ]
    for i in range(30):
        refused = requests.post(stack.url + "/api/upload/avatar", timeout=30,
                                **refused_kinds[i % 2])
        assert refused.status_code == 400, refused.text
        valid = upload(stack.url, name="a.jpg")
        assert valid.status_code == 201, (i, valid.status_code, valid.text[:200])


def test_a_phone_photo_over_a_weak_uplink_is_stored(make_stack):
    edge = make_stack(RATE_LIMIT=0, MIN_FREE_BYTES=0)
    # ~4.9 MB of pixels no codec can shrink: 5 MiB takes ~160 s at this rate
    data = encode(noise((1280, 1280), seed=1), "PNG")
    body, content_type = multipart([("avatar", "photo.png", "image/png", data)])
    started = time.monotonic()
    status, _headers, answer = send_paced(edge.url, body, content_type, WEAK_UPLINK)
    assert status == 201, (status, answer[:300])
    assert time.monotonic() - started > len(body) / WEAK_UPLINK * 0.9  # really that slow
    path = json.loads(answer)["data"]["path"]
    assert requests.get(edge.url + path, timeout=30).status_code == 200


# -- the soak: valid uploads among hostile and broken clients ----------------------------------

HOSTILE = "127.0.0.2"  # the neighbour's address; each valid client has one of its own


def _hostile(base_url, kind: str) -> None:
    """One request of a kind that must never affect anyone else."""
    if kind == "refused":
        post_from(base_url, HOSTILE, b"z" * 800_000, "text/plain")
    elif kind == "malformed":
        send_raw(base_url, source=HOSTILE, data=b"POST /api/upload/avatar HTTP/1.1\r\nHost: x\r\n"
                 b"Connection: close\r\nContent-Type: multipart/form-data; boundary=x\r\n"
                 b"Transfer-Encoding: chunked\r\n\r\nZZ\r\nnot hex\r\n0\r\n\r\n")
    elif kind == "oversized":
        push_body(base_url, "/api/upload/avatar", 8 * 1024 * 1024)
    elif kind == "aborted":
        body, content_type = multipart([("avatar", "a.png", "image/png", b"\x89PNG" * 400_000)])
        head = (f"POST /api/upload/avatar HTTP/1.1\r\nHost: x\r\nContent-Type: {content_type}\r\n"
                f"Content-Length: {len(body)}\r\n\r\n").encode()
        send_raw(base_url, head + body[: len(body) // 2], close_after=True, source=HOSTILE)
    elif kind == "vanished":  # the whole body, then gone before the answer
        body, content_type = multipart([("avatar", "a.jpg", "image/jpeg", make_image("JPEG"))])
        head = (f"POST /api/upload/avatar HTTP/1.1\r\nHost: x\r\nContent-Type: {content_type}\r\n"
                f"Content-Length: {len(body)}\r\n\r\n").encode()
        send_raw(base_url, head + body, close_after=True, source=HOSTILE)


def test_soak_no_valid_upload_fails_whatever_the_others_send(make_stack):
    edge = make_stack(RATE_LIMIT=0, MAX_CONCURRENT=1000, MIN_FREE_BYTES=0)
    stop = threading.Event()
    valid: list[tuple[int, str]] = []
    hostile_count = [0]
    errors: list[BaseException] = []
    images = [make_image("JPEG", (640, 480)), encode(photo((1600, 1200)), "JPEG", quality=90),
              make_image("PNG", (300, 300)), make_image("WEBP", (400, 400))]

    def uploader(n):
        i = 0
        while not stop.is_set() and i < 400:
            body, content_type = multipart([("avatar", "a.img", "application/octet-stream",
                                             images[(n + i) % len(images)])])
            try:
                status, _h, answer = post_from(edge.url, f"127.0.0.{10 + n}", body, content_type)
                valid.append((status, answer[:200].decode(errors="replace")))
            except OSError as exc:
                valid.append((0, repr(exc)))
            i += 1

    def neighbour(kinds):
        i = 0
        while not stop.is_set() and i < 2000:
            try:
                _hostile(edge.url, kinds[i % len(kinds)])
            except (OSError, requests.RequestException):
                pass  # a hostile client may be cut off: that is the point
            except BaseException as exc:  # noqa: BLE001
                errors.append(exc)
            hostile_count[0] += 1
            i += 1

    def slow_photo():
        data = encode(noise((900, 900), seed=7), "PNG")  # ~2.4 MB at 32 KB/s: ~76 s
        body, content_type = multipart([("avatar", "slow.png", "image/png", data)])
        status, _h, answer = send_paced(edge.url, body, content_type, WEAK_UPLINK, "127.0.0.9")
        valid.append((status, answer[:200].decode(errors="replace")))

    threads = [threading.Thread(target=uploader, args=(n,)) for n in range(SOAK_CLIENTS)]
    threads += [threading.Thread(target=neighbour, args=(kinds,)) for kinds in (
        ["refused", "malformed"], ["oversized", "aborted"], ["vanished", "refused"])]
    slow = threading.Thread(target=slow_photo)
    for thread in [*threads, slow]:
        thread.start()
    slow.join(200)
    stop.set()
    for thread in threads:
        thread.join(120)
    assert not errors, errors
    failures = [v for v in valid if v[0] != 201]
    assert not failures, f"{len(failures)} of {len(valid)} valid uploads failed: {failures[:5]}"
    assert len(valid) >= 100 and hostile_count[0] >= 100, (len(valid), hostile_count[0])
    # Besides the valid uploads, only a vanished client's file can have been stored: one whose
    # client hung up after the app's last look (README, "Limits and timeouts").
    assert len(valid) <= stored_count(edge) <= len(valid) + hostile_count[0] // 6


# -- every error a client can cause is JSON, with a 4xx when it is the client's --------------

def test_malformed_chunking_is_a_json_400(stack):
    status, headers, body = send_raw(
        stack.url, b"POST /api/upload/avatar HTTP/1.1\r\nHost: x\r\nConnection: close\r\n"
        b"Content-Type: multipart/form-data; boundary=x\r\nTransfer-Encoding: chunked\r\n\r\n"
        b"ZZZ\r\nabc\r\n0\r\n\r\n")
    assert_json_error((status, headers, body), 400, "bad_request")


def test_a_body_slower_than_the_read_timeout_gets_408(stack):
    head = (b"POST /api/upload/avatar HTTP/1.1\r\nHost: x\r\nContent-Type: multipart/form-data; "
            b"boundary=x\r\nContent-Length: 100000\r\n\r\n")
    with connect(stack.url, timeout=stack.read_timeout + 10) as sock:
        sock.sendall(head)
        started = time.monotonic()
        answer = b""
        while time.monotonic() - started < stack.read_timeout * 3:
            try:
                sock.sendall(b"-" * 10)
            except OSError:
                break
            time.sleep(0.2)
        answer = read_all(sock)
    status, headers, _body = parse(answer)
    # Traefik cancels the request when its read deadline passes, so its error pages cannot
    # be fetched: the status is the edge's 408, the body its own text (README, "Limits").
    assert status == 408, answer[:300]


@pytest.mark.parametrize("where", ["/api/upload/avatar", "/i/p/2026/01/none.jpg"])
def test_headers_up_to_the_edge_limit_are_passed_and_beyond_it_refused(stack, where):
    big = requests.get(stack.url + where, headers={"X-Big": "a" * 60_000}, timeout=10)
    assert big.status_code in (404, 405), big.text[:200]  # served as without the header
    assert big.headers["Content-Type"].startswith("application/json")
    huge = requests.get(stack.url + where, headers={"X-Big": "a" * 70_000}, timeout=10)
    assert huge.status_code == 431  # Traefik, before any routing (README, "Limits")


@pytest.fixture(scope="module")
def image_url(image_stack):
    """An image stored through the stack, on the volume and in a bucket (both modes)."""
    answer = upload(image_stack.url, name="a.jpg")
    assert answer.status_code == 201
    return answer.json()["data"]["url"]


@pytest.mark.parametrize("headers, data, status, code", [
    ({"Range": "bytes=999999-"}, None, 416, "range_not_satisfiable"),
    ({"If-Match": '"not-this-one"'}, None, 412, "precondition_failed"),
    ({}, b"x" * 5000, 413, "request_too_large"),
], ids=["416", "412", "get-with-body"])
def test_image_errors_are_json_and_never_cached(image_url, headers, data, status, code):
    answer = requests.get(image_url, headers=headers, data=data, timeout=10)
    assert_json_error(answer, status, code)


@pytest.mark.parametrize("condition", [{"If-Match": '"not-this-one"'},
                                       {"Range": "bytes=999999-"}], ids=["412", "416"])
def test_after_a_refused_condition_the_next_request_with_a_body_is_answered(image_url,
                                                                          condition):
    """nginx closes the connection after these: it must say so (Connection: close), or the
    edge reuses it, and a request with a body, which it cannot retry, gets a plain 502."""
    for _ in range(5):
        assert requests.get(image_url, headers=condition, timeout=10).status_code in (412, 416)
        assert_json_error(requests.get(image_url, data=b"x" * 5000, timeout=10), 413,
                          "request_too_large")


@pytest.mark.parametrize("header", ['If-Match: "not-this-one"', "Range: bytes=999999-"],
                         ids=["412", "416"])
def test_nginx_says_so_when_it_closes_the_connection(image_stack, image_url, header):
    """What the edge relies on to never reuse a connection nginx is about to close."""
    path = "/" + image_url.split("/", 3)[3]
    with socket.create_connection(("127.0.0.1", image_stack.static_port), timeout=3) as conn:
        conn.sendall(f"GET {path} HTTP/1.1\r\nHost: x\r\n{header}\r\n\r\n".encode())
        received, closed = b"", False
        with contextlib.suppress(TimeoutError):
            while chunk := conn.recv(65536):
                received += chunk
            closed = True
    head = received.partition(b"\r\n\r\n")[0].decode().lower()
    assert head.startswith(("http/1.1 412", "http/1.1 416")), head
    assert closed == ("connection: close" in head), (closed, head)


def test_a_whole_image_is_cached_forever_and_a_range_answer_is_not(image_url):
    whole = requests.get(image_url, timeout=10)
    assert whole.headers["Cache-Control"] == "public, max-age=31536000, immutable"
    part = requests.get(image_url, headers={"Range": "bytes=0-9"}, timeout=10)
    assert part.status_code == 206 and part.content == whole.content[:10]
    assert part.headers["Cache-Control"] == "no-store"
    again = requests.get(image_url, headers={"If-None-Match": whole.headers["ETag"]}, timeout=10)
    assert again.status_code == 304 and again.content == b""
    assert again.headers["Cache-Control"] == "public, max-age=31536000, immutable"


def test_429_says_when_to_retry(make_stack):
    limited = make_stack(RATE_LIMIT=6, RATE_BURST=1)
    assert upload(limited.url, name="a.jpg").status_code == 201
    answer = upload(limited.url, name="a.jpg")
    body = assert_json_error(answer, 429, "rate_limited")
    assert answer.headers["Retry-After"] == "10"  # one upload comes back every 10 s
    assert "10 s" in body["error"] and "6 par minute" in body["error"]


def test_an_app_that_is_down_gets_a_json_502_with_retry_after(make_stack):
    edge = make_stack()
    edge.stop_one("gunicorn")
    answer = upload(edge.url, name="a.jpg")
    assert_json_error(answer, 502, "service_unavailable")
    assert answer.headers["Retry-After"] == "5"


# -- a client gone after its body is not stored; no client value forges a log line -------------

def test_an_upload_whose_client_hung_up_is_not_stored(make_stack):
    edge = make_stack(WORKERS=1, THREADS=1, RATE_LIMIT=0, MIN_FREE_BYTES=0)
    heavy = encode(noise((1280, 1280), seed=3), "PNG")  # ~4.9 MB, slow to re-encode
    busy = [threading.Thread(target=upload, args=(edge.url, heavy, "PNG", "photo.png", "image/png"),
                             kwargs={"timeout": 60}) for _ in range(3)]
    for thread in busy:
        thread.start()
    time.sleep(0.3)  # the one worker thread is now decoding; the next request waits
    body, content_type = multipart([("avatar", "gone.jpg", "image/jpeg", make_image("JPEG"))])
    head = (f"POST /api/upload/avatar?gone HTTP/1.1\r\nHost: x\r\nContent-Type: {content_type}"
            f"\r\nContent-Length: {len(body)}\r\n\r\n").encode()
    sock = connect(edge.url)
    sock.sendall(head + body)
    time.sleep(0.1)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, b"\x01\x00\x00\x00\x00\x00\x00\x00")
    sock.close()
    for thread in busy:
        thread.join(60)
    deadline = time.monotonic() + 10
    while '"code": "client_gone"' not in edge.log("gunicorn") and time.monotonic() < deadline:
        time.sleep(0.1)
    assert '"code": "client_gone"' in edge.log("gunicorn")
    assert stored_count(edge) == 3  # the three heavy uploads, not the vanished one


def test_no_client_value_can_forge_a_log_line(make_stack):
    secret = "s" * 40
    edge = make_stack(AUTH="jwt", JWT_SECRET=secret)
    forged = "alice\n2026-01-01 00:00:00,000 INFO uploads.api: stored path=/i/forged"
    token = jwt.encode({"sub": forged, "exp": int(time.time()) + 60}, secret, algorithm="HS256")
    answer = requests.post(edge.url + "/api/upload/avatar", timeout=30,
                           headers={"Authorization": f"Bearer {token}"},
                           files={"avatar": ("a.jpg", make_image("JPEG"), "image/jpeg")})
    assert answer.status_code == 201
    lines = edge.log("gunicorn").splitlines()
    assert not any(line.startswith("2026-01-01") for line in lines)
    records = [json.loads(line) for line in lines]  # every line one JSON object
    assert [r["sub"] for r in records if r["msg"] == "stored"] == [forged]


@pytest.mark.parametrize("path", ["/_edge/errors/en/429/1-1-1-99999", "/_edge/errors/fr/502",
                                  "/_edge/", "/_edge/errors/en/413/5MB"])
def test_the_edges_own_error_pages_are_not_served_to_clients(stack, path):
    answer = requests.get(stack.url + path, timeout=10)
    assert_json_error(answer, 404, "not_found")
    assert "Retry-After" not in answer.headers
