"""Delete links in process: the capability matrix (altered, cut, another file's, wrong method,
traversal), what a delete removes (the set, the folder, the owner's record), the key kept in
the store across restarts and replicas, and the owners' records written with a JWT only."""

import json
import time

import jwt
import pytest

import samples
from devstack.client import multipart
from devstack.images import make_image
from helpers import assert_json_error, stored_files
from uploads import create_app, owners
from uploads.deletion import DeleteKeys
from uploads.storage.private import SECRET_NAME

BASE = "http://127.0.0.1:8080"
SECRET = "s" * 40


def local(url: str) -> str:
    assert url.startswith(BASE + "/api/upload/delete/")
    return url[len(BASE):]


def avatar(upload, **kwargs) -> dict:
    answer = upload(make_image("JPEG", size=(600, 400)), **kwargs)
    assert answer.status_code == 201, answer.get_json()
    return answer.get_json()["data"]


def attachment(client, files, **kwargs) -> list[dict]:
    body, mimetype = multipart([("file", n, "application/octet-stream", d) for n, d in files])
    answer = client.post("/api/upload/attachment", data=body, content_type=mimetype, **kwargs)
    assert answer.status_code == 201, answer.get_json()
    return answer.get_json()["data"]["files"]


def test_a_delete_removes_the_avatar_and_every_variant(client, upload, root):
    data = avatar(upload)
    before = stored_files(root)
    assert len(before) == 1 + len(data["variants"])
    answer = client.delete(local(data["delete_url"]))
    assert answer.status_code == 204 and answer.data == b""
    assert answer.headers["Cache-Control"] == "no-store"
    assert stored_files(root) == []
    assert client.delete(local(data["delete_url"])).status_code == 204  # idempotent


def test_a_delete_removes_one_attachment_folder_and_nothing_else(client, root):
    pdf, photo = attachment(client, [("a.pdf", samples.pdf()),
                                     ("b.jpg", make_image("JPEG", size=(300, 200)))])
    assert client.delete(local(photo["delete_url"])).status_code == 204
    assert stored_files(root) == [pdf["path"].lstrip("/").rsplit("/", 1)[0] + "/a.pdf"]
    assert not (root / photo["path"].lstrip("/")).parent.exists()


def _swap_last(text: str) -> str:
    return text[:-1] + ("A" if text[-1] != "A" else "B")


def _parts(url):
    capability, _, unit = local(url)[len("/api/upload/delete/"):].partition("/")
    return capability, unit


@pytest.mark.parametrize("make, status, code", [
    (lambda cap, unit, other: f"{_swap_last(cap)}/{unit}", 403, "invalid_delete_link"),
    (lambda cap, unit, other: f"{cap[:-1]}/{unit}", 403, "invalid_delete_link"),
    (lambda cap, unit, other: f"{cap}A/{unit}", 403, "invalid_delete_link"),
    (lambda cap, unit, other: f"/{unit}", 404, "not_found"),
    (lambda cap, unit, other: f"{cap}.{'0' * 32}/{unit}", 403, "invalid_delete_link"),
    (lambda cap, unit, other: f"{cap}/{other}", 403, "invalid_delete_link"),  # another file's
    (lambda cap, unit, other: f"{cap}/{unit.replace('.jpg', '.64.webp')}", 404, "not_found"),
    (lambda cap, unit, other: f"{cap}/{unit}/../{other}", 404, "not_found"),
    (lambda cap, unit, other: f"{cap}/i/p/../../{unit}", 404, "not_found"),
    (lambda cap, unit, other: f"{cap}/%2e%2e/{unit}", 404, "not_found"),
    (lambda cap, unit, other: f"{cap}/{unit}%00", 404, "not_found"),
    (lambda cap, unit, other: f"{cap}/.uploads-delete-secret", 404, "not_found"),
    (lambda cap, unit, other: f"{cap}/{unit.replace('/p/20', '/p/٢٠', 1)}", 404, "not_found"),
], ids=["altered", "truncated", "longer", "missing", "owner-added", "other-file", "variant",
        "dotdot-after", "dotdot-inside", "encoded-dots", "nul", "private-name",
        "non-ascii-digits"])
def test_a_wrong_capability_or_path_deletes_nothing(client, upload, root, make, status, code):
    mine, other = avatar(upload), avatar(upload)
    capability, unit = _parts(mine["delete_url"])
    before = stored_files(root)
    answer = client.delete("/api/upload/delete/" + make(capability, unit, _parts(
        other["delete_url"])[1]))
    assert_json_error(answer, status, code)
    assert stored_files(root) == before


