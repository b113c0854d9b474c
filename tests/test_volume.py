"""The store's identity (uploads/storage/identity.py), on the local volume and on a real
SeaweedFS bucket: written once at the first start and never replaced, logged with the number of
files, reported by /readyz, and the refusal to start on another store than UPLOADS_VOLUME_ID
names, whatever it holds; the commands never see the id as a file."""

import io
import json
import logging
import os
import tarfile
import time
import uuid

import pytest

from helpers import cli_runner
from uploads import create_app
from uploads.settings import ConfigError
from uploads.storage import ID_NAME
from uploads.storage.identity import claim
from uploads.storage.private import SECRET_NAME

KEYS = ["i/p/2025/10/avatar_1760877849690_827t7v.png", "i/p/2026/11/avatar_1795000000000_ab.png"]


@pytest.fixture
def backend(tmp_path):
    """(settings for create_app, the store, a function reading the raw id), with no id and no
    file to start with; tests/s3/test_s3_volume.py runs the same tests on a bucket."""
    root = tmp_path / "root"
    root.mkdir()
    settings = {"ROOT": str(root), "ALLOW_EPHEMERAL": True, "MIN_FREE_BYTES": 0}
    store = create_app(settings, serving=False).extensions["uploads.storage"]
    yield settings, store, lambda: (root / ID_NAME).read_text() if (
        root / ID_NAME).exists() else None


def fill(store, keys=KEYS):
    for key in keys:
        assert store.put(key, b"x", "image/png")


def test_the_first_start_writes_an_id_that_later_starts_keep(backend, caplog):
    settings, store, raw = backend
    fill(store)
    with caplog.at_level(logging.INFO, "uploads"):
        client = create_app(settings).test_client()
    volume_id = str(uuid.UUID(raw().strip()))
    assert raw() == volume_id + "\n"
    [line] = [r.getMessage() for r in caplog.records if r.getMessage().startswith("volume ")]
    assert line == f"volume {volume_id}: {store.where()} holds 2 files"
    ready = client.get("/readyz").json
    assert (ready["status"], ready["volume_id"], ready["files"]) == ("ready", volume_id, 2)
    again = create_app(settings).test_client().get("/readyz").json
    assert again["volume_id"] == volume_id and raw() == volume_id + "\n"
    # Told to expect it, the app starts; the id is never rewritten.
    assert create_app({**settings, "VOLUME_ID": volume_id}).extensions[
        "uploads.volume"].id == volume_id


def test_the_id_is_never_replaced(backend):
    _, store, raw = backend
    first, second = "11111111-1111-4111-8111-111111111111", "22222222-2222-4222-8222-222222222222"
    assert store.write_id(first)
    assert store.write_id(second) is False
    assert store.read_id() == first and raw() == first + "\n"
    assert claim(store).id == first


def test_another_id_is_refused_naming_both(backend):
    settings, store, raw = backend
    store.write_id("11111111-1111-4111-8111-111111111111")
    fill(store)
    with pytest.raises(ConfigError) as refused:
        create_app({**settings, "VOLUME_ID": "22222222-2222-4222-8222-222222222222"})
    line = refused.value.detail
    assert "\n" not in line
    assert (f"{store.where()} is volume 11111111-1111-4111-8111-111111111111, but "
            "UPLOADS_VOLUME_ID=22222222-2222-4222-8222-222222222222") in line
    assert "set UPLOADS_VOLUME_ID=11111111-1111-4111-8111-111111111111 if this one is right" in line
    assert raw() == "11111111-1111-4111-8111-111111111111\n"


def test_a_store_with_files_and_no_id_is_refused_when_an_id_is_expected(backend):
    settings, store, raw = backend
    fill(store)
    with pytest.raises(ConfigError) as refused:
        create_app({**settings, "VOLUME_ID": "11111111-1111-4111-8111-111111111111"})
    assert f"{store.where()} holds 2 files but no volume id" in refused.value.detail
    assert "start once with UPLOADS_VOLUME_ID empty" in refused.value.detail
    assert raw() is None, "nothing written into a store that is refused"


def test_an_empty_store_with_no_id_is_refused_too_when_an_id_is_expected(backend):
    """A new empty volume is what a changed project name or UPLOADS_VOLUME gives: the
    incident. Starting it as a new volume on purpose is one start without the setting."""
    settings, store, raw = backend
    with pytest.raises(ConfigError) as refused:
        create_app({**settings, "VOLUME_ID": "11111111-1111-4111-8111-111111111111"})
    assert f"{store.where()} is empty and has no volume id" in refused.value.detail
    assert raw() is None


def test_commands_never_see_the_id(backend):
    settings, store, raw = backend
    fill(store)
    create_app(settings)
    assert raw()
    assert [e.key for e in store.walk()] == sorted(KEYS)
    with pytest.raises(ValueError):
        store.read(ID_NAME)
    cli = cli_runner(create_app(settings, serving=False))
    du = cli("du", "--json")
    assert du.exit_code == 0 and json.loads(du.stdout)["files"] == 2, du.output
    backup = cli("backup", "-o", "-", "--json")
    assert backup.exit_code == 0, backup.output
    with tarfile.open(fileobj=io.BytesIO(backup.stdout_bytes)) as tar:
        # The id stays behind; the delete links' key is carried (commands/carried.py).
        assert sorted(tar.getnames()) == sorted([*KEYS, "MANIFEST.json", SECRET_NAME])


