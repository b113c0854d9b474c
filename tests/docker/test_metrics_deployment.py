"""Metrics in the real deployment: the app's and Traefik's are read from inside the compose
network (the app's read-only root, its workers' shared folder on the tmpfs /tmp), and neither
through the published port."""

import pytest

from devstack.images import make_image
from helpers import assert_json_error

pytestmark = [pytest.mark.docker, pytest.mark.timeout(900)]

READ = ("import sys, urllib.request; "
        "sys.stdout.write(urllib.request.urlopen(sys.argv[1], timeout=10).read().decode())")


def read_inside(deployment, url: str) -> str:
    """GET `url` from the app container, on the compose network."""
    return deployment.compose("exec", "-T", "app", "python", "-c", READ, url).stdout


def test_both_metrics_are_read_inside_the_network_and_not_through_the_edge(deployment):
    for n in range(6):
        deployment.upload(f"m{n}.png", make_image("PNG", (30 + n, 20)))
    assert deployment.post("m.gif", make_image("GIF", mode="P")).status_code == 415

    app = read_inside(deployment, "http://app:8000/metrics")
    assert 'uploads_total{code="created",format="png"} 6.0' in app
    assert 'uploads_total{code="unsupported_format",format="other"} 1.0' in app
    assert "uploads_storage_free_bytes " in app
    edge = read_inside(deployment, "http://traefik:8083/metrics")
    assert 'traefik_router_requests_total{code="201",method="POST"' in edge
    assert 'router="uploads-api@file"' in edge

    assert_json_error(deployment.get("/metrics"), 404, "not_found")
    published = deployment.compose("port", "traefik", "8083", check=False)
    assert published.returncode != 0 or not published.stdout.strip()
