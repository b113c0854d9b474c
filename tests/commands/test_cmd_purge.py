"""`purge --subject`: a dry run by default that lists one subject's uploads (avatars with their
variants, attachments with their folders) and changes nothing; `--apply` removes them and their
records and leaves every other upload; a second run finds nothing; a record whose files are
gone is said and removed."""

import json

import pytest

import samples
from devstack.images import make_image
from helpers import cli_runner, stored_files
from uploads import owners

from .conftest import fingerprint, send


@pytest.fixture
def uploaded(jwt_app):
    """Two avatars and two attachments of `alice`, one avatar of `bob`: their answers."""
    photo = make_image("JPEG", size=(600, 400))
    mine = [send(jwt_app, "alice", "/api/upload/avatar", [("avatar", "a.jpg", "image/jpeg",
                                                           photo)]) for _ in range(2)]
    mine += send(jwt_app, "alice", "/api/upload/attachment", [
        ("file", "r.pdf", "application/pdf", samples.pdf()),
        ("file", "p.jpg", "image/jpeg", make_image("JPEG", size=(300, 200)))])["files"]
    theirs = send(jwt_app, "bob", "/api/upload/avatar", [("avatar", "b.jpg", "image/jpeg",
                                                          photo)])
    return mine, theirs


def test_the_dry_run_lists_the_subjects_uploads_and_changes_nothing(jwt_app, root, uploaded):
    mine, _ = uploaded
    cli = cli_runner(jwt_app)
    before = fingerprint(root)
    result = cli("purge", "--subject", "alice")
    assert result.exit_code == 0, result.output
    assert fingerprint(root) == before
    for item in mine:
        unit = item["path"].lstrip("/")
        unit = unit.rsplit("/", 1)[0] if unit.startswith("f/") else unit
        assert f"WOULD REMOVE {unit}:" in result.stdout
    assert "subject 'alice': would remove 4 uploads" in result.stdout
    assert "--apply" in result.stdout.splitlines()[-1]


def test_apply_removes_the_subjects_uploads_and_records_only(jwt_app, root, uploaded):
    mine, theirs = uploaded
    cli = cli_runner(jwt_app)
    result = cli("purge", "--subject", "alice", "--apply", "--json")
    assert result.exit_code == 0, result.output
    doc = json.loads(result.stdout)
    assert doc["applied"] and doc["uploads"] == 4
    assert doc["files"] == 2 * (1 + len(mine[0]["variants"])) + 1 + 1 + len(mine[3]["variants"])
    bobs = [theirs["path"].lstrip("/"), *(v["url"].split("8080/", 1)[1]
                                           for v in theirs["variants"])]
    assert sorted(f for f in stored_files(root) if not f.startswith(".owners/")) == sorted(bobs)
    store = jwt_app.extensions["uploads.storage"]
    assert owners.records(store, "alice") == []
    assert len(owners.records(store, "bob")) == 1
    again = cli("purge", "--subject", "alice", "--apply")
    assert "removed 0 uploads" in again.stdout and again.exit_code == 0


def test_a_record_whose_files_are_gone_is_said_and_removed(jwt_app, root, uploaded):
    mine, _ = uploaded
    client = jwt_app.test_client()
    assert client.delete(mine[0]["delete_url"].split("8080", 1)[1]).status_code == 204
    store = jwt_app.extensions["uploads.storage"]
    unit = mine[1]["path"].lstrip("/")
    for key in [unit, *(v["url"].split("8080/", 1)[1] for v in mine[1]["variants"])]:
        store.delete(key)  # as gc would: the record stays
    result = cli_runner(jwt_app)("purge", "--subject", "alice", "--apply")
    assert f"REMOVED {unit}: 0 files, 0 B (files already gone; the record only)" in result.stdout
    assert owners.records(store, "alice") == []


@pytest.mark.parametrize("subject", ["", "  "])
def test_an_empty_subject_is_refused(jwt_app, subject):
    result = jwt_app.test_cli_runner().invoke(args=["purge", "--subject", subject])
    assert result.exit_code == 2 and "--owner" in result.output


def test_a_subject_that_uploaded_nothing_purges_nothing(jwt_app, root, uploaded):
    before = fingerprint(root)
    result = cli_runner(jwt_app)("purge", "--subject", "carol", "--apply")
    assert result.exit_code == 0 and "removed 0 uploads" in result.stdout
    assert fingerprint(root) == before


def test_a_subject_no_command_line_can_carry_is_purged_by_its_owner(jwt_app, root):
    """A blank `sub`, or one holding a NUL, is a valid token claim: its uploads are recorded,
    and `--owner` (the end of their delete links) names them."""
    for sub in (" ", "a\x00b"):
        data = send(jwt_app, sub, "/api/upload/avatar", [("avatar", "a.jpg", "image/jpeg",
                                                          make_image("JPEG"))])
        owner = data["delete_url"].rsplit("/", 5)[0].rsplit(".", 1)[1]
        assert owner == owners.owner_id(sub)
        result = cli_runner(jwt_app)("purge", "--owner", owner, "--apply")
        assert result.exit_code == 0, result.output
        assert f"owner {owner}: removed 1 uploads" in result.stdout
    assert [f for f in stored_files(root) if not f.startswith(".")] == []


@pytest.mark.parametrize("args", [[], ["--subject", "a", "--owner", "0" * 32],
                                  ["--owner", "XYZ"], ["--subject", "  "]],
                         ids=["neither", "both", "not-hex", "blank"])
def test_purge_names_exactly_one_owner(jwt_app, args):
    result = cli_runner(jwt_app)("purge", *args)
    assert result.exit_code == 2, result.output
