"""Metrics through the real stack: the app's at /metrics on its own port and Traefik's on an
entry point of their own, neither through the public one; and the app's counts exact while
gunicorn recycles and kills its workers (each worker writes files of its own)."""

import glob
import os
import signal
import socket
import subprocess
import sys
import time

import pytest
import requests
from prometheus_client.parser import text_string_to_metric_families

from devstack import Stack, children
from devstack.client import clean_env
from devstack.images import make_image
from helpers import assert_json_error
from stack.net import raw_get, upload

pytestmark = pytest.mark.stack

HIDDEN = ["/metrics", "/metrics/", "/Metrics", "/api/upload/../metrics", "/i/../metrics",
          "/api/upload/%2e%2e/metrics", "/api/upload/avatar/../../metrics", "//metrics"]


def scrape(url: str) -> list:
    answer = requests.get(url + "/metrics", timeout=10)
    assert answer.status_code == 200, answer.text[:300]
    assert answer.headers["Content-Type"].startswith("text/plain")
    return [s for family in text_string_to_metric_families(answer.text) for s in family.samples]


def value(samples, name: str, **labels) -> float:
    return sum(s.value for s in samples
               if s.name == name and labels.items() <= s.labels.items())


@pytest.mark.parametrize("target", HIDDEN)
def test_no_metrics_through_the_public_entry_point(stack, target):
    assert upload(stack.url).status_code == 201  # so that the app has counts to show
    assert_json_error(raw_get(stack.url, target), 404, "not_found")  # nginx's catch-all


def test_the_app_port_answers_the_apps_metrics(stack):
    assert upload(stack.url).status_code == 201
    samples = scrape(stack.app_url)
    assert value(samples, "uploads_total", code="created", format="jpeg") >= 1
    assert value(samples, "uploads_storage_free_bytes") > 0


def test_the_metrics_entry_point_answers_traefiks_metrics_and_nothing_else(stack):
    assert upload(stack.url).status_code == 201
    samples = scrape(stack.metrics_url)
    assert value(samples, "traefik_entrypoint_requests_total", entrypoint="web", code="201") >= 1
    assert value(samples, "traefik_router_requests_total", router="uploads-api@file") >= 1
    assert value(samples, "traefik_service_requests_total", service="uploads-app@file") >= 1
    for path in ("/api/upload/avatar", "/i/p/x.jpg", "/ping", "/uploads/"):
        answer = requests.get(stack.metrics_url + path, timeout=10)
        assert answer.status_code == 404, path
        assert not answer.headers.get("Content-Type", "").startswith("application/json"), path


def test_a_busy_metrics_port_is_one_line_before_anything_starts(tmp_path):
    with socket.socket() as holder:
        holder.bind(("127.0.0.1", 0))
        holder.listen()
        stack = Stack(root=tmp_path / "root", env=clean_env(),
                      metrics_port=holder.getsockname()[1])
        with pytest.raises(RuntimeError, match="UPLOADS_METRICS_PORT"):
            stack.start()
    assert not stack.procs


# -- counts while gunicorn recycles its workers --------------------------------------------------

RECYCLING = {"WORKERS": 2, "THREADS": 2, "MAX_REQUESTS": 2, "RATE_LIMIT": 0,
             "MIN_FREE_BYTES": 0}


def earlier_run(folder) -> None:
    """Counts a previous run left in the folder: the next master must start from zero."""
    code = "from uploads import metrics; metrics.UPLOADS.labels('created', 'jpeg').inc(1000)"
    env = {**clean_env(), "PROMETHEUS_MULTIPROC_DIR": str(folder)}
    subprocess.run([sys.executable, "-c", code], env=env, check=True, timeout=60)
    assert glob.glob(str(folder / "counter_*.db"))


@pytest.fixture
def recycling(tmp_path):
    folder = tmp_path / "metrics"
    folder.mkdir()
    earlier_run(folder)
    env = {**clean_env(**RECYCLING), "PROMETHEUS_MULTIPROC_DIR": str(folder)}
    with Stack(root=tmp_path / "root", env=env) as running:
        yield running, folder


def wait_for_workers(stack, count: int, gone=()) -> list[int]:
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        pids = children(stack.procs["gunicorn"].pid)
        if len(pids) == count and not set(pids) & set(gone):
            return pids
        time.sleep(0.05)
    raise AssertionError(f"gunicorn did not get back to {count} workers:\n"
                         + stack.tail("gunicorn"))


def test_counts_stay_exact_while_workers_are_recycled_and_killed(recycling):
    stack, folder = recycling
    created = stored = 0
    for round_ in range(8):
        for _ in range(3):
            answer = upload(stack.url)
            assert answer.status_code == 201, answer.text
            created += 1
            stored += answer.json()["data"]["size"]
        refusal = upload(stack.url, make_image("GIF", mode="P"), name="a.gif", mime="image/gif")
        assert refusal.status_code == 415
        refused = round_ + 1
        if round_ == 4:  # a worker that dies without warning keeps its counts too
            killed = wait_for_workers(stack, 2)
            for pid in killed:
                os.kill(pid, signal.SIGKILL)
            wait_for_workers(stack, 2, gone=killed)
        # Whichever worker answers the scrape, every count is exact at every moment.
        samples = scrape(stack.app_url)
        assert value(samples, "uploads_total", code="created", format="jpeg") == created
        assert value(samples, "uploads_total", code="unsupported_format",
                     format="other") == refused
        assert value(samples, "uploads_stored_bytes_total", format="jpeg") == stored
        assert value(samples, "uploads_processing_seconds_count", format="jpeg") == created
        assert value(samples, "uploads_decode_queue_wait_seconds_count") == created + refused

    assert stack.log("gunicorn").count("Autorestarting worker") >= 8
    # The folder holds the live workers' files and one archive per kind, however many went.
    for kind in ("counter", "histogram"):
        files = sorted(os.path.basename(p) for p in glob.glob(str(folder / f"{kind}_*.db")))
        assert f"{kind}_archive.db" in files and len(files) <= 3, files
