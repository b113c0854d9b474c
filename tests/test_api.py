"""The upload route's contract, in process: what the existing client sends and reads."""

import io
import os

import pytest
from PIL import Image

from devstack.client import multipart
from devstack.images import encode, make_image, noise
from helpers import stored_files

MIB = 1024 * 1024


def _gif():
    return make_image("GIF", mode="P")


def _jpeg_padded_to(total: int) -> bytes:
    """A valid JPEG of exactly `total` bytes: trailing data after EOI is ignored by decoders."""
    data = make_image("JPEG")
    return data + b"\0" * (total - len(data))


def _bomb_png():
    im = Image.new("1", (10_000, 10_000))  # 100 Mpx that compress to a few KB
    return encode(im, "PNG")


REFUSED_FORMATS = {
    "gif": _gif,
    "bmp": lambda: make_image("BMP"),
    "tiff": lambda: make_image("TIFF"),
    "ico": lambda: make_image("ICO", size=(32, 32)),
    "svg": lambda: b'<svg xmlns="http://www.w3.org/2000/svg"><script>alert(1)</script></svg>',
    "pdf": lambda: b"%PDF-1.7\n1 0 obj\n<<>>\nendobj\ntrailer\n<<>>\n%%EOF\n",
    "heic": lambda: b"\0\0\0\x18ftypheic\0\0\0\0mif1heic" + b"\0" * 64,
    "text": lambda: b"hello, I am not an image",
    "html": lambda: b"<html><script>alert(1)</script></html>",
}

UNDECODABLE = {
    "truncated-jpeg": lambda: make_image("JPEG", size=(256, 256))[:300],
    "corrupt-png": lambda: make_image("PNG")[:40] + b"\xde\xad\xbe\xef" * 16,
    "truncated-webp": lambda: make_image("WEBP", size=(256, 256))[:60],
    "jpeg-magic-only": lambda: b"\xff\xd8\xff" + b"\0" * 100,
}


@pytest.mark.parametrize("kind", sorted(REFUSED_FORMATS))
def test_other_formats_are_415(upload, root, kind):
    response = upload(REFUSED_FORMATS[kind](), filename=f"x.{kind}")
    assert response.status_code == 415, response.json
    assert response.json == {"success": False, "code": "unsupported_format",
                             "error": "Format d'image non supporté (acceptés : JPEG, PNG, WebP)"}
    assert stored_files(root) == []


@pytest.mark.parametrize("kind", sorted(UNDECODABLE))
def test_undecodable_accepted_formats_are_422(upload, root, kind):
    response = upload(UNDECODABLE[kind]())
    assert response.status_code == 422, response.json
    assert response.json["code"] == "invalid_image"
    assert stored_files(root) == []


@pytest.mark.parametrize("make", [
    _bomb_png,
    lambda: make_image("PNG", size=(16_385, 2), mode="L", color=0),  # one side over the cap
])
def test_images_over_the_caps_are_422_naming_the_caps(upload, root, make):
    response = upload(make(), filename="x.png")
    assert response.status_code == 422
    assert response.json["code"] == "image_too_large"
    assert "25 000 000" in response.json["error"] and "16384" in response.json["error"]
    assert stored_files(root) == []


def test_exactly_the_limit_is_accepted_one_byte_more_is_413(upload, root):
    ok = upload(_jpeg_padded_to(5 * MIB))
    assert ok.status_code == 201, ok.json
    too_big = upload(_jpeg_padded_to(5 * MIB + 1))
    assert too_big.status_code == 413
    assert too_big.json == {"success": False, "code": "file_too_large",
                            "error": "La taille de l'image ne doit pas dépasser 5MB"}
    assert len([f for f in stored_files(root) if f.startswith("i/")]) == 1


@pytest.mark.parametrize("fmt", ["JPEG", "PNG", "WEBP"])
def test_photo_sized_dense_images_are_accepted(upload, fmt):
    """Noise does not compress: megabytes of dense data through werkzeug's multipart parser."""
    data = encode(noise((1100, 1100)), fmt, quality=95)
    assert len(data) > MIB
    response = upload(data)
    assert response.status_code == 201, response.json


