"""Private attachments in process (uploads/links.py): the signature against an independent
computation of the documented scheme, the settings' refusals, the upload answer's signed
links, POST /api/upload/sign and its refusals, nginx's include."""

import base64
import hashlib
import re
import subprocess
import sys
import time
from pathlib import Path

import pytest

import samples
from devstack.client import multipart
from devstack.images import make_image
from helpers import assert_json_error
from uploads import create_app, links, settings

SECRET = "s3cr3t-" + "k" * 32
PATH = "/f/p/2026/12/att_1796000000000_abcdefghij/R%C3%A9sum%C3%A9.pdf"
REPO = Path(__file__).resolve().parent.parent
PRIVATE = {"ATTACHMENTS": True, "ATTACHMENTS_PRIVATE": True, "LINK_SECRET": SECRET}


def documented(path: str, expires: int, secret: str) -> str:
    """The README's recipe, as a gateway would write it."""
    digest = hashlib.md5(f"{expires}{path} {secret}".encode()).digest()  # noqa: S324
    return base64.urlsafe_b64encode(digest).decode().rstrip("=")


def test_the_signature_is_the_documented_recipe():
    assert links.signature(PATH, 1796000000, SECRET) == documented(PATH, 1796000000, SECRET)
    assert "=" not in links.signature(PATH, 1796000000, SECRET)


def test_the_readme_worked_example_holds():
    """The numbers printed in the README's worked example."""
    path = "/f/p/2026/12/att_1796000000000_abcdefghij/report.pdf"
    secret = "0123456789abcdefghijklmnopqrstuvwxyzABCD"
    assert links.signature(path, 1796003600, secret) == "tkXGy060kyZ61Qfkqs-tXQ"


@pytest.mark.parametrize("change", ["path", "expires", "secret"])
def test_the_signature_binds_path_expiry_and_secret(change):
    base = links.signature(PATH, 1796000000, SECRET)
    other = {"path": lambda: links.signature(PATH.replace("abcdefghij", "abcdefghik"),
                                              1796000000, SECRET),
             "expires": lambda: links.signature(PATH, 1796000001, SECRET),
             "secret": lambda: links.signature(PATH, 1796000000, SECRET + "x")}[change]()
    assert other != base


def test_a_link_carries_its_expiry_and_lasts_link_seconds():
    config = {"PUBLIC_BASE_URL": "https://example.com", "LINK_SECONDS": 600,
              "LINK_SECRET": SECRET}
    url, expires = links.signed(PATH, config, now=1796000000.7)
    assert expires == 1796000600
    assert url == (f"https://example.com{PATH}?expires=1796000600"
                   f"&sig={documented(PATH, 1796000600, SECRET)}")


@pytest.mark.parametrize(("env", "clause"), [
    ({"UPLOADS_ATTACHMENTS_PRIVATE": "true"}, "UPLOADS_ATTACHMENTS_PRIVATE=true needs"),
    ({"UPLOADS_LINK_SECRET": "short"}, "at least 32 characters"),
    ({"UPLOADS_LINK_SECRET": "x" * 31 + '"'}, "only A-Z a-z 0-9"),
    ({"UPLOADS_LINK_SECRET": "x" * 32 + "; return 200"}, "only A-Z a-z 0-9"),
    ({"UPLOADS_LINK_SECRET": SECRET, "UPLOADS_LINK_SECRET_FILE": "/nonexistent"},
     "not both"),
    ({"UPLOADS_LINK_SECRET_FILE": "/nonexistent/secret"}, "UPLOADS_LINK_SECRET_FILE"),
    ({"UPLOADS_LINK_SECONDS": "59"}, "UPLOADS_LINK_SECONDS"),
    ({"UPLOADS_LINK_SECONDS": "604801"}, "UPLOADS_LINK_SECONDS"),
])
def test_bad_link_settings_stop_the_start(env, clause):
    with pytest.raises(settings.ConfigError, match=clause):
        settings.load(env)


def test_the_secret_may_come_from_a_file(tmp_path):
    secret_file = tmp_path / "link"
    secret_file.write_text(SECRET + "\n")
    config = settings.load({"UPLOADS_ATTACHMENTS_PRIVATE": "true",
                            "UPLOADS_LINK_SECRET_FILE": str(secret_file)})
    assert config["LINK_SECRET"] == SECRET


