"""The store's private objects (the delete links' key, the owners' records) in the other
commands: `verify` never calls them strays and warns of a record whose upload is gone, `gc`
never removes them, `backup` carries them and `restore`/`migrate` put them back, so that on
the copy the delete links still delete and `purge` still finds a subject's uploads."""

import os
import tarfile
import time

import pytest

from devstack.images import make_image
from helpers import cli_runner
from uploads import create_app, owners
from uploads.storage.private import SECRET_NAME

from .conftest import send

OLD = time.time() - 30 * 86400


@pytest.fixture
def recorded(jwt_app):
    """Two avatars of `alice`, uploaded with a token: their answers."""
    return [send(jwt_app, "alice", "/api/upload/avatar",
                 [("avatar", "a.jpg", "image/jpeg", make_image("JPEG", size=(300, 200)))])
            for _ in range(2)]


def test_verify_calls_no_record_a_stray_and_warns_of_an_orphan(jwt_app, root, recorded):
    cli = cli_runner(jwt_app)
    clean = cli("verify", "--json")
    assert clean.exit_code == 0, clean.stdout
    assert ".owners" not in clean.stdout and SECRET_NAME not in clean.stdout
    store = jwt_app.extensions["uploads.storage"]
    gone = recorded[0]["path"].lstrip("/")
    store.delete(gone)  # outside its delete link: the record stays
    result = cli("verify")
    assert result.exit_code == 0
    record = owners.record_name(owners.owner_id("alice"), gone)
    assert f"WARN {record}: owner's record of an upload whose files are gone" in result.stdout


def test_gc_never_removes_records_or_the_key(jwt_app, root, recorded, tmp_path):
    for path in root.rglob("*"):
        if path.is_file():
            os.utime(path, (OLD, OLD))
    refs = tmp_path / "refs.txt"
    refs.write_text(recorded[0]["url"] + "\n")
    result = cli_runner(jwt_app)("gc", "--referenced", refs, "--apply", "--force")
    assert result.exit_code == 0, result.stdout
    store = jwt_app.extensions["uploads.storage"]
    assert len(owners.records(store, "alice")) == 2
    assert (root / SECRET_NAME).exists()


def test_backup_and_restore_carry_them_and_the_links_work_on_the_copy(jwt_app, root, recorded,
                                                                       tmp_path):
    archive = tmp_path / "b.tar"
    assert cli_runner(jwt_app)("backup", "-o", archive).exit_code == 0
    with tarfile.open(archive) as tar:
        names = {m.name: m.mode for m in tar.getmembers()}
    assert names[SECRET_NAME] == 0o600
    records = [n for n in names if n.startswith(".owners/")]
    assert len(records) == 2 and all(names[n] == 0o600 for n in records)
    copy = tmp_path / "copy"
    restoring = create_app({"ROOT": str(copy), "ALLOW_EPHEMERAL": True, "MIN_FREE_BYTES": 0},
                           serving=False)  # the copy has no key of its own yet
    result = cli_runner(restoring)("restore", "-i", archive)
    assert result.exit_code == 0, result.stdout
    served = create_app({"ROOT": str(copy), "ALLOW_EPHEMERAL": True, "MIN_FREE_BYTES": 0})
    url = recorded[0]["delete_url"].split("8080", 1)[1]
    assert served.test_client().delete(url).status_code == 204
    assert "would remove 1 uploads" in cli_runner(served)("purge", "--subject", "alice").stdout


def test_a_copy_with_its_own_key_keeps_it_and_says_so(jwt_app, recorded, tmp_path, other):
    archive = tmp_path / "b.tar"
    assert cli_runner(jwt_app)("backup", "-o", archive).exit_code == 0
    own = (other.root / SECRET_NAME).read_bytes()
    result = other("restore", "-i", archive)
    assert result.exit_code == 0, result.stdout
    assert "WARN .uploads-delete-secret: the store keeps its own" in result.stdout
    assert (other.root / SECRET_NAME).read_bytes() == own
    assert len(list((other.root / ".owners").rglob("*.jpg"))) == 2


def test_migrate_from_a_storage_root_carries_them(jwt_app, root, recorded, tmp_path):
    target = tmp_path / "target"
    app = create_app({"ROOT": str(target), "ALLOW_EPHEMERAL": True, "MIN_FREE_BYTES": 0},
                     serving=False)
    result = cli_runner(app)("migrate", "--from", root)
    assert result.exit_code == 0, result.stdout
    assert (target / SECRET_NAME).read_bytes() == (root / SECRET_NAME).read_bytes()
    assert owners.records(app.extensions["uploads.storage"], "alice") == owners.records(
        jwt_app.extensions["uploads.storage"], "alice")