def test_a_file_of_exactly_the_limit_with_text_fields_is_still_accepted(client, root):
    """Only the file's own size decides a 413, whatever else the form carries."""
    body, ctype = multipart([("note", None, None, b"n" * 300 * 1024),
                             ("avatar", "a.jpg", "image/jpeg", _jpeg_padded_to(5 * MIB))])
    response = client.post("/api/upload/avatar", data=body, content_type=ctype)
    assert response.status_code == 201, response.json


def test_far_too_large_body_is_413_before_parsing(client, root):
    body = b"x" * (7 * MIB)
    response = client.post("/api/upload/avatar", data=body,
                           content_type="multipart/form-data; boundary=zz")
    assert response.status_code == 413
    assert response.json["code"] == "file_too_large"
    assert stored_files(root) == []


@pytest.mark.parametrize("make_request, code", [
    (lambda c: c.post("/api/upload/avatar", data={"avatar": (io.BytesIO(b""), "a.jpg")},
                      content_type="multipart/form-data"), "empty_file"),
    (lambda c: c.post("/api/upload/avatar", data={
        "avatar": [(io.BytesIO(make_image()), "a.jpg"), (io.BytesIO(make_image()), "b.jpg")]},
        content_type="multipart/form-data"), "too_many_files"),
    (lambda c: c.post("/api/upload/avatar", data={
        "avatar": (io.BytesIO(make_image()), "a.jpg"), "file": (io.BytesIO(make_image()), "b")},
        content_type="multipart/form-data"), "too_many_files"),
    (lambda c: c.post("/api/upload/avatar", data={"name": "no file here"},
                      content_type="multipart/form-data"), "no_file"),
    (lambda c: c.post("/api/upload/avatar", data={"photo": (io.BytesIO(make_image()), "a.jpg")},
                      content_type="multipart/form-data"), "no_file"),
    (lambda c: c.post("/api/upload/avatar", json={"avatar": "aGVsbG8="}), "not_multipart"),
    (lambda c: c.post("/api/upload/avatar", data=make_image(), content_type="image/jpeg"),
     "not_multipart"),
    (lambda c: c.post("/api/upload/avatar", data=b"--zz\r\nbroken",
                      content_type="multipart/form-data; boundary=zz"), "malformed_form"),
    (lambda c: c.post("/api/upload/avatar", data=multipart(
        [("avatar", "caf\udce9.jpg", "image/jpeg", make_image())])[0],
        content_type="multipart/form-data; boundary=uploads-test-boundary"), "malformed_form"),
])
def test_malformed_requests_are_400(client, root, make_request, code):
    response = make_request(client)
    assert response.status_code == 400, response.json
    assert response.json["success"] is False and response.json["code"] == code
    assert stored_files(root) == []


def test_the_seed_message_for_a_missing_file(client):
    response = client.post("/api/upload/avatar", data={}, content_type="multipart/form-data")
    assert response.status_code == 400
    assert response.json["error"].startswith("Aucun fichier fourni ")


@pytest.mark.parametrize("filename", ["../../../etc/passwd", "..%2f..%2fapp.py", "a\0b.jpg",
                                      "/abs/path.png", "C:\\\\evil.jpg"])
def test_client_file_names_never_reach_the_disk(upload, root, tmp_path, filename):
    refused = upload(_gif(), filename=filename)
    assert refused.status_code == 415 and refused.json["code"] == "unsupported_format"
    assert stored_files(root) == []
    accepted = upload(make_image(), filename=filename)
    assert accepted.status_code == 201
    path = accepted.json["data"]["path"]
    assert stored_files(tmp_path) == ["root" + path]  # nothing anywhere else under tmp


