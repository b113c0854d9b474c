"""The operator commands on a volume holding attachments (`f/`) beside avatars (`i/`): backup and
restore reproduce them byte for byte, verify judges them, gc keeps or removes an attachment with
its variants as one, du counts them apart, variants backfills an image attachment, and migrate
copies them into another volume."""

import io
import json
import os
import tarfile
import time
from urllib.parse import urlsplit

import pytest

import samples
from devstack.client import multipart
from devstack.images import make_image

from .conftest import JPEG_KEY, fingerprint, write

OLD = time.time() - 30 * 86400
PDF_KEY = "f/p/2025/10/att_1760877849690_k3x9qa0m2z/Résumé été.pdf"
PHOTO_KEY = "f/p/2025/11/att_1762000000000_0qz8d1mw4c/photo.jpg"


def attach(client, files) -> list[dict]:
    """Store [(filename, bytes)] through the real route; the answer's files."""
    body, mimetype = multipart([("file", name, "application/octet-stream", data)
                                for name, data in files])
    answer = client.post("/api/upload/attachment", data=body, content_type=mimetype)
    assert answer.status_code == 201, answer.get_json()
    return answer.get_json()["data"]["files"]


def key_of(item: dict) -> str:
    return item["path"].lstrip("/").rpartition("/")[0] + "/" + item["filename"]


@pytest.fixture
def stored(tree, client, upload):
    """Avatars (one with variants, through the avatar route) and attachments of three kinds
    (an image with its variants), through the routes; one attachment 0444 and a month old."""
    assert upload(make_image("JPEG", size=(300, 200))).status_code == 201
    files = attach(client, [("Résumé été.pdf", samples.pdf()), ("notes", samples.text()),
                            ("photo.jpg", make_image("JPEG", size=(300, 200)))])
    assert [f["kind"] for f in files] == ["pdf", "text", "image"]
    assert len(files[2]["variants"]) == 3  # 64, 128 and 256 px
    os.chmod(tree / key_of(files[0]), 0o444)
    os.utime(tree / key_of(files[0]), (OLD, OLD))
    return files


def test_backup_then_restore_reproduces_avatars_variants_and_attachments(
        stored, tree, cli, other, tmp_path):
    attached = {str(p.relative_to(tree)) for p in (tree / "f").rglob("*") if p.is_file()}
    assert len(attached) == 6  # pdf, text, photo and its three variants
    before = fingerprint(tree)
    archive = tmp_path / "backup.tar"
    result = cli("backup", "-o", archive)
    assert result.exit_code == 0, result.output
    with tarfile.open(archive) as tar:
        names = tar.getnames()
        manifest = json.loads(tar.extractfile("MANIFEST.json").read())
    assert attached <= set(names) and attached <= {r["path"] for r in manifest["files"]}
    assert names[:6] == sorted(attached), "f/ first: the walk's key order"
    assert fingerprint(tree) == before

    result = other("restore", "--input", archive)
    assert result.exit_code == 0, result.output
    after = fingerprint(other.root)
    assert {k: v for k, v in after.items() if not k.startswith(".tmp")} == {
        k: v for k, v in before.items() if not k.startswith(".tmp")}  # bytes, modes, times
    assert other("verify").exit_code == 0


def test_restore_refuses_an_attachment_key_outside_the_layout(other, tmp_path):
    archive = tmp_path / "forged.tar"
    body = b"%PDF-1.4\n%%EOF\n"
    with tarfile.open(archive, "w") as tar:
        info = tarfile.TarInfo("f/p/2025/10/not-an-id/x.pdf")
        info.size = len(body)
        tar.addfile(info, io.BytesIO(body))
    result = other("restore", "--input", archive)
    assert result.exit_code == 1 and "unsafe name" in result.stdout
    assert not (other.root / "f").exists()


def test_verify_passes_a_clean_volume_of_attachments(stored, cli_json):
    result, doc = cli_json("verify")
    assert result.exit_code == 0, result.output
    assert doc["files"] == 3 + 4 + 6  # the tree, the avatar and its variants, f/
    assert doc["errors"] == []
    assert [w["path"] for w in doc["warnings"]] == [key_of(stored[0])]  # 0444: unusual


def problems(doc):
    return {row["path"]: row["problem"] for row in doc["errors"]}


