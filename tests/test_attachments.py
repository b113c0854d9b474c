"""POST /api/upload/attachment in process: each kind, many files, limits, refusals and the
hostile matrix; after any refusal nothing is stored and nothing is left in `.tmp/`."""

import io
import zipfile

import pytest
from PIL import Image

import samples
from devstack.client import multipart
from devstack.images import make_image
from helpers import assert_json_error, stored_files
from uploads import create_app, filenames
from uploads.errors import StorageUnavailable

MIB = 1024 * 1024


@pytest.fixture
def attach(client):
    """POST [(filename, bytes)] (or (field, filename, type, bytes)) as parts named `file`."""

    def post(files, **kwargs):
        parts = [f if len(f) == 4 else ("file", f[0], "application/octet-stream", f[1])
                 for f in files]
        body, mimetype = multipart(parts)
        return client.post("/api/upload/attachment", data=body, content_type=mimetype,
                           **kwargs)

    return post


def refused(answer, status, code, root) -> dict:
    body = assert_json_error(answer, status, code)
    assert stored_files(root) == [], "a refusal stores nothing and leaves no temp file"
    return body


@pytest.mark.parametrize("name", samples.ACCEPTED)
def test_each_kind_is_accepted_with_its_type_and_name(attach, root, name):
    make, kind, content_type, ext = samples.ACCEPTED[name]
    answer = attach([("Mon fichier." + ext, make())])
    assert answer.status_code == 201, answer.get_json()
    assert answer.headers["Cache-Control"] == "no-store"
    (item,) = answer.get_json()["data"]["files"]
    assert (item["kind"], item["content_type"]) == (kind, content_type)
    assert item["filename"] == f"Mon fichier.{ext}"
    assert item["path"].startswith("/f/p/") and item["path"].endswith(f"/Mon%20fichier.{ext}")
    assert item["url"] == "http://127.0.0.1:8080" + item["path"]
    folder = item["path"].lstrip("/").rsplit("/", 1)[0]
    assert item["delete_url"].startswith("http://127.0.0.1:8080/api/upload/delete/")
    assert item["delete_url"].endswith("/" + folder)  # the unit a delete removes: the folder
    key = item["path"].lstrip("/").rsplit("/", 1)[0] + "/" + item["filename"]
    stored = (root / key).read_bytes()
    assert len(stored) == item["size"]
    if kind == "image":
        assert (item["width"], item["height"]) == (300, 200)
        assert Image.open(io.BytesIO(stored)).size == (300, 200)
    else:
        assert stored == make()
    assert not [f for f in stored_files(root) if f.startswith(".tmp")]


def test_many_files_in_one_request(attach, root):
    files = [(f"n{i}.{samples.ACCEPTED[n][3]}", samples.ACCEPTED[n][0]())
             for i, n in enumerate(["pdf", "wav", "text", "png", "mp4", "ogg opus", "jpeg",
                                    "mov", "m4a", "webm video"])]
    answer = attach(files)
    assert answer.status_code == 201, answer.get_json()
    items = answer.get_json()["data"]["files"]
    assert [i["filename"] for i in items] == [name for name, _ in files]
    assert len({i["path"].rsplit("/", 1)[0] for i in items}) == 10  # a folder each


def test_an_image_gets_variants_beside_it(attach, root):
    answer = attach([("photo.jpg", make_image("JPEG", size=(1200, 800)))])
    item = answer.get_json()["data"]["files"][0]
    assert [v["url"].rsplit(".", 2)[1] for v in item["variants"]] == ["512", "256", "128", "64"]
    assert all(max(v["width"], v["height"]) <= box
               for v, box in zip(item["variants"], (512, 256, 128, 64), strict=True))
    folder = root / item["path"].lstrip("/").rsplit("/", 1)[0]
    assert sorted(p.name for p in folder.iterdir()) == [
        "photo.128.webp", "photo.256.webp", "photo.512.webp", "photo.64.webp", "photo.jpg"]
    assert item["variants"][0]["url"].endswith("/photo.512.webp")


def test_one_file_more_than_the_limit_is_400_naming_it(attach, root):
    answer = attach([(f"{i}.txt", b"hello") for i in range(11)])
    body = refused(answer, 400, "too_many_attachments", root)
    assert "10" in body["error"]


@pytest.mark.parametrize(("parts", "code"), [
    ([("avatar", "a.pdf", "application/pdf", samples.pdf())], "unexpected_field"),
    ([("file", "a.pdf", "application/pdf", samples.pdf()),
      ("other", "b.pdf", "application/pdf", samples.pdf())], "unexpected_field"),
    ([("note", None, None, b"hello")], "no_attachment"),
    ([("file", "empty.txt", "text/plain", b"")], "empty_file"),
])
def test_form_refusals(attach, root, parts, code):
    refused(attach(parts), 400, code, root)