def test_private_mode_without_a_secret_stops_the_app_in_one_line(tmp_path):
    env = {"UPLOADS_ROOT": str(tmp_path), "UPLOADS_ALLOW_EPHEMERAL": "true",
           "UPLOADS_ATTACHMENTS_PRIVATE": "true", "PATH": "/usr/bin:/bin"}
    done = subprocess.run([sys.executable, "-c", "import app"], env=env, capture_output=True,
                          text=True, timeout=60, check=False)
    assert done.returncode != 0
    assert "UPLOADS_ATTACHMENTS_PRIVATE=true needs UPLOADS_LINK_SECRET" in done.stderr


@pytest.mark.parametrize(("config", "secret"), [({}, ""), (PRIVATE, SECRET),
                                                ({"LINK_SECRET": SECRET}, "")])
def test_nginx_include_holds_the_secret_only_in_private_mode(config, secret):
    text = links.nginx_include(settings.load({}, config))
    assert f'map $host $uploads_link_secret {{ default "{secret}"; }}' in text


def test_the_app_writes_nginx_include_before_serving(root, tmp_path):
    target = tmp_path / "link.conf"
    create_app({"ROOT": str(root), "ALLOW_EPHEMERAL": True, "LINK_NGINX_CONF": str(target),
                **PRIVATE})
    assert SECRET in target.read_text()
    assert target.stat().st_mode & 0o777 == 0o644
    create_app({"ROOT": str(root), "ALLOW_EPHEMERAL": True, "LINK_NGINX_CONF": str(target)})
    assert SECRET not in target.read_text() and '""' in target.read_text()
    assert not list(tmp_path.glob(".link-*")), "no temp file left"


def test_an_unwritable_include_stops_the_app(root, tmp_path):
    with pytest.raises(settings.ConfigError, match="UPLOADS_LINK_NGINX_CONF"):
        create_app({"ROOT": str(root), "ALLOW_EPHEMERAL": True,
                    "LINK_NGINX_CONF": str(tmp_path / "missing" / "link.conf"), **PRIVATE})


@pytest.fixture
def private(root):
    app = create_app({"ROOT": str(root), "ALLOW_EPHEMERAL": True, "MIN_FREE_BYTES": 0,
                      "LINK_SECONDS": 900, **PRIVATE})
    return app.test_client()


def attach(client, files):
    body, mimetype = multipart([("file", name, "application/octet-stream", data)
                                for name, data in files])
    answer = client.post("/api/upload/attachment", data=body, content_type=mimetype)
    assert answer.status_code == 201, answer.get_json()
    return answer.get_json()["data"]["files"]


def check_link(url: str, path: str, expires: int):
    assert url == (f"http://127.0.0.1:8080{path}?expires={expires}"
                   f"&sig={documented(path, expires, SECRET)}")


def test_upload_answer_signs_url_and_variants_and_keeps_the_path(private):
    before = int(time.time())
    pdf, photo = attach(private, [("a b.pdf", samples.pdf()),
                                  ("p.jpg", make_image("JPEG", size=(300, 200)))])
    for item in (pdf, photo):
        assert before + 900 <= item["expires"] <= int(time.time()) + 900
        assert "?" not in item["path"]
        check_link(item["url"], item["path"], item["expires"])
    assert photo["variants"]
    for variant in photo["variants"]:
        path = variant["url"].removeprefix("http://127.0.0.1:8080").partition("?")[0]
        assert path.startswith(photo["path"].removesuffix(".jpg") + ".")
        check_link(variant["url"], path, photo["expires"])


def test_public_mode_answers_are_unsigned(client):
    body, mimetype = multipart([("file", "a.pdf", "application/pdf", samples.pdf())])
    (item,) = client.post("/api/upload/attachment", data=body,
                          content_type=mimetype).get_json()["data"]["files"]
    assert item["url"] == "http://127.0.0.1:8080" + item["path"] and "expires" not in item


def test_sign_re_signs_stored_paths(private):
    pdf, photo = attach(private, [("a.pdf", samples.pdf()),
                                  ("p.jpg", make_image("JPEG", size=(300, 200)))])
    variant = photo["variants"][0]["url"].removeprefix("http://127.0.0.1:8080").partition("?")[0]
    answer = private.post("/api/upload/sign", json={"paths": [pdf["path"], variant]})
    assert answer.status_code == 200, answer.get_json()
    assert answer.headers["Cache-Control"] == "no-store"
    got = answer.get_json()["data"]["links"]
    assert [g["path"] for g in got] == [pdf["path"], variant]
    for item in got:
        check_link(item["url"], item["path"], item["expires"])
    single = private.post("/api/upload/sign", json={"path": pdf["path"]}).get_json()
    assert single["data"]["links"][0]["path"] == pdf["path"]


