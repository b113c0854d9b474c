"""`make persistence-check` (devstack/persistence.py) without an engine: a stand-in `docker
compose` and a stand-in site, so that each difference it must catch is made on purpose. The
Docker tier runs it against the real deployment."""

import http.server
import io
import json
import subprocess
import sys
import threading

import pytest
from PIL import Image

from devstack import persistence

FAKE_COMPOSE = """
import json, pathlib, sys
state = pathlib.Path(sys.argv[1])
s = json.loads(state.read_text())
args = sys.argv[2:]
if args[0] == "exec":
    print(json.dumps({"status": "ready", "volume_id": s["ids"][s["round"]], "files": 3}))
elif args[0] == "ps":
    print(f"app-{s['round']}\\nstatic-{s['round']}")
elif args[0] == "up":
    s["round"] = 1
    state.write_text(json.dumps(s))
    sys.exit(s.get("up_exit", 0))
"""


class Site(http.server.BaseHTTPRequestHandler):
    """Answers an upload with a URL, and serves it: `after` says what it serves once the
    stand-in compose has recreated the containers."""

    state = None
    after = "same"

    def do_POST(self):  # noqa: N802 (http.server's name)
        self.rfile.read(int(self.headers["Content-Length"]))
        url = f"http://127.0.0.1:{self.server.server_address[1]}/i/p/2026/12/a.png"
        self._answer(201, json.dumps({"success": True, "data": {"url": url}}).encode())

    def do_GET(self):  # noqa: N802
        recreated = json.loads(self.state.read_text())["round"] == 1
        if recreated and self.after == "gone":
            self._answer(404, b'{"success": false}')
        else:
            self._answer(200, b"other bytes" if recreated and self.after == "other" else b"png")

    def _answer(self, status, body):
        self.send_response(status)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


@pytest.fixture
def check(tmp_path, capsys):
    """Run the check against the stand-ins: `check(ids=(a, b), after=..., up_exit=0)`."""
    script = tmp_path / "compose.py"
    script.write_text(FAKE_COMPOSE)
    state = tmp_path / "state.json"

    def run(ids=("v1", "v1"), after="same", up_exit=0, env=""):
        state.write_text(json.dumps({"round": 0, "ids": list(ids), "up_exit": up_exit}))
        (tmp_path / ".env").write_text(env)
        handler = type("Handler", (Site,), {"state": state, "after": after})
        with http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler) as server:
            threading.Thread(target=server.serve_forever, daemon=True).start()
            code = persistence.main([
                "--url", f"http://127.0.0.1:{server.server_address[1]}",
                "--compose", f"{sys.executable} {script} {state}", "--timeout", "5",
                "--env-file", str(tmp_path / ".env")])
            server.shutdown()
        return code, capsys.readouterr().out.splitlines()

    return run


def test_a_deployment_that_keeps_its_files_passes(check):
    code, lines = check()
    assert code == 0, lines
    assert [line.split()[:2] for line in lines] == [["ok", s] for s in (
        "volume", "upload", "get", "recreate", "same-vol", "same-get")]


@pytest.mark.parametrize("kwargs, failed, says", [
    ({"ids": ("v1", "v2")}, "same-vol", "the app now runs on volume v2 (3 files), it ran on v1"),
    ({"after": "gone"}, "same-get", "answered 404 after the recreate, 200 before"),
    ({"after": "other"}, "same-get", "serves other bytes than before the recreate"),
    ({"up_exit": 1}, "recreate", "exited 1"),
])
def test_each_difference_fails_in_one_line(check, kwargs, failed, says):
    code, lines = check(**kwargs)
    assert code == 1
    assert lines[-1].startswith(f"FAIL {failed}") and says in lines[-1], lines[-1]


def test_the_volume_is_the_one_env_expects(check):
    """On a new empty volume every later step passes: only the expected id tells."""
    code, lines = check(env="UPLOADS_VOLUME_ID=v9\n")
    assert code == 1 and lines[-1].startswith("FAIL volume"), lines
    assert "but UPLOADS_VOLUME_ID=v9" in lines[-1]
    code, lines = check(env="UPLOADS_VOLUME_ID=v1\n")
    assert code == 0 and "WARN" not in lines[0], lines
    code, lines = check()
    assert code == 0 and "WARN no UPLOADS_VOLUME_ID in .env" in lines[0], lines


def test_without_a_url_it_says_where_it_looked(tmp_path, capsys):
    assert persistence.main(["--env-file", str(tmp_path / ".env")]) == 2
    assert f"set UPLOADS_PUBLIC_BASE_URL in {tmp_path / '.env'}" in capsys.readouterr().out
    (tmp_path / ".env").write_text("# comment\nUPLOADS_PUBLIC_BASE_URL='https://a.test'\n")
    assert persistence._env_value(str(tmp_path / ".env"), "UPLOADS_PUBLIC_BASE_URL") == \
        "https://a.test"


def test_each_run_uploads_a_png_of_its_own():
    first, second = persistence._png(32), persistence._png(32)
    assert first != second
    with Image.open(io.BytesIO(first)) as im:
        im.load()
        assert (im.format, im.size, im.mode) == ("PNG", (32, 32), "RGB")


def test_it_runs_with_the_standard_library_alone(tmp_path):
    """As the server's python3 runs it: by path, the project's packages out of reach."""
    done = subprocess.run([sys.executable, "-I", "-S", "devstack/persistence.py", "--env-file",
                           str(tmp_path / "none")], capture_output=True, text=True, timeout=30,
                          cwd=persistence.__file__.rsplit("/devstack/", 1)[0])
    assert done.returncode == 2 and done.stdout.startswith("FAIL no URL"), done.stderr