@pytest.mark.parametrize("content, claimed, filename, status", [
    (_gif, "image/jpeg", "photo.jpg", 415),          # a GIF claiming to be a JPEG
    (lambda: make_image("PNG"), "image/gif", "x.gif", 201),  # a PNG claiming to be a GIF
    (lambda: make_image("WEBP"), "application/octet-stream", "blob", 201),
    (lambda: make_image("JPEG"), "text/html", "page.html", 201),
])
def test_client_content_type_and_name_are_hints_only(upload, root, content, claimed, filename,
                                                     status):
    response = upload(content(), filename=filename, content_type=claimed)
    assert response.status_code == status, response.json
    if status == 415:
        assert response.json["code"] == "unsupported_format"
        assert stored_files(root) == []
    if status == 201:
        data = response.json["data"]
        with Image.open(root / data["path"].lstrip("/")) as im:
            real = im.format
        assert data["filename"].endswith({"JPEG": ".jpg", "PNG": ".png", "WEBP": ".webp"}[real])


def test_success_answer_is_the_contract(upload, root, app):
    response = upload(make_image("PNG", size=(120, 80)), field="file")  # `file` is an alias
    assert response.status_code == 201
    body = response.json
    assert list(body) == ["success", "data"] and body["success"] is True
    data = body["data"]
    assert set(data) == {"url", "filename", "path", "size", "width", "height", "content_type",
                         "variants", "delete_url"}  # added, every older field unchanged
    assert [(v["width"], v["height"]) for v in data["variants"]] == [(60, 40)]
    assert data["path"].startswith("/i/p/") and data["path"].endswith("/" + data["filename"])
    assert data["url"] == "http://127.0.0.1:8080" + data["path"]
    assert response.headers["Location"] == data["url"]
    assert (data["width"], data["height"], data["content_type"]) == (120, 80, "image/png")
    stored = root / data["path"].lstrip("/")
    assert stored.stat().st_size == data["size"]
    assert oct(stored.stat().st_mode & 0o777) == "0o644"
    assert oct(stored.parent.stat().st_mode & 0o777) == "0o755"


def test_url_ignores_host_and_forwarded_headers(root):
    from uploads import create_app

    app = create_app({"ROOT": str(root), "ALLOW_EPHEMERAL": True, "MIN_FREE_BYTES": 0,
                      "PUBLIC_BASE_URL": "https://cdn.example.com"})
    response = app.test_client().post(
        "/api/upload/avatar", data={"avatar": (io.BytesIO(make_image()), "a.jpg")},
        content_type="multipart/form-data",
        headers={"Host": "evil.test", "X-Forwarded-Host": "evil.test",
                 "X-Forwarded-Proto": "http", "Forwarded": "host=evil.test"})
    assert response.json["data"]["url"].startswith("https://cdn.example.com/i/p/")


def test_english_messages_by_setting(root):
    from uploads import create_app

    app = create_app({"ROOT": str(root), "ALLOW_EPHEMERAL": True, "LANGUAGE": "en",
                      "MAX_BYTES": 1000})
    response = app.test_client().post(
        "/api/upload/avatar", data={"avatar": (io.BytesIO(b"x" * 1001), "a.jpg")},
        content_type="multipart/form-data")
    assert response.status_code == 413
    assert response.json["error"] == "The image must not be larger than 1000 bytes"


@pytest.mark.parametrize("method", ["get", "head", "post", "put", "delete"])
@pytest.mark.parametrize("path", ["/i/", "/i/p/2026/11/avatar_1_abcdef.jpg", "/i/../app.py"])
def test_the_app_never_serves_image_paths(client, method, path):
    response = getattr(client, method)(path)
    assert response.status_code == 404
    if method != "head":
        assert response.json["code"] == "not_found"


def test_wrong_method_on_the_route_is_json_405(client):
    response = client.get("/api/upload/avatar")
    assert response.status_code == 405
    assert response.json["code"] == "method_not_allowed"
    assert "POST" in response.headers["Allow"]


def test_health_and_readiness(client, root):
    assert client.get("/healthz").json == {"status": "ok"}
    ready = client.get("/readyz")
    assert ready.status_code == 200 and ready.json["free_bytes"] > 0


