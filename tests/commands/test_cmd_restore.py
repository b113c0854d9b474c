"""`restore` against damaged, hostile and conflicting archives: nothing is written unless all
is clean, and an existing file that differs is never replaced silently."""

import hashlib
import io
import json
import os
import tarfile

import pytest

from .conftest import JPEG_KEY, PNG_KEY, fingerprint, write


def backup_of(cli, tmp_path, name="b.tar"):
    archive = tmp_path / name
    assert cli("backup", "-o", archive).exit_code == 0
    return archive


def crafted(path, entries, manifest_extra=()):
    """A tar of (TarInfo, bytes) entries plus a manifest that lists every one of them."""
    rows = [{"path": info.name, "size": len(data), "sha256": hashlib.sha256(data).hexdigest(),
             "mode": f"{info.mode:04o}"} for info, data in entries]
    rows += list(manifest_extra)
    with tarfile.open(path, "w", format=tarfile.PAX_FORMAT) as tar:
        for info, data in entries:
            info.size = len(data) if info.isreg() else 0
            tar.addfile(info, io.BytesIO(data) if info.isreg() else None)
        body = json.dumps({"format": "uploads-backup/1", "files": rows}).encode()
        info = tarfile.TarInfo("MANIFEST.json")
        info.size = len(body)
        tar.addfile(info, io.BytesIO(body))
    return path


def member(name, kind=tarfile.REGTYPE, linkname="", mode=0o644):
    info = tarfile.TarInfo(name)
    info.type, info.linkname, info.mode = kind, linkname, mode
    return info


def test_tampered_member_is_refused_and_nothing_written(tree, cli, other, tmp_path):
    archive = backup_of(cli, tmp_path)
    with tarfile.open(archive) as tar:
        offset = tar.getmember(PNG_KEY).offset_data
    with open(archive, "r+b") as f:
        f.seek(offset + 20)
        byte = f.read(1)
        f.seek(offset + 20)
        f.write(bytes([byte[0] ^ 0xFF]))
    before = fingerprint(other.root)
    result = other("restore", "-i", archive)
    assert result.exit_code == 1
    assert f"REFUSED: {PNG_KEY}: size, sha256 or mode differs" in result.stdout
    assert fingerprint(other.root) == before


@pytest.mark.parametrize("info, why", [
    (member("../evil.jpg"), "unsafe name"),
    (member("/tmp/evil.jpg"), "unsafe name"),
    (member("i/p/../../evil.jpg"), "unsafe name"),
    (member("./i/p/2025/10/evil.jpg"), "unsafe name"),
    (member("etc/evil.jpg"), "unsafe name"),
    (member("i/p/2025/10/evil.jpg", tarfile.SYMTYPE, "/etc/passwd"), "not a regular file"),
    (member("i/p/2025/10/evil.jpg", tarfile.LNKTYPE, JPEG_KEY), "not a regular file"),
    (member("i/p/2025/10/evil", tarfile.CHRTYPE), "not a regular file"),
    (member("i/p/2025/10/evil", tarfile.FIFOTYPE), "not a regular file"),
    (member("i/p/2025/10/evil", tarfile.DIRTYPE, mode=0o777), "not a regular file"),
])
def test_hostile_members_are_refused(other, tmp_path, images, info, why):
    good = member(JPEG_KEY)
    archive = crafted(tmp_path / "evil.tar", [(good, images["jpg"]), (info, b"payload")])
    result = other("restore", "-i", archive)
    assert result.exit_code == 1
    assert why in result.stdout and "nothing written" in result.stdout
    assert not (other.root / "i").exists()
    assert not list(tmp_path.rglob("evil*")) or all(p.name == "evil.tar"
                                                    for p in tmp_path.rglob("evil*"))


@pytest.mark.parametrize("case", ["no manifest", "unlisted member", "listed but absent",
                                  "duplicate member"])
def test_archive_and_manifest_must_agree(other, tmp_path, images, case):
    path = tmp_path / "a.tar"
    if case == "no manifest":
        with tarfile.open(path, "w") as tar:
            info = member(JPEG_KEY)
            info.size = len(images["jpg"])
            tar.addfile(info, io.BytesIO(images["jpg"]))
    elif case == "unlisted member":
        crafted(path, [(member(JPEG_KEY), images["jpg"])])
        with tarfile.open(path) as tar:  # rebuild with a member appended after the manifest
            kept = [(m, tar.extractfile(m).read()) for m in tar]
        with tarfile.open(path, "w") as tar:
            for m, data in kept + [(member(PNG_KEY), images["png"])]:
                m.size = len(data)
                tar.addfile(m, io.BytesIO(data))
    elif case == "listed but absent":
        crafted(path, [(member(JPEG_KEY), images["jpg"])], [
            {"path": PNG_KEY, "size": 1, "sha256": "0" * 64, "mode": "0644"}])
    else:
        crafted(path, [(member(JPEG_KEY), images["jpg"]), (member(JPEG_KEY), images["png"])])
    result = other("restore", "-i", path)
    assert result.exit_code == 1 and "REFUSED" in result.stdout
    assert not (other.root / "i").exists()


def test_existing_differing_file_blocks_unless_overwrite(tree, cli, other, tmp_path,
                                                         images):
    archive = backup_of(cli, tmp_path)
    write(other.root, JPEG_KEY, images["png"])  # same name, other bytes
    before = fingerprint(other.root)
    result = other("restore", "-i", archive)
    assert result.exit_code == 1
    assert f"CONFLICT {JPEG_KEY}" in result.stdout and "nothing written" in result.stdout
    assert fingerprint(other.root) == before, "not even the files without conflict"

    result = other("restore", "-i", archive, "--overwrite", "--json")
    doc = json.loads(result.stdout)
    assert result.exit_code == 0, result.output
    assert (doc["restored"], doc["replaced"], doc["unchanged"]) == (2, 1, 0)
    assert fingerprint(other.root) == fingerprint(tree)


def test_identical_existing_files_are_left_alone(tree, cli, other, tmp_path):
    archive = backup_of(cli, tmp_path)
    with open(tree / JPEG_KEY, "rb") as f:
        write(other.root, JPEG_KEY, f.read(), mtime=0)
    result = other("restore", "-i", archive, "--json")
    doc = json.loads(result.stdout)
    assert result.exit_code == 0
    assert (doc["restored"], doc["unchanged"]) == (2, 1)
    assert os.stat(other.root / JPEG_KEY).st_mtime == 0, "an identical file is not rewritten"


def test_check_only_writes_nothing(tree, cli, other, tmp_path):
    archive = backup_of(cli, tmp_path)
    before = fingerprint(other.root)
    result = other("restore", "-i", archive, "--check")
    assert result.exit_code == 0 and "would be restored 3" in result.stdout
    assert fingerprint(other.root) == before
