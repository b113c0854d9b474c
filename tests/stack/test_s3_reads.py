"""Reads in S3 mode, through the real stack and a real SeaweedFS: how long nginx's cache can
still serve a deleted object (UPLOADS_S3_CACHE_SECONDS, and at most one second more: nginx
counts whole seconds), what a client gets while the store is down, and that nothing of the
store (headers, XML errors, credentials) ever reaches a client."""

import time

import pytest
import requests

from helpers import assert_json_error
from stack.net import raw_get, upload

pytestmark = pytest.mark.stack

CACHE_SECONDS = 2
LONG_AGO = "Mon, 01 Jan 2001 00:00:00 GMT"


@pytest.fixture
def s3_stack(make_stack):
    return make_stack(STORAGE="s3", S3_CACHE_SECONDS=CACHE_SECONDS, MIN_FREE_BYTES=0,
                      RATE_LIMIT=0)


def served(url) -> int:
    return requests.get(url, timeout=10).status_code


def test_a_deleted_object_is_served_at_most_the_cache_time_then_404(s3_stack):
    data = upload(s3_stack.url).json()["data"]
    assert served(data["url"]) == 200  # now in nginx's cache
    cached_at = time.monotonic()
    assert s3_stack.storage.delete(data["path"].lstrip("/"))
    statuses = []
    while time.monotonic() - cached_at < CACHE_SECONDS + 3:
        statuses.append((time.monotonic() - cached_at, served(data["url"])))
        time.sleep(0.2)
    gone = [t for t, status in statuses if status == 404]
    assert gone, statuses
    assert gone[0] <= CACHE_SECONDS + 1.2, statuses  # the documented bound
    assert all(status == 404 for t, status in statuses if t >= gone[0])  # never back
    assert_json_error(requests.get(data["url"], timeout=10), 404, "not_found")


def test_while_the_store_is_down_cached_images_load_and_others_get_a_json_502(s3_stack):
    cached = upload(s3_stack.url).json()["data"]["url"]
    uncached = upload(s3_stack.url).json()["data"]["url"]
    assert served(cached) == 200
    s3_stack.weed.stop()
    assert served(cached) == 200
    answer = requests.get(uncached, timeout=30)
    assert_json_error(answer, 502, "service_unavailable")
    assert b"<?xml" not in answer.content
    # A file still only on the volume (a move into the bucket not finished) is served anyway.
    path = "/i/p/2020/01/avatar_1577836800000_onlyvl.jpg"
    (s3_stack.root / "i/p/2020/01").mkdir(parents=True)
    (s3_stack.root / path.lstrip("/")).write_bytes(requests.get(cached, timeout=10).content)
    assert served(s3_stack.url + path) == 200


@pytest.mark.parametrize("condition, status, code", [
    ({"If-Match": '"not-this-one"'}, 412, "precondition_failed"),
    ({"If-Unmodified-Since": LONG_AGO}, 412, "precondition_failed"),
    ({"Range": "bytes=999999-"}, 416, "range_not_satisfiable"),
], ids=["if-match", "if-unmodified-since", "range"])
def test_a_refused_condition_on_an_uncached_object_leaves_the_next_request_whole(
        s3_stack, condition, status, code):
    """nginx makes these answers while the object is still arriving from the store and then
    closes the connection: the edge must have been told (Connection: close), or its next request
    on that connection fails, and one with a body cannot be retried (a plain 502)."""
    for _ in range(3):
        url = upload(s3_stack.url).json()["data"]["url"]  # never fetched: not in the cache
        assert_json_error(requests.get(url, headers=condition, timeout=10), status, code)
        assert_json_error(requests.get(url, data=b"x" * 5000, timeout=10), 413,
                          "request_too_large")
        assert served(url) == 200


def test_a_refused_condition_still_fills_the_cache_once(s3_stack):
    """nginx refuses these from the headers alone: the object must still be fetched whole and
    kept (the store stopped afterwards, it is served), not fetched again for each repeat."""
    urls = []
    for condition in ({"If-Match": '"not-this-one"'}, {"Range": "bytes=999999-"},
                      {"Range": "bytes=0-9"}, {"If-Unmodified-Since": LONG_AGO}):
        urls.append(upload(s3_stack.url).json()["data"]["url"])
        for _ in range(2):
            status = requests.get(urls[-1], headers=condition, timeout=10).status_code
            assert status in (206, 412, 416), (condition, status)
    s3_stack.weed.stop()
    assert [served(url) for url in urls] == [200] * len(urls)
    assert "stalled cache updating" not in s3_stack.log("nginx")