def test_readiness_fails_when_free_space_is_below_the_setting(root):
    from uploads import create_app

    app = create_app({"ROOT": str(root), "ALLOW_EPHEMERAL": True, "MIN_FREE_BYTES": 1 << 60})
    client = app.test_client()
    assert client.get("/readyz").status_code == 503
    response = client.post("/api/upload/avatar", data={"avatar": (io.BytesIO(make_image()), "a")},
                           content_type="multipart/form-data")
    assert response.status_code == 507 and response.json["code"] == "storage_full"
    assert not os.path.exists(root / "i")


def test_unexpected_errors_are_json_500_without_a_trace(app, upload, monkeypatch):
    def boom(*args, **kwargs):
        raise RuntimeError("secret internals")

    monkeypatch.setattr("uploads.images.normalise", boom)  # a fault that cannot be caused
    response = upload(make_image())
    assert response.status_code == 500
    assert response.json == {"success": False, "error": "Erreur interne du serveur",
                             "code": "internal_error"}


@pytest.mark.parametrize("settings, forwarded, logged", [
    ({}, "203.0.113.9, 198.51.100.1", "198.51.100.1"),  # only Traefik's own entry counts
    ({"TRUSTED_PROXIES": "10.0.0.0/8", "TRUSTED_HOPS": 1}, "203.0.113.9, 10.0.0.5",
     "203.0.113.9"),  # behind a trusted balancer: one more place to the left
    ({"TRUSTED_PROXIES": ("10.0.0.0/8",), "TRUSTED_HOPS": 0}, "203.0.113.9, 10.0.0.5",
     "203.0.113.9"),  # 0 reads like 1, as at the edge
])
def test_the_logged_client_ip_follows_the_proxy_settings(root, caplog, settings, forwarded,
                                                         logged):
    from uploads import create_app

    app = create_app({"ROOT": str(root), "ALLOW_EPHEMERAL": True, "MIN_FREE_BYTES": 0,
                      **settings})
    caplog.set_level("INFO", "uploads")
    body, ctype = multipart([("avatar", "a.jpg", "image/jpeg", make_image())])
    response = app.test_client().post("/api/upload/avatar", data=body, content_type=ctype,
                                      headers={"X-Forwarded-For": forwarded})
    assert response.status_code == 201
    assert [r.ip for r in caplog.records if r.getMessage() == "stored"] == [logged]


@pytest.mark.parametrize(("accept", "language", "text"), [
    (None, "fr", "Format d'image non supporté (acceptés : JPEG, PNG, WebP)"),
    ("en-US,en;q=0.9", "en", "Unsupported image format (accepted: JPEG, PNG, WebP)"),
    ("fr-CA,fr;q=0.9,en;q=0.8", "fr", "Format d'image non supporté (acceptés : JPEG, PNG, WebP)"),
    ("de-DE,de;q=0.9", "fr", "Format d'image non supporté (acceptés : JPEG, PNG, WebP)"),
])
def test_errors_answer_in_the_language_the_client_asks_for(upload, accept, language, text):
    headers = {"Accept-Language": accept} if accept else {}
    response = upload(b"GIF89a" + bytes(64), filename="x.gif", headers=headers)
    assert response.status_code == 415
    assert response.json["error"] == text
    assert response.headers["Content-Language"] == language
    assert "Accept-Language" in response.headers["Vary"]


def test_the_limits_a_client_can_shrink_to(client):
    response = client.get("/api/upload/limits", headers={"Accept-Language": "en"})
    assert response.status_code == 200
    data = response.json["data"]
    assert data["max_bytes"] == 5 * 1024 * 1024 and data["max_bytes_text"] == "5MB"
    assert data["max_side"] == 2048 and data["field"] == "avatar"
    assert data["content_types"] == ["image/jpeg", "image/png", "image/webp"]
    assert response.headers["Cache-Control"] == "public, max-age=300"
