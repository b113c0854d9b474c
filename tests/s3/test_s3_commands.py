"""The operator commands on a bucket (a real SeaweedFS): migrate a volume into it (same keys,
checked by SHA-256, resumable, a file whose name and content disagree re-encoded), verify, du,
gc (within its share), backup and restore across the two backends (one archive format), the
refusal of an empty bucket, attachments (f/) in each of them as in a volume, and smoke (new
and existing files) through the S3-mode stack."""

import io
import json
import time

import pytest
from PIL import Image

import samples
from devstack.images import make_image
from helpers import cli_runner
from uploads import create_app
from uploads.images import sniff
from uploads.storage.local import LocalStorage

KEYS = ["i/p/2025/10/avatar_1760877849690_827t7v.jpg",
        "i/p/2025/11/avatar_1762000000000_abc123.png",
        "i/p/2026/01/avatar_1767225600000_zz99aa.webp", "i/p/2026/01/legacy-name.jpg"]
FORMATS = {"jpg": "JPEG", "png": "PNG", "webp": "WEBP"}


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


def test_migrate_refuses_names_the_s3_location_would_404(s3cli, s3store, volume):
    """Served from the volume, `my photo.jpg` would 404 from the bucket: said, not imported."""
    odd = "i/p/2025/10/my photo.jpg"
    volume.put(odd, make_image("JPEG", size=(20, 20)), "")
    result, doc = run_json(s3cli, "migrate", "--from", volume.root)
    assert result.exit_code == 1, result.output
    assert s3store.stat(odd) is None and s3store.stat(KEYS[0]) is not None
    assert "letters, digits" in result.output


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
    gc = ("gc", "--referenced", "-", "--older-than", "0", "--apply")
    result, doc = run_json(s3cli, *gc, input=f"/{KEYS[0]}\n")
    assert result.exit_code == 1 and (doc["files"], len(doc["candidates"])) == (3, 2)
    assert doc["refused"].startswith("would delete 2 of 3 files (66.6%), over --max-share 50%")
    assert [e.key for e in s3store.walk()] == KEYS[:3], "nothing deleted"
    result, doc = run_json(s3cli, *gc, "--force", input=f"/{KEYS[0]}\n")
    assert result.exit_code == 0, result.output
    assert doc["removed"] == 2 and [e.key for e in s3store.walk()] == [KEYS[0]]


def test_a_backup_of_either_backend_restores_into_the_other(s3cli, s3store, volume, tmp_path):
    local_cli = cli_runner(create_app({"ROOT": volume.root, "ALLOW_EPHEMERAL": True,
                                       "MIN_FREE_BYTES": 0}, serving=False))
    archive = tmp_path / "volume.tar"
    assert local_cli("backup", "-o", archive).exit_code == 0
    result = s3cli("restore", "-i", archive)
    assert result.exit_code == 0, result.output
    assert {e.key: s3store.read(e.key) for e in s3store.walk()} == {
        k: volume.read(k) for k in KEYS}

    assert restored_into_a_fresh_volume(s3cli, tmp_path) == {k: volume.read(k) for k in KEYS}


def restored_into_a_fresh_volume(s3cli, tmp_path) -> dict:
    """A backup of the bucket restored into a new volume: its files, key -> bytes."""
    archive = tmp_path / "bucket.tar"
    assert s3cli("backup", "-o", archive).exit_code == 0
    fresh = tmp_path / "fresh"
    fresh_cli = cli_runner(create_app({"ROOT": str(fresh), "ALLOW_EPHEMERAL": True,
                                       "MIN_FREE_BYTES": 0}, serving=False))
    result = fresh_cli("restore", "-i", archive)
    assert result.exit_code == 0, result.output
    restored = LocalStorage(str(fresh))
    return {e.key: restored.read(e.key) for e in restored.walk()}


ATTACHMENTS = {"f/p/2025/10/att_1760877849690_k3x9qa0m2z/Résumé été.pdf": samples.pdf(),
               "f/p/2025/11/att_1762000000000_0qz8d1mw4c/photo.jpg":
                   make_image("JPEG", size=(300, 200)),
               "f/p/2025/11/att_1762000000001_1qz8d1mw4c/a+b notes.txt": samples.text()}


