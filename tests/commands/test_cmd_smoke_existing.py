"""`smoke --existing URL`: a file that was there before is still served, as an image of the type
its name says, through the real local stack (and a stub server for headers nginx never gets
wrong)."""

import http.server
import json
import threading

import pytest

from devstack.images import make_image

from .test_cmd_smoke import STEPS, lines

GOOD = {"jpg": make_image("JPEG"), "png": make_image("PNG"), "webp": make_image("WEBP")}


@pytest.fixture
def stored(stack):
    """`stored(tag, ext, data)` puts a file in the shared stack's store behind the edge and
    gives its public URL; removed afterwards, as other tests verify that store."""
    keys = []

    def put(tag: str, ext: str, data: bytes) -> str:
        keys.append(f"i/p/2025/10/avatar_1760000000000_{tag}.{ext}")
        assert stack.storage.put(keys[-1], data, "")
        return f"{stack.url}/{keys[-1]}"

    yield put
    for key in keys:
        stack.storage.delete(key)


@pytest.mark.stack
@pytest.mark.parametrize("ext", GOOD)
def test_a_stored_file_passes(stored, cli, ext):
    url = stored("good00", ext, GOOD[ext])
    result = cli("smoke", "--existing", url)
    assert result.exit_code == 0, result.output
    assert lines(result) == [["ok", "existing"]]
    assert url in result.stdout and "immutable" in result.stdout


@pytest.mark.stack
@pytest.mark.parametrize("case, why", [
    ("missing", "answered 404, expected 200"),
    ("png named .jpg", "bytes of PNG content, expected JPEG for .jpg"),
    ("truncated", "that do not decode as JPEG"),
    ("gif name", "not a .jpg, .png or .webp name"),
])
def test_what_users_would_not_see_fails(stack, stored, cli, case, why):
    url = {
        "missing": f"{stack.url}/i/p/2025/10/avatar_1760000000000_gone00.jpg",
        "png named .jpg": lambda: stored("lie000", "jpg", GOOD["png"]),
        "truncated": lambda: stored("trunc0", "jpg", GOOD["jpg"][:-40]),
        "gif name": f"{stack.url}/i/p/2025/10/avatar.gif",
    }[case]
    url = url() if callable(url) else url
    result = cli("smoke", "--existing", url)
    assert result.exit_code == 1
    assert lines(result) == [["FAIL", "existing"]]
    assert why in result.stdout


@pytest.mark.stack
def test_every_url_is_checked_and_told_apart(stack, stored, cli_json):
    good = [stored("many00", ext, GOOD[ext]) for ext in ("jpg", "png")]
    gone = f"{stack.url}/i/p/2025/10/avatar_1760000000000_gone11.png"
    args = [a for url in (good[0], gone, good[1]) for a in ("--existing", url)]
    result, doc = cli_json("smoke", *args)
    assert result.exit_code == 1 and doc["ok"] is False and doc["base_url"] is None
    assert [(s["step"], s["ok"]) for s in doc["steps"]] == [
        ("existing", True), ("existing", False), ("existing", True)]
    assert gone in doc["steps"][1]["detail"]


@pytest.mark.stack
def test_with_base_url_uploads_then_checks_a_path(stack, stored, cli):
    url = stored("path00", "webp", GOOD["webp"])
    path = url.removeprefix(stack.url)
    result = cli("smoke", stack.url, "--existing", path)
    assert result.exit_code == 0, result.output
    assert lines(result) == [["ok", step] for step in STEPS] + [["ok", "existing"]]


@pytest.mark.parametrize("args", [(), ("--existing", "/i/p/2025/10/a.jpg")])
def test_nothing_to_check_is_a_usage_error(cli, args):
    result = cli("smoke", *args)
    assert result.exit_code == 2
    assert "BASE_URL" in result.output


class Stub(http.server.BaseHTTPRequestHandler):
    """Serves a good JPEG with the headers the test sets on the server."""

    def do_GET(self):
        self.send_response(200)
        for name, value in self.server.headers.items():
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(GOOD["jpg"])))
        self.end_headers()
        self.wfile.write(GOOD["jpg"])

    def log_message(self, *args):
        pass


@pytest.fixture
def stub():
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Stub)
    thread = threading.Thread(target=server.serve_forever)
    thread.start()
    yield server
    server.shutdown()
    server.server_close()
    thread.join()


@pytest.mark.parametrize("headers, why", [
    ({"Content-Type": "image/jpeg", "Cache-Control": "public, max-age=31536000, immutable"},
     None),
    ({"Content-Type": "image/png", "Cache-Control": "public, max-age=31536000, immutable"},
     "Content-Type 'image/png', expected image/jpeg for .jpg"),
    ({"Content-Type": "application/octet-stream"}, "expected image/jpeg for .jpg"),
    ({"Content-Type": "image/jpeg", "Cache-Control": "no-cache"},
     "Cache-Control 'no-cache', expected max-age and immutable"),
])
def test_headers(cli, stub, headers, why):
    stub.headers = headers
    url = f"http://127.0.0.1:{stub.server_port}/i/p/2025/10/avatar.jpg"
    result = cli("smoke", "--existing", url, "--json")
    doc = json.loads(result.stdout)
    assert result.exit_code == (0 if why is None else 1)
    assert doc["steps"][0]["ok"] is (why is None)
    if why:
        assert why in doc["steps"][0]["detail"]
