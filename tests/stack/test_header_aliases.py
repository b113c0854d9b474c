"""Header names that alias another (X_Forwarded_For, Authorization_, X.Real.Ip) never get past
the edge, nor does a direct client's own X-Forwarded-For.

gunicorn drops underscore names on its own, so the app's view cannot show whether Traefik did:
here the committed Traefik configs run with a recording upstream in place of both the app and
nginx, and the test reads exactly what an upstream is handed.
"""

import http.server
import subprocess
import threading
import time

import pytest
import requests

from devstack import configs, free_port, venv_tool
from devstack.client import clean_env
from stack.net import probe_id

pytestmark = pytest.mark.stack

ALIASES = {"X_Forwarded_For": "198.51.100.66", "Authorization_": "Bearer forged",
           "X.Real.Ip": "198.51.100.66", "X~Forwarded~Proto": "https",
           "X-Forwarded_Host": "evil.example.test"}


class Recorder(http.server.ThreadingHTTPServer):
    """An upstream that answers 200 `{}` and keeps every request's header lines."""

    def __init__(self):
        self.seen: list[tuple[str, list[tuple[str, str]]]] = []
        super().__init__(("127.0.0.1", 0), _Handler)
        self.url = f"http://127.0.0.1:{self.server_address[1]}"
        threading.Thread(target=self.serve_forever, daemon=True).start()

    def find(self, marker: str):
        return next((headers for path, headers in self.seen if marker in path), None)


class _Handler(http.server.BaseHTTPRequestHandler):
    def _answer(self):
        length = int(self.headers.get("Content-Length") or 0)
        self.rfile.read(length)
        self.server.seen.append((self.path, list(self.headers.items())))
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", "2")
        self.end_headers()
        self.wfile.write(b"{}")

    do_GET = do_POST = _answer

    def log_message(self, format, *args):
        pass


@pytest.fixture(scope="module")
def edge(tmp_path_factory):
    """(edge URL, recorder): Traefik with traefik/ as committed, upstreams replaced."""
    recorder = Recorder()
    work = tmp_path_factory.mktemp("edge-aliases")
    port = free_port()
    static = work / "traefik.yml"
    static.write_text(configs.traefik_static(port))
    env = clean_env(("TRAEFIK_",), APP_URL=recorder.url, STATIC_URL=recorder.url)
    with open(work / "traefik.log", "wb") as log:
        proc = subprocess.Popen([venv_tool("traefik"), f"--configFile={static}"], env=env,
                                stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 20
        while not _routed(url):
            assert proc.poll() is None and time.monotonic() < deadline, "Traefik did not start"
            time.sleep(0.1)
        yield url, recorder
    finally:
        proc.terminate()
        proc.wait(timeout=15)
        recorder.shutdown()
        recorder.server_close()


def _routed(url) -> bool:
    try:
        return requests.get(url + "/api/upload/ready", timeout=2).status_code == 200
    except requests.ConnectionError:
        return False


@pytest.mark.parametrize("path", ["/api/upload/avatar", "/i/p/2026/01/a.jpg"])
def test_aliasing_header_names_never_reach_an_upstream(edge, path):
    url, recorder = edge
    marker = probe_id("alias")
    answer = requests.post(f"{url}{path}?probe={marker}", data=b"x", timeout=10,
                           headers={**ALIASES, "X-Probe": marker})
    assert answer.status_code == 200
    headers = recorder.find(marker)
    assert headers is not None, "the request never reached the upstream"
    names = [name for name, _value in headers]
    assert "X-Probe" in names  # the control: an ordinary header does get through
    assert not [n for n in names if not n.replace("-", "").isalnum()], names
    values = " ".join(value for _name, value in headers)
    assert "198.51.100.66" not in values and "forged" not in values


def test_a_direct_clients_x_forwarded_for_is_replaced_by_its_address(edge):
    url, recorder = edge
    marker = probe_id("xff")
    requests.post(f"{url}/api/upload/avatar?probe={marker}", data=b"x", timeout=10,
                  headers={"X-Forwarded-For": "203.0.113.9", "X-Real-Ip": "203.0.113.9"})
    headers = dict(recorder.find(marker))
    assert headers["X-Forwarded-For"] == "127.0.0.1"
    assert headers["X-Real-Ip"] == "127.0.0.1"