def test_the_count_is_refreshed_in_the_background_never_by_the_probe(backend, monkeypatch):
    settings, store, _ = backend
    app = create_app(settings)
    volume, client = app.extensions["uploads.volume"], app.test_client()
    fill(store)
    assert client.get("/readyz").json["files"] == 0  # counted at start, not at each probe
    walked = []
    real_walk = type(store).walk
    monkeypatch.setattr(type(store), "walk", lambda self, *a: walked.append(1) or real_walk(
        self, *a))
    volume.refresh = 0
    client.get("/readyz")
    deadline = time.monotonic() + 10
    while client.get("/readyz").json["files"] != 2 and time.monotonic() < deadline:
        time.sleep(0.05)
    assert client.get("/readyz").json["files"] == 2
    assert walked, "recounted by a walk of the store"


def test_a_failing_recount_keeps_the_last_count(backend, monkeypatch, caplog):
    settings, store, _ = backend
    fill(store)
    volume = create_app(settings).extensions["uploads.volume"]

    def broken(self, *args):
        raise OSError("the store went away")

    monkeypatch.setattr(type(store), "walk", broken)
    volume.refresh = 0
    with caplog.at_level(logging.WARNING, "uploads"):
        assert volume.files == 2
        deadline = time.monotonic() + 10
        while volume._counting and time.monotonic() < deadline:
            time.sleep(0.05)
    assert volume.files == 2
    assert "could not count the stored files: the store went away" in caplog.text


def test_the_local_id_is_a_plain_file_beside_i(tmp_path):
    root = tmp_path / "root"
    create_app({"ROOT": str(root), "ALLOW_EPHEMERAL": True, "MIN_FREE_BYTES": 0})
    assert (root / ID_NAME).stat().st_mode & 0o777 == 0o644
    assert (root / SECRET_NAME).stat().st_mode & 0o777 == 0o600  # the delete links' key
    assert set(os.listdir(root)) <= {ID_NAME, SECRET_NAME, ".tmp"}
    assert not (root / ".tmp").exists() or os.listdir(root / ".tmp") == []  # no temp left


def test_an_empty_id_file_is_refused(tmp_path):
    root = tmp_path / "root"
    root.mkdir()
    (root / ID_NAME).write_text("\n")
    with pytest.raises(ConfigError, match="its volume id file is empty"):
        create_app({"ROOT": str(root), "ALLOW_EPHEMERAL": True, "MIN_FREE_BYTES": 0})


@pytest.mark.parametrize("make, words", [
    (lambda path: path.write_bytes(b"\xff\xfe\x00junk"), "not an id this app writes"),
    (lambda path: path.write_text("\n11111111-1111-4111-8111-111111111111\nEVIL"),
     "not an id this app writes"),
    (lambda path: path.write_text("A" * 10_000_000), "not an id this app writes"),
    (lambda path: os.mkfifo(path), "not a regular file"),  # would hang a blocking read
    (lambda path: path.symlink_to(path.parent.parent / "other" / ID_NAME), ID_NAME),
], ids=["garbage", "several-lines", "huge", "fifo", "symlink"])
def test_an_id_file_that_is_not_one_is_refused_in_one_line(tmp_path, make, words):
    """A link would borrow another volume's identity; a FIFO would hang the start."""
    (tmp_path / "other").mkdir()
    (tmp_path / "other" / ID_NAME).write_text(str(uuid.uuid4()) + "\n")
    root = tmp_path / "root"
    root.mkdir()
    make(root / ID_NAME)
    with pytest.raises(ConfigError) as refused:
        create_app({"ROOT": str(root), "ALLOW_EPHEMERAL": True, "MIN_FREE_BYTES": 0})
    assert words in refused.value.detail and "\n" not in refused.value.detail


def test_a_store_that_cannot_be_listed_is_one_line(backend, monkeypatch):
    settings, store, _ = backend

    def broken(self, *args):
        raise PermissionError(13, "Permission denied")

    monkeypatch.setattr(type(store), "walk", broken)
    with pytest.raises(ConfigError, match=r"cannot be read: \[Errno 13\] Permission denied"):
        create_app(settings)


def test_a_slow_count_is_made_again_less_often(backend, monkeypatch):
    """A count that took long (a bucket of 10^6 keys) waits COST_FACTOR times that long before
    the next, so replicas and workers do not keep listing the whole store."""
    settings, store, _ = backend
    volume = create_app(settings).extensions["uploads.volume"]
    volume.refresh = 0
    real_walk = type(store).walk
    walks = []

    def slow(self, *args):
        walks.append(1)
        time.sleep(0.2)
        return real_walk(self, *args)

    monkeypatch.setattr(type(store), "walk", slow)
    volume.files  # noqa: B018 (the property starts a recount)
    deadline = time.monotonic() + 10
    while (volume._counting or not walks) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert walks == [1]
    for _ in range(10):  # well within 30 x 0.2 s
        volume.files  # noqa: B018
        time.sleep(0.05)
    assert walks == [1]