def test_attachments_go_from_a_volume_to_the_bucket_and_back(s3cli, s3store, volume, tmp_path):
    """migrate copies f/ with i/ (the same keys, any safe name), verify and du see them in
    the bucket, a second migrate copies nothing, and a backup of the bucket restores into a
    fresh volume byte for byte."""
    for key, data in ATTACHMENTS.items():
        assert volume.put(key, data, "")
    result, doc = run_json(s3cli, "migrate", "--from", volume.root)
    assert result.exit_code == 0, result.output
    assert {e.key: s3store.read(e.key) for e in s3store.walk("f")} == ATTACHMENTS
    assert [e.key for e in s3store.walk("i")] == KEYS
    result, doc = run_json(s3cli, "migrate", "--from", volume.root)
    assert result.exit_code == 0 and doc["imported"] == [], result.output
    assert len(doc["present"]) == len(KEYS) + len(ATTACHMENTS)
    result, doc = run_json(s3cli, "verify")
    assert result.exit_code == 0, result.output
    result, doc = run_json(s3cli, "du")
    assert (doc["attachments"]["files"], doc["images"]["files"]) == (3, 4)
    assert restored_into_a_fresh_volume(s3cli, tmp_path) == {
        **ATTACHMENTS, **{k: volume.read(k) for k in KEYS}}


def test_a_volume_backup_with_attachments_restores_into_the_bucket(s3cli, s3store, volume,
                                                                   tmp_path):
    for key, data in ATTACHMENTS.items():
        assert volume.put(key, data, "")
    local_cli = cli_runner(create_app({"ROOT": volume.root, "ALLOW_EPHEMERAL": True,
                                       "MIN_FREE_BYTES": 0}, serving=False))
    archive = tmp_path / "volume.tar"
    assert local_cli("backup", "-o", archive).exit_code == 0
    result = s3cli("restore", "-i", archive)
    assert result.exit_code == 0, result.output
    assert {e.key: s3store.read(e.key) for e in s3store.walk("f")} == ATTACHMENTS


def test_verify_judges_attachments_in_the_bucket(s3cli, s3store):
    for key, data in ATTACHMENTS.items():
        s3store.put(key, data, "")
    assert s3cli("verify").exit_code == 0
    bad = "f/p/2025/12/att_1764000000000_2qz8d1mw4c/song.mp3"
    s3store.put(bad, samples.pdf(), "audio/mpeg")
    s3store.client.put_object(Bucket=s3store.bucket, Key="f/p/2025/12/stray.pdf", Body=b"x")
    result = s3cli("verify")
    assert result.exit_code == 1
    assert "song.mp3" in result.output and "but the name ends in .mp3" in result.output
    assert "f/p/2025/12/stray.pdf" in result.output
    s3store.client.delete_object(Bucket=s3store.bucket, Key="f/p/2025/12/stray.pdf")


def test_gc_and_variants_treat_an_attachment_folder_as_one(s3cli, s3store):
    for key, data in ATTACHMENTS.items():
        s3store.put(key, data, "")
    photo = "f/p/2025/11/att_1762000000000_0qz8d1mw4c/photo.jpg"
    result = s3cli("variants", "--backfill")
    assert result.exit_code == 0, result.output
    copies = [e.key for e in s3store.walk("f/p/2025/11/att_1762000000000_0qz8d1mw4c")]
    assert photo in copies and len(copies) > 1, "the image attachment got its variants"
    keep = "/f/p/2025/10/att_1760877849690_k3x9qa0m2z/R%C3%A9sum%C3%A9%20%C3%A9t%C3%A9.pdf"
    result, doc = run_json(s3cli, "gc", "--referenced", "-", "--older-than", "0", "--apply",
                           "--force", input=keep + "\n")
    assert result.exit_code == 0, result.output
    assert [e.key for e in s3store.walk("f")] == [next(iter(ATTACHMENTS))], \
        "the photo's folder went whole, variants included"


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


