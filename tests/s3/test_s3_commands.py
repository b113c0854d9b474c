"""The operator commands on a bucket (a real SeaweedFS): migrate a volume into it (same keys,
checked by SHA-256, resumable), verify, du, gc, backup and restore across the two backends (one
archive format), and smoke through the S3-mode stack."""

import json
import time

import pytest

from devstack.images import make_image
from helpers import cli_runner
from uploads import create_app
from uploads.storage.local import LocalStorage

KEYS = ["i/p/2025/10/avatar_1760877849690_827t7v.jpg",
        "i/p/2025/11/avatar_1762000000000_abc123.png",
        "i/p/2026/01/avatar_1767225600000_zz99aa.webp", "i/p/2026/01/legacy-name.jpg"]
FORMATS = {"jpg": "JPEG", "png": "PNG", "webp": "WEBP"}


@pytest.fixture
def s3cli(s3_settings):
    return cli_runner(create_app({**s3_settings, "MIN_FREE_BYTES": 0}, serving=False))


@pytest.fixture
def volume(tmp_path):
    """A local storage root holding one image per key: what an operator moves to S3."""
    (tmp_path / "volume").mkdir()
    store = LocalStorage(str(tmp_path / "volume"))
    for n, key in enumerate(KEYS):
        ext = key.rsplit(".", 1)[1]
        store.put(key, make_image(FORMATS[ext], size=(40 + n, 30)), "")
    return store


def run_json(cli, *args, input=None):
    result = cli(*args, "--json", input=input)
    return result, json.loads(result.stdout)


def test_migrate_copies_a_volume_into_the_bucket_and_resumes(s3cli, s3store, volume):
    s3store.put(KEYS[0], volume.read(KEYS[0]), "image/jpeg")  # an earlier run stopped here
    result, doc = run_json(s3cli, "migrate", "--from", volume.root)
    assert result.exit_code == 0, result.output
    assert doc["counts"]["imported"] == 3 and doc["present"] == [KEYS[0]]
    assert doc["legacy"] == [KEYS[3]]
    assert [e.key for e in s3store.walk()] == sorted(KEYS)
    for key in KEYS:
        assert s3store.read(key) == volume.read(key)
    head = s3store.client.head_object(Bucket=s3store.bucket, Key=KEYS[2])
    assert head["ContentType"] == "image/webp"
    result, doc = run_json(s3cli, "migrate", "--from", volume.root)  # idempotent
    assert result.exit_code == 0 and doc["counts"]["present"] == 4


def test_migrate_never_overwrites_a_differing_object(s3cli, s3store, volume):
    s3store.put(KEYS[1], make_image("PNG", size=(9, 9)), "image/png")
    result, doc = run_json(s3cli, "migrate", "--from", volume.root)
    assert result.exit_code == 1 and doc["conflicts"] == [KEYS[1]]
    assert s3store.read(KEYS[1]) != volume.read(KEYS[1])


def test_verify_du_and_gc_on_the_bucket(s3cli, s3store, volume):
    for key in KEYS[:3]:
        s3store.put(key, volume.read(key), "image/jpeg")
    result, doc = run_json(s3cli, "verify")
    assert result.exit_code == 0, result.output
    result, doc = run_json(s3cli, "du")
    assert result.exit_code == 0 and doc["files"] == 3 and doc["free_bytes"] is None
    s3store.put("i/p/2026/02/avatar_1770000000000_broken.jpg", b"not an image", "image/jpeg")
    result = s3cli("verify")
    assert result.exit_code == 1 and "avatar_1770000000000_broken.jpg" in result.output
    s3store.delete("i/p/2026/02/avatar_1770000000000_broken.jpg")
    result, doc = run_json(s3cli, "gc", "--referenced", "-", "--older-than", "0",
                           "--apply", input=f"/{KEYS[0]}\n")
    assert result.exit_code == 0, result.output
    assert [e.key for e in s3store.walk()] == [KEYS[0]]


def test_a_backup_of_either_backend_restores_into_the_other(s3cli, s3store, volume, tmp_path):
    local_cli = cli_runner(create_app({"ROOT": volume.root, "ALLOW_EPHEMERAL": True,
                                       "MIN_FREE_BYTES": 0}, serving=False))
    archive = tmp_path / "volume.tar"
    assert local_cli("backup", "-o", archive).exit_code == 0
    result = s3cli("restore", "-i", archive)
    assert result.exit_code == 0, result.output
    assert {e.key: s3store.read(e.key) for e in s3store.walk()} == {
        k: volume.read(k) for k in KEYS}

    again = tmp_path / "bucket.tar"
    assert s3cli("backup", "-o", again).exit_code == 0
    fresh = tmp_path / "fresh"
    fresh_cli = cli_runner(create_app({"ROOT": str(fresh), "ALLOW_EPHEMERAL": True,
                                       "MIN_FREE_BYTES": 0}, serving=False))
    result = fresh_cli("restore", "-i", again)
    assert result.exit_code == 0, result.output
    restored = LocalStorage(str(fresh))
    assert {e.key: restored.read(e.key) for e in restored.walk()} == {
        k: volume.read(k) for k in KEYS}


def test_smoke_through_the_s3_stack(stack_s3):
    app = create_app({**{k.removeprefix("UPLOADS_"): v for k, v in stack_s3.env.items()
                         if k.startswith("UPLOADS_S3_")}, "STORAGE": "s3",
                      "MIN_FREE_BYTES": 0}, serving=False)
    started = time.monotonic()
    result = cli_runner(app)("smoke", stack_s3.url)
    assert result.exit_code == 0, result.output
    assert time.monotonic() - started < 60


def test_an_unwritable_bucket_stops_a_writing_command_in_one_line(weed, s3store, volume):
    app = create_app({"STORAGE": "s3", "S3_BUCKET": weed.bucket, "S3_ENDPOINT": weed.endpoint,
                      "S3_REGION": "us-east-1", "S3_ACCESS_KEY_ID": weed.access_key,
                      "S3_SECRET_ACCESS_KEY": "wrong", "MIN_FREE_BYTES": 0}, serving=False)
    result = cli_runner(app)("migrate", "--from", volume.root)
    assert result.exit_code == 1
    assert "credentials are refused" in result.output
    assert s3store.stat(KEYS[0]) is None