def test_verify_flags_a_broken_attachment(stored, tree, cli_json):
    pdf, text, photo = (key_of(f) for f in stored)
    folder = photo.rpartition("/")[0]
    os.chmod(tree / text, 0o600)
    write(tree, f"{folder}/extra.pdf", samples.pdf())  # a second file in one folder
    write(tree, f"{folder}/other.128.webp", make_image("WEBP"))  # not the photo's variant
    write(tree, "f/p/2025/10/stray.txt", b"hello\n")  # outside the layout
    os.symlink("/etc/passwd", tree / pdf.rpartition("/")[0] / "link.pdf")
    (tree / pdf).write_bytes(samples.pdf()[:20])  # a PDF cut short
    result, doc = cli_json("verify")
    assert result.exit_code == 1
    found = problems(doc)
    assert "cannot read it" in found[text]
    assert "holds 2 files, one expected" in found[folder + "/"]
    assert "not a variant of" in found[f"{folder}/other.128.webp"]
    assert "stray file under f/" in found["f/p/2025/10/stray.txt"]
    assert "symbolic link" in found[pdf.rpartition("/")[0] + "/link.pdf"]
    assert "not an accepted kind" in found[pdf]
    assert photo not in found


def test_verify_flags_an_attachment_whose_content_is_not_its_name(stored, tree, cli_json):
    pdf = key_of(stored[0])
    (tree / pdf).write_bytes(samples.text())
    result, doc = cli_json("verify")
    assert result.exit_code == 1
    assert "text content" in problems(doc)[pdf]


def test_verify_urls_reports_a_missing_attachment(stored, tree, cli_json, tmp_path):
    urls = tmp_path / "urls.txt"
    variant = stored[2]["variants"][0]["url"]
    urls.write_text("\n".join([stored[0]["url"], variant]) + "\n")
    os.unlink(tree / urlsplit(variant).path.lstrip("/"))
    result, doc = cli_json("verify", "--urls", urls)
    assert result.exit_code == 1
    # no fallback from an attachment's variant to its main file: a 404
    assert doc["missing"] == [urlsplit(variant).path.lstrip("/")]


def test_gc_keeps_a_referenced_attachment_and_removes_an_old_one_with_its_variants(
        stored, tree, cli_json, tmp_path):
    pdf, text, photo = (key_of(f) for f in stored)
    for path in (tree / "f").rglob("*"):
        if path.is_file():
            os.utime(path, (OLD, OLD))
    for key in ("i/p/2025/11/avatar_1762000000000_abc123.png",
                "i/p/2026/01/avatar_1767225600000_zz99aa.webp"):
        os.utime(tree / key, (OLD, OLD))
    refs = tmp_path / "refs.txt"  # the URLs as the app answered them (percent-encoded)
    refs.write_text(f"{stored[0]['url']}\n/{JPEG_KEY}\n{stored[1]['path']}\n")
    result, doc = cli_json("gc", "--referenced", refs, "--apply", "--force")
    assert result.exit_code == 0, result.output
    removed = {c["path"] for c in doc["candidates"]}
    folder = photo.rpartition("/")[0]
    assert {k for k in removed if k.startswith("f/")} == {
        photo, *(f"{folder}/photo.{box}.webp" for box in (64, 128, 256))}
    assert (tree / pdf).exists() and (tree / text).exists()
    assert not any((tree / folder).iterdir())
    assert doc["referenced_missing"] == 0


def test_gc_keeps_an_attachment_named_by_its_variant_or_young(stored, tree, cli_json, tmp_path):
    photo = key_of(stored[2])
    os.utime(tree / photo, (OLD, OLD))  # its variants are young: the folder is
    refs = tmp_path / "refs.txt"
    refs.write_text(f"/{JPEG_KEY}\n")
    _, doc = cli_json("gc", "--referenced", refs)
    assert not any(c["path"].startswith(photo.rpartition("/")[0]) for c in doc["candidates"])
    for path in (tree / photo).parent.iterdir():
        os.utime(path, (OLD, OLD))
    refs.write_text(f"/{JPEG_KEY}\n{stored[2]['variants'][1]['url']}\n")
    _, doc = cli_json("gc", "--referenced", refs)
    assert not any(c["path"].startswith(photo.rpartition("/")[0]) for c in doc["candidates"])