@pytest.mark.parametrize("args", [("verify",), ("backup", "-o", "ARCHIVE")])
def test_an_empty_bucket_is_refused_unless_allowed(s3cli, s3store, weed, tmp_path, args):
    args = [str(tmp_path / "b.tar") if a == "ARCHIVE" else a for a in args]
    result = s3cli(*args)
    assert result.exit_code == 1
    assert result.stdout.splitlines() == [
        f"REFUSED: bucket {weed.bucket} at {weed.endpoint} holds no object under i/: nothing "
        f"to {'verify' if args[0] == 'verify' else 'back up'}. A wrong or new volume (or "
        "bucket) looks like this; if it is meant to be empty, run again with --allow-empty"]
    assert not (tmp_path / "b.tar").exists()
    result = s3cli(*args, "--allow-empty")
    assert result.exit_code == 0, result.output
    assert result.stdout.startswith("ok: 0 files")


@pytest.mark.parametrize("content, named", [("PNG", "jpg"), ("JPEG", "webp"),
                                            ("WEBP", "png")])
def test_migrate_re_encodes_a_misnamed_file_into_the_bucket(s3cli, s3store, volume, content,
                                                            named):
    key = f"i/p/2026/01/avatar_1767225600001_lie000.{named}"
    source = make_image(content, size=(33, 21))
    with open(f"{volume.root}/{key}", "xb") as f:  # beside the volume's good files
        f.write(source)
    result, doc = run_json(s3cli, "migrate", "--from", volume.root)
    assert result.exit_code == 0, result.output
    assert doc["reencoded"] == [{"path": key, "content": content,
                                 "stored_as": FORMATS[named]}]
    stored = s3store.read(key)
    assert sniff(stored[:16]) == FORMATS[named]
    with Image.open(io.BytesIO(stored)) as im:
        assert im.size == (33, 21)
    head = s3store.client.head_object(Bucket=s3store.bucket, Key=key)
    assert head["ContentType"] == {"jpg": "image/jpeg", "png": "image/png",
                                   "webp": "image/webp"}[named]
    result, doc = run_json(s3cli, "migrate", "--from", volume.root)  # a complete migration
    assert result.exit_code == 0, result.output
    assert doc["counts"]["present"] == 5 and doc["counts"]["imported"] == 0
    assert s3store.read(key) == stored, "a rerun writes nothing"


def test_migrate_leaves_another_object_at_a_misnamed_key(s3cli, s3store, volume):
    key = "i/p/2026/01/avatar_1767225600001_lie000.jpg"
    with open(f"{volume.root}/{key}", "xb") as f:
        f.write(make_image("PNG"))
    other = make_image("JPEG", size=(5, 5))
    s3store.put(key, other, "image/jpeg")
    result, doc = run_json(s3cli, "migrate", "--from", volume.root)
    assert result.exit_code == 1 and doc["conflicts"] == [key]
    assert s3store.read(key) == other


@pytest.fixture
def s3_stack_files(stack_s3):
    """`put(key, data, type)` into the S3 stack's bucket; the keys are removed afterwards."""
    store, keys = stack_s3.storage, []

    def put(key, data, content_type):
        keys.append(key)
        assert store.put(key, data, content_type)
        return f"{stack_s3.url}/{key}"

    yield put
    for key in keys:
        store.delete(key)


def test_smoke_existing_through_the_s3_stack(s3_stack_files, stack_s3):
    good = s3_stack_files("i/p/2025/10/avatar_1760000000000_exist0.webp",
                          make_image("WEBP"), "image/webp")
    wrong = s3_stack_files("i/p/2025/10/avatar_1760000000000_exist1.jpg", make_image("PNG"),
                           "image/jpeg")
    gone = f"{stack_s3.url}/i/p/2025/10/avatar_1760000000000_gone00.png"
    smoke = cli_runner(create_app({"ROOT": "unused", "MIN_FREE_BYTES": 0}, serving=False))
    result = smoke("smoke", "--existing", good)
    assert result.exit_code == 0, result.output
    assert result.stdout.startswith(f"ok   existing 200 {good}")
    result = smoke("smoke", "--existing", wrong, "--existing", gone, "--existing", good)
    assert result.exit_code == 1
    assert [line.split()[0] for line in result.stdout.splitlines()] == ["FAIL", "FAIL", "ok"]
    assert "PNG content, expected JPEG for .jpg" in result.stdout
    assert f"GET {gone} answered 404" in result.stdout
