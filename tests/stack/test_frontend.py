"""An existing frontend on the same host name: traefik/frontend.example.yml, rendered for a small
recording server, answers everything on its host except the uploads routes."""

import re
import shutil
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
import requests

from devstack import configs
from devstack.images import make_image

pytestmark = pytest.mark.stack

EXAMPLE = configs.REPO / "traefik" / "frontend.example.yml"
HOST = "avatars.test"


class Frontend(BaseHTTPRequestHandler):
    """Answers every GET with 200 and its own name, and records what reached it."""

    seen: list[tuple[str, str]] = []

    def do_GET(self):  # noqa: N802 (http.server's naming)
        self.seen.append((self.headers.get("Host", ""), self.path))
        body = b"the existing frontend"
        self.send_response(200)
        self.send_header("Content-Type", "text/plain")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    do_POST = do_GET  # noqa: N815

    def log_message(self, *args):
        pass


@pytest.fixture
def frontend():
    Frontend.seen = []
    server = ThreadingHTTPServer(("127.0.0.1", 0), Frontend)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}", Frontend.seen
    server.shutdown()
    server.server_close()
    thread.join(timeout=10)


def render(text: str, old: str, new: str) -> str:
    assert text.count(old) == 1, f"{EXAMPLE.name}: expected {old!r} exactly once"
    return text.replace(old, new)


@pytest.fixture
def fronted(make_stack, frontend, tmp_path):
    """A stack whose Traefik reads a private copy of traefik/dynamic/ plus the rendered
    example (the repository's folder is shared by every local stack, so it is left alone)."""
    url, seen = frontend
    dynamic = tmp_path / "dynamic"
    shutil.copytree(configs.TRAEFIK_DYNAMIC, dynamic)
    text = EXAMPLE.read_text()
    text = render(text, "Host(`example.com`) || Host(`www.example.com`)", f"Host(`{HOST}`)")
    text = render(text, '"http://frontend:3000"', f'"{url}"')
    (dynamic / "frontend.yml").write_text(text)

    stack = make_stack(MIN_FREE_BYTES=0, RATE_LIMIT=1000, RATE_BURST=100)
    static = stack.run_dir / "traefik.yml"
    old = f"directory: {configs.TRAEFIK_DYNAMIC}"
    assert static.read_text().count(old) == 1
    static.write_text(static.read_text().replace(old, f"directory: {dynamic}"))
    stack.restart("traefik")
    return stack, seen


def get(stack, path, host=HOST, **kwargs):
    return requests.get(stack.url + path, headers={"Host": host}, timeout=10, **kwargs)


def test_the_example_sits_between_the_catch_all_and_our_routes():
    priorities = [int(p) for p in re.findall(r"^\s+priority: (\d+)$", EXAMPLE.read_text(), re.M)]
    assert len(priorities) == 1 and 2 <= priorities[0] <= 10009


def test_the_frontend_answers_its_own_pages(fronted):
    stack, seen = fronted
    for path in ("/", "/settings", "/profile/42?tab=avatar"):
        answer = get(stack, path)
        assert answer.status_code == 200 and answer.text == "the existing frontend", path
    assert seen == [(HOST, "/"), (HOST, "/settings"), (HOST, "/profile/42?tab=avatar")]


def test_uploads_keep_their_routes_on_the_same_host(fronted):
    stack, seen = fronted
    answer = requests.post(stack.url + "/api/upload/avatar", headers={"Host": HOST},
                           files={"avatar": ("a.png", make_image("PNG"), "image/png")},
                           timeout=30)
    assert answer.status_code == 201, answer.text
    path = answer.json()["data"]["path"]
    image = get(stack, path)
    assert image.status_code == 200
    assert image.content == (stack.root / path.lstrip("/")).read_bytes()
    missing = get(stack, "/i/p/2020/01/avatar_1_abcdef.jpg")
    assert missing.status_code == 404
    assert missing.headers["Content-Type"].startswith("application/json")
    assert get(stack, "/uploads").status_code == 200
    assert seen == []


def test_other_host_names_still_get_the_json_404(fronted):
    stack, seen = fronted
    answer = get(stack, "/settings", host="elsewhere.test")
    assert answer.status_code == 404
    assert answer.json()["success"] is False
    assert seen == []