@pytest.mark.parametrize("method", ["GET", "POST", "PUT", "PATCH"])
def test_only_delete_deletes(client, upload, root, method):
    data = avatar(upload)
    before = stored_files(root)
    answer = client.open(local(data["delete_url"]), method=method)
    assert_json_error(answer, 405, "method_not_allowed")
    assert "DELETE" in answer.headers["Allow"]
    assert stored_files(root) == before


def test_the_invalid_link_message_says_the_rule_in_both_languages(client, upload):
    capability, unit = _parts(avatar(upload)["delete_url"])
    for language, words in (("fr", "delete_url exact"), ("en", "exact delete_url")):
        answer = client.delete(f"/api/upload/delete/{_swap_last(capability)}/{unit}",
                               headers={"Accept-Language": language})
        assert words in assert_json_error(answer, 403, "invalid_delete_link")["error"]


def test_the_stored_key_survives_a_restart_and_serves_every_replica(root, upload):
    data = avatar(upload)
    secret = (root / SECRET_NAME).read_bytes()
    assert (root / SECRET_NAME).stat().st_mode & 0o077 == 0, "the key is the app's alone"
    again = create_app({"ROOT": str(root), "ALLOW_EPHEMERAL": True, "MIN_FREE_BYTES": 0})
    assert (root / SECRET_NAME).read_bytes() == secret, "never replaced"
    assert again.test_client().delete(local(data["delete_url"])).status_code == 204


def test_a_configured_key_writes_nothing_and_voids_the_stored_keys_links(tmp_path):
    root = tmp_path / "root"
    made = create_app({"ROOT": str(root), "ALLOW_EPHEMERAL": True, "MIN_FREE_BYTES": 0})
    body, mimetype = multipart([("avatar", "a.jpg", "image/jpeg", make_image("JPEG"))])
    url = made.test_client().post("/api/upload/avatar", data=body, content_type=mimetype
                                  ).get_json()["data"]["delete_url"]
    set_up = create_app({"ROOT": str(root), "ALLOW_EPHEMERAL": True, "MIN_FREE_BYTES": 0,
                         "DELETE_SECRET": SECRET})
    assert_json_error(set_up.test_client().delete(local(url)), 403, "invalid_delete_link")
    fresh = tmp_path / "fresh"
    create_app({"ROOT": str(fresh), "ALLOW_EPHEMERAL": True, "MIN_FREE_BYTES": 0,
                "DELETE_SECRET": SECRET})
    assert not (fresh / SECRET_NAME).exists()


def test_two_replicas_starting_together_share_one_key(tmp_path):
    from uploads.storage.local import LocalStorage

    store = LocalStorage(str(tmp_path))
    first, second = DeleteKeys(store), DeleteKeys(LocalStorage(str(tmp_path)))
    assert first.capability("i/p/2026/01/x.jpg") == second.capability("i/p/2026/01/x.jpg")


# -- owners' records -------------------------------------------------------------------------

@pytest.fixture
def jwt_client(root):
    app = create_app({"ROOT": str(root), "ALLOW_EPHEMERAL": True, "MIN_FREE_BYTES": 0,
                      "ATTACHMENTS": True, "AUTH": "jwt", "JWT_SECRET": SECRET})
    return app.test_client()


def bearer(sub: str) -> dict:
    token = jwt.encode({"sub": sub, "exp": int(time.time()) + 300}, SECRET, "HS256")
    return {"Authorization": f"Bearer {token}"}


def test_an_anonymous_upload_writes_no_record(upload, root):
    avatar(upload)
    assert not (root / ".owners").exists()


def test_a_jwt_upload_is_recorded_before_the_answer_and_its_delete_removes_it(jwt_client, root):
    body, mimetype = multipart([("avatar", "a.jpg", "image/jpeg", make_image("JPEG"))])
    answer = jwt_client.post("/api/upload/avatar", data=body, content_type=mimetype,
                             headers=bearer("user-7"))
    data = answer.get_json()["data"]
    unit = data["path"].lstrip("/")
    record = root / ".owners" / owners.owner_id("user-7") / unit
    assert json.loads(record.read_text())["sub"] == "user-7"
    assert record.stat().st_mode & 0o077 == 0
    assert (root / ".owners").stat().st_mode & 0o777 == 0o700
    files = attachment(jwt_client, [("n.txt", samples.text())], headers=bearer("user-7"))
    assert owners.records(_store(jwt_client), "user-7") == sorted([
        owners.record_name(owners.owner_id("user-7"), unit),
        owners.record_name(owners.owner_id("user-7"),
                           files[0]["path"].lstrip("/").rsplit("/", 1)[0])])
    assert jwt_client.delete(local(data["delete_url"])).status_code == 204
    assert not record.exists()
    assert len(owners.records(_store(jwt_client), "user-7")) == 1