def test_not_multipart_names_the_field(client, root):
    body = refused(client.post("/api/upload/attachment", data=b"x", content_type="text/plain"),
                   400, "not_multipart", root)
    assert "'file'" in body["error"]


def test_a_part_over_its_kinds_limit_is_413_naming_the_limit(root):
    app = create_app({"ROOT": str(root), "ALLOW_EPHEMERAL": True, "MIN_FREE_BYTES": 0,
                      "ATTACHMENTS": True,
                      "ATTACHMENT_IMAGE_MAX_BYTES": 64 * 1024,
                      "ATTACHMENT_MAX_BYTES": 256 * 1024})
    client = app.test_client()

    def post(name, data, language="en"):
        body, mimetype = multipart([("file", name, "", data)])
        return client.post("/api/upload/attachment", data=body, content_type=mimetype,
                           headers={"Accept-Language": language})

    big_png = make_image("PNG", size=(200, 200)) + b"\0" * (64 * 1024)
    body = refused(post("a.png", big_png), 413, "attachment_too_large", root)
    assert "64KB for an image" in body["error"] and "256KB" in body["error"]
    body = refused(post("a.png", big_png, "fr"), 413, "attachment_too_large", root)
    assert "64KB au plus pour une image" in body["error"]
    text = b"a" * (256 * 1024)
    assert post("a.txt", text).status_code == 201  # exactly the limit
    body = refused_after_success(post("b.txt", text + b"a"), root)
    assert "256KB for another file" in body["error"]


def refused_after_success(answer, root) -> dict:
    body = assert_json_error(answer, 413, "attachment_too_large")
    assert not [f for f in stored_files(root) if f.startswith(".tmp")]
    return body


def test_a_body_over_the_request_bound_is_413_before_parsing(client, root):
    answer = client.post("/api/upload/attachment", input_stream=io.BytesIO(b"x" * 10),
                         content_type="multipart/form-data; boundary=x",
                         environ_overrides={"CONTENT_LENGTH": str(101 * MIB + 1)},
                         headers={"Accept-Language": "en"})
    body = refused(answer, 413, "attachment_too_large", root)
    assert "20MB for an image, 100MB for another file" in body["error"]


def test_the_avatar_limit_is_unchanged(upload, root):
    answer = upload(make_image("PNG", size=(64, 64)) + b"\0" * (5 * MIB))
    assert_json_error(answer, 413, "file_too_large")


@pytest.mark.parametrize("name", samples.REFUSED)
@pytest.mark.parametrize("claimed", [("photo.jpg", "image/jpeg"), ("doc.pdf", "application/pdf")])
def test_refused_kinds_are_415_whatever_they_claim(attach, root, name, claimed):
    filename, content_type = claimed
    body = refused(attach([("file", filename, content_type, samples.REFUSED[name])]), 415,
                   "unsupported_kind", root)
    for word in ("JPEG", "PDF", "MP3", "MP4", "UTF-8"):
        assert word in body["error"]


@pytest.mark.parametrize("name", samples.TRUNCATED)
def test_truncated_files_are_422(attach, root, name):
    refused(attach([("x." + name, samples.TRUNCATED[name])]), 422, "file_truncated", root)


def test_one_refused_file_refuses_the_whole_upload(attach, root):
    answer = attach([("a.pdf", samples.pdf()), ("b.jpg", make_image("JPEG")),
                     ("c.html", samples.REFUSED["html"])])
    refused(answer, 415, "unsupported_kind", root)


def test_a_jpeg_carrying_a_zip_comes_out_clean(attach, root):
    archive = io.BytesIO()
    with zipfile.ZipFile(archive, "w") as z:
        z.writestr("evil.html", "<script>alert(1)</script>")
    answer = attach([("photo.jpg", make_image("JPEG") + archive.getvalue())])
    assert answer.status_code == 201, answer.get_json()
    item = answer.get_json()["data"]["files"][0]
    stored = (root / item["path"].lstrip("/").rsplit("/", 1)[0] / item["filename"]).read_bytes()
    assert b"PK" not in stored and b"evil" not in stored
    assert not zipfile.is_zipfile(io.BytesIO(stored))


def test_an_image_in_disguise_is_still_checked_by_the_pipeline(attach, root):
    refused(attach([("a.pdf", make_image("JPEG")[:200])]), 422, "invalid_image", root)