def test_du_counts_attachments_apart(stored, tree, cli, cli_json):
    result, doc = cli_json("du")
    assert result.exit_code == 0
    sizes = {str(p.relative_to(tree)): p.stat().st_size
             for p in (tree / "f").rglob("*") if p.is_file()}
    attachments = doc["attachments"]
    assert attachments["files"] == 6 and attachments["bytes"] == sum(sizes.values())
    month = time.strftime("%Y-%m", time.gmtime())
    assert attachments["months"] == [{"month": month, "files": 6, "bytes": sum(sizes.values())}]
    assert doc["images"]["files"] == 7 and doc["files"] == 13
    assert doc["bytes"] == doc["images"]["bytes"] + attachments["bytes"]
    assert all(row["month"] != "other" for row in doc["months"])
    text = cli("du").stdout
    assert "attachments (f/)" in text and "images (i/)" in text


def test_variants_backfills_an_image_attachment_and_ignores_other_kinds(app, root, cli_json):
    write(root, PHOTO_KEY, make_image("JPEG", size=(300, 200)))
    write(root, PDF_KEY, samples.pdf())
    result, doc = cli_json("variants")
    assert result.exit_code == 1
    assert doc["missing"] == [{"path": PHOTO_KEY, "boxes": [256, 128, 64]}]
    assert doc["skipped"] == [] and doc["images"] == 1
    result, doc = cli_json("variants", "--backfill")
    assert result.exit_code == 0 and doc["written"] == 3
    folder = root / PHOTO_KEY.rpartition("/")[0]
    assert sorted(os.listdir(folder)) == ["photo.128.webp", "photo.256.webp", "photo.64.webp",
                                          "photo.jpg"]
    result, doc = cli_json("verify")
    assert result.exit_code == 0, doc


def test_migrate_copies_attachments_into_a_volume(stored, tree, other):
    result = other("migrate", "--from", tree, "--json")
    assert result.exit_code == 0, result.output
    doc = json.loads(result.stdout)
    assert doc["counts"]["imported"] == 13 and doc["legacy"] == []
    for key in (key_of(f) for f in stored):
        assert (other.root / key).read_bytes() == (tree / key).read_bytes()
    assert other("verify").exit_code == 0


def test_migrate_rejects_an_attachment_folder_that_does_not_fit(other, tmp_path):
    source = tmp_path / "source"
    write(source, PDF_KEY, samples.pdf())
    write(source, PDF_KEY.rpartition("/")[0] + "/second.pdf", samples.pdf())
    write(source, PHOTO_KEY, samples.pdf())  # a PDF under an image's name
    result = other("migrate", "--from", source, "--json")
    assert result.exit_code == 1
    doc = json.loads(result.stdout)
    rejected = {r["path"]: r["problem"] for r in doc["rejected"]}
    assert set(rejected) == {PDF_KEY, PDF_KEY.rpartition("/")[0] + "/second.pdf", PHOTO_KEY}
    assert "one expected" in rejected[PDF_KEY]
    assert not (other.root / "f").exists()


def test_a_stray_file_under_f_is_reported_and_blocks_no_command(stored, tree, cli, cli_json,
                                                                tmp_path):
    """A `.DS_Store` or a copy's temp file under f/ is no attachment: verify names it, and
    backup and gc work around it instead of stopping on it."""
    strays = ("f/stray.txt", "f/p/2026/12/att_bad/x.txt",
              f"{key_of(stored[0]).rpartition('/')[0]}/.hidden.txt")
    for stray in strays:
        write(tree, stray, b"hello\n")
    found = problems(cli_json("verify")[1])
    assert all(stray in found for stray in strays), found
    assert cli("backup", "-o", tmp_path / "all.tar").exit_code == 0
    with tarfile.open(tmp_path / "all.tar") as archive:
        assert not any(name.endswith(strays) for name in archive.getnames())
    for path in (tree / "f").rglob("*"):
        if path.is_file():
            os.utime(path, (OLD, OLD))
    refs = tmp_path / "refs.txt"
    refs.write_text(f"{stored[0]['url']}\n")
    result, _ = cli_json("gc", "--referenced", refs, "--apply", "--force")
    assert result.exit_code == 0, result.output
    assert all((tree / stray).exists() for stray in strays)  # not ours to remove