def test_a_refused_attachment_upload_leaves_no_record(jwt_client, root):
    body, mimetype = multipart([("file", "a.pdf", "application/pdf", samples.pdf()),
                                ("file", "x.html", "text/html", b"<html><script>")])
    answer = jwt_client.post("/api/upload/attachment", data=body, content_type=mimetype,
                             headers=bearer("user-7"))
    assert answer.status_code == 415
    assert stored_files(root) == []


@pytest.mark.parametrize("route", ["avatar", "attachment"])
def test_an_upload_whose_record_a_purge_removed_meanwhile_is_undone(jwt_client, root, route,
                                                                    monkeypatch):
    """A purge lists records, and may remove one whose files are not stored yet: the upload
    then finds its record gone once its files are stored, removes them and says why."""
    store = _store(jwt_client)
    placed = store.put_file if route == "attachment" else store.put_set

    def purged_meanwhile(key, *args, **kwargs):
        taken = placed(key, *args, **kwargs)
        for name in owners.records(store, "user-7"):
            store.delete_private(name)
        return taken

    monkeypatch.setattr(store, placed.__name__, purged_meanwhile)
    body, mimetype = multipart([("avatar", "a.jpg", "image/jpeg", make_image("JPEG"))]
                               if route == "avatar" else
                               [("file", "n.txt", "text/plain", samples.text())])
    answer = jwt_client.post(f"/api/upload/{route}", data=body, content_type=mimetype,
                             headers=bearer("user-7"))
    assert_json_error(answer, 409, "erased_meanwhile")
    assert stored_files(root) == []


def test_a_purge_removes_files_stored_after_its_first_pass(jwt_client, root, monkeypatch):
    """The other order: the upload's files land after the purge looked, before it removed the
    record; the purge looks again once the record is gone."""
    from uploads.deletion import remove_unit

    store = _store(jwt_client)
    data = avatar_of(jwt_client, "user-7")
    unit = data["path"].lstrip("/")
    kept = {key: store.read(key) for key in [unit, *(v["url"].split("/", 3)[3]
                                                    for v in data["variants"])]}
    delete_private = store.delete_private

    def landed_meanwhile(name):
        for key, content in kept.items():  # the in-flight upload's files, stored now
            store.put(key, content)
        return delete_private(name)

    for key in kept:
        store.delete(key)
    monkeypatch.setattr(store, "delete_private", landed_meanwhile)
    remove_unit(store, unit, jwt_client.application.config["VARIANTS"],
                owners.owner_id("user-7"), again=True)  # as purge calls it
    assert stored_files(root) == []


def avatar_of(client, sub: str) -> dict:
    body, mimetype = multipart([("avatar", "a.jpg", "image/jpeg", make_image("JPEG"))])
    answer = client.post("/api/upload/avatar", data=body, content_type=mimetype,
                         headers=bearer(sub))
    assert answer.status_code == 201, answer.get_data(as_text=True)
    return answer.get_json()["data"]


def _store(client):
    return client.application.extensions["uploads.storage"]


def test_the_key_may_come_from_a_secret_file(tmp_path):
    path = tmp_path / "delete-secret"
    path.write_text(SECRET + "\n")
    app = create_app({"ROOT": str(tmp_path / "root"), "ALLOW_EPHEMERAL": True,
                      "MIN_FREE_BYTES": 0, "DELETE_SECRET_FILE": str(path)})
    assert app.config["DELETE_SECRET"] == SECRET
    assert not (tmp_path / "root" / SECRET_NAME).exists()


@pytest.mark.parametrize("settings, words", [
    ({"DELETE_SECRET": "short"}, "UPLOADS_DELETE_SECRET must be at least 32 characters"),
    ({"DELETE_SECRET": SECRET, "DELETE_SECRET_FILE": "/nonexistent"},
     "set UPLOADS_DELETE_SECRET or UPLOADS_DELETE_SECRET_FILE, not both"),
])
def test_a_bad_key_setting_stops_the_start(tmp_path, settings, words):
    from uploads.settings import ConfigError

    with pytest.raises(ConfigError, match=words):
        create_app({"ROOT": str(tmp_path), "ALLOW_EPHEMERAL": True, **settings})


def test_a_damaged_stored_key_refuses_uploads_rather_than_keep_undeletable_files(root, app):
    (root / SECRET_NAME).write_text("not a key\n")  # the first app made a good one
    app = create_app({"ROOT": str(root), "ALLOW_EPHEMERAL": True, "MIN_FREE_BYTES": 0})
    body, mimetype = multipart([("avatar", "a.jpg", "image/jpeg", make_image("JPEG"))])
    answer = app.test_client().post("/api/upload/avatar", data=body, content_type=mimetype)
    assert_json_error(answer, 503, "storage_unavailable")
    assert stored_files(root) == []