HOSTILE_NAMES = {
    "../../etc/passwd": "passwd.txt",
    "..\\..\\windows\\win.ini": "win.txt",
    "/etc/shadow.txt": "shadow.txt",
    "C:\\Users\\a\\report.txt": "report.txt",
    "invoice\u202etxt.exe": "invoicetxt.txt",
    "a\x00b.txt": "ab.txt",
    "zero\u200bwidth\u200d.txt": "zerowidth.txt",
    "x" * 1000 + ".txt": "x" * 116 + ".txt",
    "": "file.txt",
    "....": "file.txt",
    ".hidden.txt": "hidden.txt",
    "trailing. . .": "trailing.txt",
    "50% off?#;.txt": "50_ off___.txt",
    "notes": "notes.txt",
    "archive.tar.gz": "archive.tar.txt",
    "e\u0301t\u00e9.TXT": "\u00e9t\u00e9.txt",
    "a/\u2215b.txt": "b.txt",                # a division slash after a slash
    "dir\uff0f\uff0e\uff0etx.txt": "\uff0e\uff0etx.txt",  # a fullwidth slash is one
}


@pytest.mark.parametrize("raw", HOSTILE_NAMES)
def test_hostile_file_names_are_made_safe(attach, root, raw):
    quoted = raw.replace("\\", "\\\\")  # the header's quoting: werkzeug reads the raw name
    answer = attach([("file", quoted, "text/plain", b"hello\n")])
    assert answer.status_code == 201, answer.get_json()
    item = answer.get_json()["data"]["files"][0]
    assert item["filename"] == HOSTILE_NAMES[raw]
    assert item["path"].endswith("/" + filenames.url_name(HOSTILE_NAMES[raw]))
    (stored,) = stored_files(root)
    assert stored.startswith("f/p/") and stored.endswith("/" + HOSTILE_NAMES[raw])


def test_a_wrong_extension_is_replaced_by_the_kinds(attach, root):
    answer = attach([("invoice.pdf.exe", samples.pdf()), ("song.txt", samples.mp3()),
                     ("photo.jpeg", make_image("JPEG")), ("p.png", make_image("WEBP")),
                     ("photo.128.webp", make_image("WEBP"))])
    names = [i["filename"] for i in answer.get_json()["data"]["files"]]
    assert names == ["invoice.pdf", "song.mp3", "photo.jpg", "p.webp", "photo_128.webp"]


def test_jwt_mode_asks_for_a_token_first(root):
    app = create_app({"ROOT": str(root), "ALLOW_EPHEMERAL": True, "MIN_FREE_BYTES": 0,
                      "ATTACHMENTS": True,
                      "AUTH": "jwt", "JWT_SECRET": "s" * 32})
    body, mimetype = multipart([("file", "a.txt", "text/plain", b"hi")])
    answer = app.test_client().post("/api/upload/attachment", data=body,
                                    content_type=mimetype)
    refused(answer, 401, "unauthorized", root)


def test_parts_stream_to_the_volume_not_to_memory(attach, root, monkeypatch):
    """Every file part is written into the volume's temp folder as it arrives."""
    from uploads import attachments

    seen = []
    original = attachments.Part.__init__

    def spy(self, store, filename, config):
        original(self, store, filename, config)
        seen.append(self.path)

    monkeypatch.setattr(attachments.Part, "__init__", spy)
    assert attach([("a.txt", b"a" * 300_000)]).status_code == 201
    assert seen and all(path.startswith(str(root / ".tmp") + "/") for path in seen)
    assert not any(p.exists() for p in (root / ".tmp").iterdir())


def test_attachments_are_off_unless_the_operator_turns_them_on(root):
    """A new way to fill the volume is the operator's choice: off, the route is the JSON 404."""
    app = create_app({"ROOT": str(root), "ALLOW_EPHEMERAL": True, "MIN_FREE_BYTES": 0})
    answer = app.test_client().post("/api/upload/attachment", data={},
                                    content_type="multipart/form-data")
    assert answer.status_code == 404 and answer.json["code"] == "not_found"



def test_a_store_failing_on_the_second_file_leaves_no_file_and_no_folder(attach, app, root,
                                                                        monkeypatch):
    store = app.extensions["uploads.storage"]
    put_file, calls = store.put_file, []

    def second_fails(key, path, *args):
        calls.append(key)
        if len(calls) == 2:
            raise StorageUnavailable("disk gone")
        return put_file(key, path, *args)

    monkeypatch.setattr(store, "put_file", second_fails)
    answer = attach([("a.pdf", samples.pdf()), ("b.txt", samples.text())])
    assert_json_error(answer, 503, "storage_unavailable")
    assert stored_files(root) == []
    assert list(root.glob("f/p/*/*/att_*")) == []  # the first file's folder went too