def test_nothing_of_the_store_reaches_a_client(s3_stack):
    data = upload(s3_stack.url).json()["data"]
    secrets = [s3_stack.config["S3_ACCESS_KEY_ID"].encode(),
               s3_stack.config["S3_SECRET_ACCESS_KEY"].encode(), b"<?xml", b"NoSuchKey",
               b"AccessDenied", s3_stack.config["S3_BUCKET"].encode() + b"/"]
    missing = data["path"].replace(".jpg", "0.jpg")
    for target in (data["path"], missing, "/i/p/2026/01/%3Fx.jpg", "/i/p/a%20b.jpg",
                   "/i/p/../../secret.jpg", "/i/p/x.jpg?list-type=2", "/i/?list-type=2",
                   "/i/p/2026/01/x.jpg%3Flist-type=2"):
        status, headers, body = raw_get(s3_stack.url, target)
        assert status in (200, 400, 404), (target, status)
        assert not [h for h in headers if h.startswith(("x-amz", "seaweed"))], headers
        assert "server" not in headers or "seaweed" not in headers["server"].lower()
        for secret in secrets:
            assert secret not in body or status == 200, (target, secret)


def test_after_a_migration_every_url_answers_200_with_the_same_bytes(make_stack):
    """The incident report's "no 404 on existing URLs", across a change of storage: a volume
    served by one stack is migrated into the bucket of an S3-mode stack."""
    from uploads import create_app

    local = make_stack(MIN_FREE_BYTES=0, RATE_LIMIT=0)
    paths = [upload(local.url, fmt=fmt, name=f"a.{ext}", mime=f"image/{mime}").json()["data"][
        "path"] for fmt, ext, mime in (("JPEG", "jpg", "jpeg"), ("PNG", "png", "png"),
                                        ("WEBP", "webp", "webp"))]
    before = {}
    for path in paths:
        answer = requests.get(local.url + path, timeout=10)
        assert answer.status_code == 200
        before[path] = answer.content
    s3 = make_stack(STORAGE="s3", MIN_FREE_BYTES=0, RATE_LIMIT=0)
    settings = {k.removeprefix("UPLOADS_"): v for k, v in s3.env.items()
                if k.startswith("UPLOADS_S3_")}
    app = create_app({**settings, "STORAGE": "s3", "MIN_FREE_BYTES": 0}, serving=False)
    for path in paths:
        assert served(s3.url + path) == 404  # not there yet, and the miss is not cached
    result = app.test_cli_runner().invoke(args=["migrate", "--from", str(local.root)])
    assert result.exit_code == 0, result.output
    for path, data in before.items():
        answer = requests.get(s3.url + path, timeout=10)
        assert answer.status_code == 200 and answer.content == data


def test_a_key_the_bucket_lacks_is_served_from_the_volume_as_in_local_mode(s3_stack):
    """While a volume is moved into the bucket, a file not copied yet is still served (from
    the server's root, read-only), with the volume's headers; a file in neither is the JSON
    404, and a refused name never reaches the volume."""
    data = upload(s3_stack.url).json()["data"]
    in_bucket = requests.get(data["url"], timeout=10)
    path = "/i/p/2020/01/avatar_1577836800000_volume.jpg"
    target = s3_stack.root / path.lstrip("/")
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_bytes(in_bucket.content)
    answer = requests.get(s3_stack.url + path, timeout=10)
    assert answer.status_code == 200 and answer.content == in_bucket.content
    for header in ("Content-Type", "Cache-Control", "X-Content-Type-Options",
                   "Content-Security-Policy", "Cross-Origin-Resource-Policy"):
        assert answer.headers[header] == in_bucket.headers[header], header
    ranged = requests.get(s3_stack.url + path, headers={"Range": "bytes=0-9"}, timeout=10)
    assert ranged.status_code == 206 and ranged.headers["Cache-Control"] == "no-store"
    assert_json_error(requests.get(s3_stack.url + path.replace("volume", "absent"),
                                   timeout=10), 404, "not_found")
    (s3_stack.root / "i/p/2020/01/.hidden.jpg").write_bytes(in_bucket.content)
    assert_json_error(requests.get(s3_stack.url + "/i/p/2020/01/.hidden.jpg", timeout=10),
                      404, "not_found")
    link = s3_stack.root / "i/p/2020/01/avatar_1577836800000_linked.jpg"
    link.symlink_to(target)
    assert_json_error(requests.get(s3_stack.url + "/i/p/2020/01/avatar_1577836800000_linked.jpg",
                                   timeout=10), 404, "not_found")