GOOD = "/f/p/2026/12/att_1796000000000_abcdefghij/a.pdf"


@pytest.mark.parametrize(("body", "status", "code"), [
    (None, 400, "bad_sign_request"),
    ([GOOD], 400, "bad_sign_request"),
    ({"paths": []}, 400, "bad_sign_request"),
    ({"paths": [GOOD] * 101}, 400, "bad_sign_request"),
    ({"paths": GOOD}, 400, "bad_sign_request"),
    ({"path": GOOD, "paths": [GOOD]}, 400, "bad_sign_request"),
    ({"path": 12}, 400, "not_attachment_path"),
    ({"path": "/i/p/2026/12/avatar_1796000000000_abcdef.jpg"}, 400, "not_attachment_path"),
    ({"path": GOOD + "?expires=1&sig=x"}, 400, "not_attachment_path"),
    ({"path": "https://example.com" + GOOD}, 400, "not_attachment_path"),
    ({"path": GOOD.replace("a.pdf", "..")}, 400, "not_attachment_path"),
    ({"path": GOOD.replace("a.pdf", ".hidden.pdf")}, 400, "not_attachment_path"),
    ({"path": GOOD.replace("a.pdf", "..%2Fatt_1796000000000_zzzzzzzzzz%2Fa.pdf")}, 400,
     "not_attachment_path"),
    ({"path": GOOD.replace("a.pdf", "a%20b.pdf").replace("%20", "%2a")}, 400,
     "not_attachment_path"),  # lower-case %XX: not the canonical spelling
    ({"path": GOOD.replace("a.pdf", "%61.pdf")}, 400, "not_attachment_path"),
    ({"path": GOOD.replace("a.pdf", "%FF.pdf")}, 400, "not_attachment_path"),
    ({"path": GOOD.replace("/12/", "/13/")}, 400, "not_attachment_path"),
    ({"path": GOOD}, 404, "no_such_attachment"),
    ({"path": GOOD.replace("a.pdf", "a" * 300 + ".pdf")}, 400, "not_attachment_path"),
    (b"[" * 100_000, 400, "bad_sign_request"),  # deeper than the JSON parser goes
    (b'{"path": "' + b"a" * 70_000 + b'"}', 400, "bad_sign_request"),  # over 64 KiB
])
def test_sign_refuses_what_is_not_a_stored_attachment(private, body, status, code):
    raw = b"{not json" if body is None else body if isinstance(body, bytes) else None
    answer = (private.post("/api/upload/sign", data=raw, content_type="application/json")
              if raw is not None else private.post("/api/upload/sign", json=body))
    parsed = assert_json_error(answer, status, code)
    if code == "bad_sign_request":
        assert "100" in parsed["error"]  # the rule, not only that it was broken


def test_sign_names_the_refused_path(private):
    (pdf,) = attach(private, [("a.pdf", samples.pdf())])
    answer = private.post("/api/upload/sign", json={"paths": [pdf["path"], "/f/nope"]},
                          headers={"Accept-Language": "en"})
    assert "Path 2 " in assert_json_error(answer, 400, "not_attachment_path")["error"]


def test_sign_is_a_404_in_public_mode(client):
    assert_json_error(client.post("/api/upload/sign", json={"path": GOOD}), 404, "not_found")


def test_sign_needs_the_uploads_auth(root):
    app = create_app({"ROOT": str(root), "ALLOW_EPHEMERAL": True, "AUTH": "jwt",
                      "JWT_SECRET": "j" * 32, **PRIVATE})
    answer = app.test_client().post("/api/upload/sign", json={"path": GOOD})
    assert_json_error(answer, 401, "unauthorized")


def test_every_location_that_serves_a_file_checks_the_link():
    """A location added to files-local.conf without the check would serve private files to
    anyone: each one that reaches `try_files` includes files-private.conf first."""
    text = (REPO / "nginx" / "files-local.conf").read_text()
    serving = [block for block in re.split(r"\n    location ", text)[1:] if "try_files" in block]
    assert len(serving) == 2
    for block in serving:
        assert block.index("include files-private.conf;") < block.index("try_files")


@pytest.mark.parametrize("name", ["nginx.conf", "nginx-s3.conf"])
def test_the_containers_nginx_needs_the_include_the_app_writes(name):
    compose = (REPO / "docker-compose.traefik.yml").read_text()
    assert "UPLOADS_LINK_NGINX_CONF: /run/uploads-link/link.conf" in compose
    assert "      - link:/run/uploads-link:ro\n" in compose
    assert "include /run/uploads-link/link.conf;" in (REPO / "nginx" / name).read_text()
