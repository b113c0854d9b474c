"""`smoke` through the real local stack (Traefik, nginx, gunicorn over loopback)."""

import json
import os
import signal
import time

import jwt
import pytest

from .test_cmd_cli import flask

pytestmark = pytest.mark.stack
STEPS = ("upload", "get", "headers", "head", "missing", "delete")


def lines(result):
    return [line.split()[:2] for line in result.stdout.splitlines()]


def test_smoke_passes_on_the_stack_and_deletes_its_test_image(stack):
    result = flask(stack.root, "smoke", stack.url)
    assert result.returncode == 0, result.stdout + result.stderr
    assert lines(result) == [["ok", step] for step in STEPS]
    assert "immutable" in result.stdout
    result = flask(stack.root, "smoke", stack.url, "--json")
    assert result.returncode == 0
    steps = json.loads(result.stdout)["steps"]
    assert [s["step"] for s in steps if s["ok"]] == list(STEPS)
    url = steps[0]["detail"].split()[1]
    assert not (stack.root / url.split("/", 3)[3]).exists(), "the test image is deleted"
    verified = flask(stack.root, "verify", "--allow-empty")
    assert verified.returncode == 0, verified.stdout


def test_static_server_down_fails_at_get_and_stops(make_stack, cli):
    running = make_stack(MIN_FREE_BYTES=0)
    nginx = running.procs["nginx"]
    os.killpg(nginx.pid, signal.SIGTERM)
    nginx.wait(timeout=15)
    result = cli("smoke", running.url, "--timeout", "5")
    assert result.exit_code == 1
    assert lines(result) == [["ok", "upload"], ["FAIL", "get"]]


def test_nothing_listening_fails_at_upload(cli):
    from devstack import free_port

    result = cli("smoke", f"http://127.0.0.1:{free_port()}", "--timeout", "2")
    assert result.exit_code == 1
    assert lines(result) == [["FAIL", "upload"]]
    result = cli("smoke", f"http://127.0.0.1:{free_port()}", "--timeout", "2", "--json")
    doc = json.loads(result.stdout)
    assert result.exit_code == 1 and not doc["ok"]
    assert [(s["step"], s["ok"]) for s in doc["steps"]] == [("upload", False)]


def test_token_is_sent_when_uploads_need_one(make_stack, cli):
    secret = "s" * 40
    running = make_stack(AUTH="jwt", JWT_SECRET=secret, MIN_FREE_BYTES=0)
    refused = cli("smoke", running.url)
    assert refused.exit_code == 1 and "401" in refused.stdout
    token = jwt.encode({"sub": "smoke", "exp": int(time.time()) + 300}, secret, "HS256")
    result = cli("smoke", running.url, "--token", token)
    assert result.exit_code == 0, result.stdout
    assert lines(result) == [["ok", step] for step in STEPS]
