"""Restarting any of the three processes loses nothing: every URL handed out stays 200 with the
same bytes, and while the app is down the edge answers in the app's JSON shape."""

import pytest
import requests

from devstack import NAMES
from devstack.images import make_image
from stack.net import upload

pytestmark = pytest.mark.stack


def fetch_all(stack, served: dict) -> dict:
    found = {}
    for url in served:
        answer = requests.get(url, timeout=10)
        found[url] = (answer.status_code, answer.content)
    return found


def test_each_process_restarted_in_turn_keeps_every_url(make_stack):
    stack = make_stack()
    served = {}
    for fmt, name, mime in (("JPEG", "a.jpg", "image/jpeg"), ("PNG", "a.png", "image/png"),
                            ("WEBP", "a.webp", "image/webp")):
        data = upload(stack.url, make_image(fmt, size=(50, 40)), fmt, name, mime).json()["data"]
        served[data["url"]] = (stack.root / data["path"].lstrip("/")).read_bytes()
    assert fetch_all(stack, served) == {url: (200, body) for url, body in served.items()}

    for name in reversed(NAMES):  # traefik, nginx, gunicorn
        before = stack.procs[name].pid
        stack.restart(name)
        assert stack.procs[name].pid != before
        assert fetch_all(stack, served) == {url: (200, body) for url, body in served.items()}, name
        after = upload(stack.url)
        assert after.status_code == 201, (name, after.text)
        data = after.json()["data"]
        served[data["url"]] = (stack.root / data["path"].lstrip("/")).read_bytes()

    assert fetch_all(stack, served) == {url: (200, body) for url, body in served.items()}
    assert len(served) == 3 + len(NAMES)


def test_while_the_app_is_down_uploads_get_a_json_502_and_images_still_load(make_stack):
    stack = make_stack(LANGUAGE="en")
    data = upload(stack.url).json()["data"]
    stack.stop_one("gunicorn")
    try:
        down = upload(stack.url)
        assert down.status_code == 502
        assert down.headers["Content-Type"].startswith("application/json")
        assert down.json() == {"success": False, "code": "service_unavailable",
                               "error": "Service temporarily unavailable, try again shortly"}
        assert requests.get(data["url"], timeout=10).status_code == 200
    finally:
        stack.start_one("gunicorn")
    assert upload(stack.url).status_code == 201
