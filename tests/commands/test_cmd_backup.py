"""`backup` and `restore`: the manifest matches the archive, and a round trip is exact."""

import hashlib
import io
import json
import os
import random
import tarfile
import threading

from uploads.storage.local import LocalStorage

from .conftest import JPEG_KEY, fingerprint, write


def members(archive) -> dict:
    """Name -> (size, sha256, mode) of every member, and the parsed manifest."""
    found, manifest, names = {}, None, []
    with tarfile.open(archive) as tar:
        for m in tar:
            names.append(m.name)
            data = tar.extractfile(m).read()
            if m.name == "MANIFEST.json":
                manifest = json.loads(data)
            else:
                found[m.name] = (len(data), hashlib.sha256(data).hexdigest(), f"{m.mode:04o}")
    assert names[-1] == "MANIFEST.json", "the manifest is the last member"
    return found, manifest


def assert_manifest_matches(archive):
    found, manifest = members(archive)
    listed = {r["path"]: (r["size"], r["sha256"], r["mode"]) for r in manifest["files"]}
    assert listed == found
    return found


def test_round_trip_of_thousands_of_files_is_exact(app, root, cli, other, tmp_path):
    rng = random.Random(5)
    for n in range(3000):
        month = 1 + n % 12
        key = f"i/p/{2024 + n % 2}/{month:02d}/avatar_{1700000000000 + n:013d}_{n:06d}.jpg"
        mode = (0o644, 0o640, 0o600)[n % 50] if n % 50 < 3 else 0o644
        write(root, key, rng.randbytes(rng.randrange(0, 3000)), mode=mode,
              mtime=1700000000 + n * 61)
    before = fingerprint(root)
    archive = tmp_path / "backup.tar.gz"
    result = cli("backup", "--output", archive)
    assert result.exit_code == 0, result.output
    assert "3000 files" in result.stdout
    assert fingerprint(root) == before, "backup must not touch the volume"
    found = assert_manifest_matches(archive)
    assert len([k for k in found if k.startswith("i/")]) == 3000
    assert set(found) - {k for k in found if k.startswith("i/")} == {".uploads-delete-secret"}

    result = other("restore", "--input", archive)
    assert result.exit_code == 0, result.output
    assert "restored 3000" in result.stdout
    assert fingerprint(other.root) == before  # bytes, modes, times, folders

    again = other("restore", "--input", archive, "--json")
    doc = json.loads(again.stdout)
    assert again.exit_code == 0 and doc["unchanged"] == 3000 and doc["restored"] == 0


def test_backup_while_uploads_continue(app, root, cli, tmp_path, images):
    store = LocalStorage(str(root))
    for _ in range(300):
        store.put_new("jpg", images["jpg"], "image/jpeg")
    stop = threading.Event()

    def uploads():
        while not stop.is_set():
            store.put_new("png", images["png"], "image/png")

    writer = threading.Thread(target=uploads)
    writer.start()
    try:
        result = cli("backup", "-o", tmp_path / "live.tar")
    finally:
        stop.set()
        writer.join()
    assert result.exit_code == 0, result.output
    assert len(assert_manifest_matches(tmp_path / "live.tar")) >= 300


def test_a_file_removed_after_the_listing_is_left_out(tree, cli, tmp_path, monkeypatch):
    real_walk = LocalStorage.walk

    def walk_then_gc(store, prefix="i"):
        yield from real_walk(store, prefix)
        os.unlink(os.path.join(store.root, *JPEG_KEY.split("/")))

    monkeypatch.setattr(LocalStorage, "walk", walk_then_gc)
    result = cli("backup", "-o", tmp_path / "b.tar")
    assert result.exit_code == 0
    assert f"WARN {JPEG_KEY}: removed during the backup" in result.stdout
    assert JPEG_KEY not in assert_manifest_matches(tmp_path / "b.tar")


def test_stream_through_stdout_and_stdin(tree, cli, other):
    result = cli("backup", "-o", "-", "--json")
    assert result.exit_code == 0
    assert json.loads(result.stderr)["files"] == 3  # the report leaves stdout to the archive
    archive = result.stdout_bytes
    with tarfile.open(fileobj=io.BytesIO(archive)) as tar:
        assert tar.getnames()[-1] == "MANIFEST.json"
    restored = other("restore", "-i", "-", input=archive)
    assert restored.exit_code == 0, restored.output
    assert fingerprint(other.root) == fingerprint(tree)
    assert os.listdir(other.root / ".tmp") == [], "the spooled copy of stdin is removed"


def test_backup_refuses_to_replace_or_publish(tree, cli, tmp_path):
    existing = tmp_path / "exists.tar"
    existing.write_bytes(b"keep me")
    assert cli("backup", "-o", existing).exit_code == 2
    assert existing.read_bytes() == b"keep me"
    assert cli("backup", "-o", tree / "i" / "backup.tar").exit_code == 2
    assert not (tree / "i" / "backup.tar").exists()
