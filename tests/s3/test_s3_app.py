"""The app on a bucket: an upload lands as an object under its URL path, /readyz has no free
space to compare, and a store it cannot write stops the start-up in one line."""

import os
import signal
import time

import pytest

from devstack.images import make_image
from helpers import assert_json_error
from uploads import create_app
from uploads.settings import ConfigError


@pytest.fixture
def s3app(s3_settings):
    return create_app({**s3_settings, "MIN_FREE_BYTES": 0})


def test_an_upload_is_stored_at_its_url_path(s3app, s3store, upload_to):
    answer = upload_to(s3app.test_client(), make_image("PNG", size=(40, 30)))
    assert answer.status_code == 201, answer.json
    data = answer.json["data"]
    key = data["path"].lstrip("/")
    assert s3store.read(key) and len(s3store.read(key)) == data["size"]
    head = s3store.client.head_object(Bucket=s3store.bucket, Key=key)
    assert head["ContentType"] == "image/png"


def test_readyz_needs_a_writable_bucket_not_free_space(s3app):
    answer = s3app.test_client().get("/readyz")
    assert answer.status_code == 200 and answer.json["free_bytes"] is None


def test_the_app_does_not_start_on_a_bucket_it_cannot_write(s3_settings):
    with pytest.raises(ConfigError) as refused:
        create_app({**s3_settings, "S3_SECRET_ACCESS_KEY": "not-the-secret"})
    assert "credentials are refused" in refused.value.detail


@pytest.fixture
def upload_to():
    from devstack.client import multipart

    def post(client, data):
        body, mimetype = multipart([("avatar", "a.png", "image/png", data)])
        return client.post("/api/upload/avatar", data=body, content_type=mimetype)

    return post


def test_a_hung_store_gets_the_client_a_json_503_before_the_edge_gives_up(weed, s3app, s3store,
                                                                         upload_to):
    """The store stops answering (SIGSTOP): two attempts of 3 s + 10 s, then the app's own 503
    with Retry-After, well inside the edge's 60 s wait for an answer (after which the edge
    would answer for it while the upload went on)."""
    os.kill(weed.proc.pid, signal.SIGSTOP)
    try:
        started = time.monotonic()
        answer = upload_to(s3app.test_client(), make_image("JPEG", size=(40, 30)))
        took = time.monotonic() - started
    finally:
        os.kill(weed.proc.pid, signal.SIGCONT)
    assert_json_error(answer, 503, "storage_unavailable")
    assert answer.headers["Retry-After"] == "5"
    assert took < 35, took
    again = upload_to(s3app.test_client(), make_image("JPEG", size=(40, 30)))
    assert again.status_code == 201, again.json


def test_readyz_answers_at_once_while_the_store_hangs_then_says_not_ready(weed, s3app,
                                                                           monkeypatch):
    """The probe write waits on the hung store in the background: every /readyz answers in
    well under the edge's 5 s check timeout, ready from the last probe until that probe has
    had no answer for STALE_AFTER, then 503; ready again soon after the store resumes."""
    from uploads import readiness
    monkeypatch.setattr(readiness, "PROBE_EVERY", 0.2)
    monkeypatch.setattr(readiness, "STALE_AFTER", 2.0)
    client = s3app.test_client()
    assert client.get("/readyz").status_code == 200
    time.sleep(0.3)
    os.kill(weed.proc.pid, signal.SIGSTOP)
    try:
        started, answers = time.monotonic(), []
        while time.monotonic() - started < 4:
            asked = time.monotonic()
            answer = client.get("/readyz")
            answers.append((round(time.monotonic() - started, 1), answer.status_code,
                            round(time.monotonic() - asked, 2)))
            time.sleep(0.1)
    finally:
        os.kill(weed.proc.pid, signal.SIGCONT)
    assert max(took for _, _, took in answers) < 0.5, answers
    assert answers[0][1] == 200, answers
    assert all(status == 503 for at, status, _ in answers if at > 2.6), answers
    assert_json_error(answer, 503, "storage_unavailable")
    deadline = time.monotonic() + 15
    while client.get("/readyz").status_code != 200:
        assert time.monotonic() < deadline, "not ready again 15 s after the store resumed"
        time.sleep(0.2)
