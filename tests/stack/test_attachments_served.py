"""Attachments through the real edge, on the local volume and in S3 mode alike: uploaded
through Traefik, served by nginx under /f/ with the headers of their kind, the download name per
RFC 6266/5987, Range, the one canonical spelling of a name; large bodies refused at the edge
before they arrive, a large one streamed without growing the worker's memory (100 MiB in S3
mode, spooled and sent in parts), and hostile files refused with nothing stored."""

import hashlib
import tempfile
from pathlib import Path
from urllib.parse import quote

import pytest
import requests

import samples
from devstack import children
from devstack.client import multipart
from devstack.images import make_image
from helpers import assert_json_error
from stack.net import push_body, raw_get
from uploads import storage

pytestmark = pytest.mark.stack

MIB = 1024 * 1024
CSP = ("default-src 'none'; img-src 'self'; media-src 'self'; style-src 'unsafe-inline'; "
       "sandbox")
IMMUTABLE = "public, max-age=31536000, immutable"
ROUTE = "/api/upload/attachment"


@pytest.fixture(scope="module")
def stack(image_stack):
    """Every test here on the local volume, then on the bucket."""
    return image_stack


def s3(stack) -> bool:
    return stack.config["STORAGE"] == "s3"


def stored(stack) -> list[str]:
    """Every key under f/, as the stack's own storage lists it (the volume or the bucket)."""
    return sorted(entry.key for entry in storage.from_config(stack.config).walk("f"))


def leftovers(stack, worker: int) -> list[str]:
    """What an upload left behind: temp files in the volume's .tmp/, or the worker's spool
    files and incomplete multipart uploads in S3 mode."""
    if not s3(stack):
        tmp = stack.root / ".tmp"
        return [p.name for p in tmp.iterdir()] if tmp.exists() else []
    store = storage.from_config(stack.config)
    spool = [p.name for p in Path(tempfile.gettempdir()).glob(f"uploads-spool-{worker}-*")]
    uploads = store.client.list_multipart_uploads(Bucket=store.bucket, Prefix="f/")
    return spool + [u["Key"] for u in uploads.get("Uploads", ())]


def attach(stack, files, language="en"):
    body, mimetype = multipart([("file", name, "application/octet-stream", data)
                                for name, data in files])
    return requests.post(stack.url + ROUTE, data=body, timeout=60,
                         headers={"Content-Type": mimetype, "Accept-Language": language})


@pytest.fixture(scope="module")
def served(stack):
    """One upload of several kinds: the answer's files by kind name."""
    answer = attach(stack, [("Résumé été.pdf", samples.pdf()), ("notes", samples.text()),
                            ("a+b=c.pdf", samples.pdf()),
                            ("song.wav", samples.wav(40_000)), ("clip.mp4", samples.mp4()),
                            ("photo.jpg", make_image("JPEG", size=(300, 200)))])
    assert answer.status_code == 201, answer.text
    return {item["filename"]: item for item in answer.json()["data"]["files"]}


def common_headers(answer):
    assert answer.headers["X-Content-Type-Options"] == "nosniff"
    assert answer.headers["Content-Security-Policy"] == CSP
    assert answer.headers["Cross-Origin-Resource-Policy"] == "cross-origin"


def test_a_pdf_is_a_download_under_its_original_name(stack, served):
    item = served["Résumé été.pdf"]
    assert item["url"] == stack.url + item["path"]
    assert item["path"].endswith("/R%C3%A9sum%C3%A9%20%C3%A9t%C3%A9.pdf")
    answer = requests.get(item["url"], timeout=10)
    assert answer.status_code == 200
    assert answer.content == samples.pdf()
    assert answer.headers["Content-Type"] == "application/pdf"
    assert answer.headers["Content-Disposition"] == (
        "attachment; filename=\"file.pdf\"; filename*=UTF-8''R%C3%A9sum%C3%A9%20%C3%A9t%C3%A9.pdf")
    assert answer.headers["Cache-Control"] == IMMUTABLE
    common_headers(answer)


def test_text_is_a_utf8_download(stack, served):
    answer = requests.get(served["notes.txt"]["url"], timeout=10)
    assert answer.status_code == 200 and answer.content == samples.text()
    assert answer.headers["Content-Type"] == "text/plain; charset=utf-8"
    assert answer.headers["Content-Disposition"] == (
        "attachment; filename=\"notes.txt\"; filename*=UTF-8''notes.txt")
    common_headers(answer)


@pytest.mark.parametrize(("name", "content_type"), [("song.wav", "audio/wav"),
                                                    ("clip.mp4", "video/mp4")])
def test_media_is_inline_with_ranges(stack, served, name, content_type):
    url = served[name]["url"]
    whole = requests.get(url, timeout=10)
    assert whole.status_code == 200 and whole.headers["Content-Type"] == content_type
    assert whole.headers["Content-Disposition"].startswith("inline; ")
    assert whole.headers["Cache-Control"] == IMMUTABLE
    common_headers(whole)
    part = requests.get(url, headers={"Range": "bytes=100-199"}, timeout=10)
    assert part.status_code == 206
    assert part.content == whole.content[100:200]
    assert part.headers["Content-Range"] == f"bytes 100-199/{len(whole.content)}"
    assert part.headers["Cache-Control"] == "no-store"
    beyond = requests.get(url, headers={"Range": f"bytes={len(whole.content) + 10}-"},
                          timeout=10)
    assert_json_error(beyond, 416, "range_not_satisfiable")


def test_an_image_and_its_variants_are_inline(stack, served):
    item = served["photo.jpg"]
    answer = requests.get(item["url"], timeout=10)
    assert answer.status_code == 200 and answer.headers["Content-Type"] == "image/jpeg"
    assert answer.headers["Content-Disposition"].startswith("inline; filename=\"photo.jpg\"")
    common_headers(answer)
    for variant in item["variants"]:
        got = requests.get(variant["url"], timeout=10)
        assert got.status_code == 200 and got.headers["Content-Type"] == "image/webp"


def test_only_the_canonical_spelling_of_a_name_is_served(stack, served):
    """The edge normalises what RFC 3986 calls equivalent (hex case, encoded letters) before
    nginx sees it, so those spellings get the file and the canonical download name; a
    spelling that stays different (a sub-delimiter written plainly) is a JSON 404, so the name
    nginx announces is always the stored one."""
    item = served["Résumé été.pdf"]
    folder = item["path"].rsplit("/", 1)[0]
    for same in (item["path"], folder + "/R%c3%a9sum%c3%a9%20%c3%a9t%c3%a9.pdf",
                 folder + "/%52%C3%A9sum%C3%A9%20%C3%A9t%C3%A9.pdf"):
        status, headers, _ = raw_get(stack.url, same)
        assert status == 200
        assert headers["content-disposition"].endswith(
            "filename*=UTF-8''R%C3%A9sum%C3%A9%20%C3%A9t%C3%A9.pdf")
    plus = served["a+b=c.pdf"]
    assert plus["path"].endswith("/a%2Bb%3Dc.pdf")
    assert raw_get(stack.url, plus["path"])[0] == 200
    for other in (plus["path"].replace("%2B", "+"), plus["path"].replace("%3D", "="),
                  folder + "/R%C3%A9sum%C3%A9+%C3%A9t%C3%A9.pdf"):  # a + for the space
        assert_json_error(raw_get(stack.url, other), 404, "not_found")


@pytest.mark.parametrize("target", [
    "/f/", "/f/p/2026/01/", "/f/p/2026/13/att_1234567890123_abcdefghij/a.pdf",
    "/f/p/2026/01/att_1234567890123_abcdefghij/a.html",
    "/f/p/2026/01/att_1234567890123_abcdefghij/.hidden.pdf",
    "/f/p/2026/01/avatar_1234567890123_abcdef.jpg", "/f/../i/x.jpg",
])
def test_anything_else_under_f_is_a_json_404(stack, target):
    assert_json_error(raw_get(stack.url, target), 404, "not_found")


def test_only_get_and_head(stack, served):
    answer = requests.delete(served["notes.txt"]["url"], timeout=10)
    assert_json_error(answer, 405, "method_not_allowed")
    assert requests.head(served["notes.txt"]["url"], timeout=10).status_code == 200


def test_a_body_over_the_edges_bound_is_refused_before_it_is_sent(stack):
    status, headers, body, sent = push_body(stack.url, ROUTE, 120 * MIB,
                                            headers={"Accept-Language": "en"})
    parsed = assert_json_error((status, headers, body), 413, "attachment_too_large")
    assert "20MB for an image, 100MB for another file" in parsed["error"]
    assert sent < 120 * MIB


def test_an_image_over_its_limit_is_413_naming_it(stack):
    png = make_image("PNG", size=(64, 64))
    answer = attach(stack, [("big.png", png + b"\0" * (20 * MIB))], language="fr")
    parsed = assert_json_error(answer, 413, "attachment_too_large")
    assert "20MB au plus pour une image" in parsed["error"]


def status_kb(pid: int, field: str) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    raise AssertionError(field)


def test_a_large_file_is_streamed_not_held_in_memory(stack):
    """~30 MiB of video (100 MiB in S3 mode, where the file is spooled to disk and sent to the
    store in parts): the worker's peak RSS (reset first) stays under 150 MB, Traefik's grows by
    far less than the body (it spills to disk past 2 MiB), the bytes served are those sent, and
    nothing is left behind."""
    (worker,) = children(stack.procs["gunicorn"].pid)
    edge = stack.procs["traefik"].pid
    for pid in (worker, edge):
        Path(f"/proc/{pid}/clear_refs").write_text("5")
    edge_before = status_kb(edge, "VmRSS")
    data = samples.mp4(mdat=(100 if s3(stack) else 30) * MIB - 256)
    answer = attach(stack, [("holiday film.mp4", data)])
    assert answer.status_code == 201, answer.text
    worker_peak, edge_peak = status_kb(worker, "VmHWM") / 1024, status_kb(edge, "VmHWM") / 1024
    print(f"peak RSS: gunicorn worker {worker_peak:.0f} MB, Traefik {edge_peak:.0f} MB "
          f"(was {edge_before / 1024:.0f} MB) for a {len(data) / MIB:.0f} MiB upload")
    assert worker_peak < 150
    assert edge_peak - edge_before / 1024 < 20
    item = answer.json()["data"]["files"][0]
    assert item["path"].endswith("/" + quote("holiday film.mp4", safe=""))
    got = requests.get(item["url"], timeout=30)
    assert hashlib.sha256(got.content).digest() == hashlib.sha256(data).digest()
    assert leftovers(stack, worker) == []


@pytest.mark.parametrize(("name", "data", "status", "code"), [
    ("invoice.pdf", samples.REFUSED["html"], 415, "unsupported_kind"),
    ("photo.jpg", samples.REFUSED["svg"], 415, "unsupported_kind"),
    ("doc.pdf", samples.REFUSED["pdf + html polyglot"], 415, "unsupported_kind"),
    ("a.zip.jpg", samples.REFUSED["zip"], 415, "unsupported_kind"),
    ("clip.mp4", samples.TRUNCATED["mp4"], 422, "file_truncated"),
    ("../../x.pdf", samples.TRUNCATED["pdf"], 422, "file_truncated"),
    ("clip.mp4", samples.REFUSED["mp4 + zip polyglot"], 415, "unsupported_kind"),
    ("notes.txt", samples.REFUSED["elf"], 415, "unsupported_kind"),
    ("song.mp3", samples.REFUSED["gzip"], 415, "unsupported_kind"),
])
def test_hostile_files_get_the_apps_json_through_the_edge(stack, name, data, status, code):
    before = stored(stack)
    (worker,) = children(stack.procs["gunicorn"].pid)
    parsed = assert_json_error(attach(stack, [(name, data)]), status, code)
    if code == "unsupported_kind":
        assert "JPEG" in parsed["error"] and "PDF" in parsed["error"]
    assert stored(stack) == before
    assert leftovers(stack, worker) == []


def test_a_hostile_name_is_made_safe_and_served_under_it(stack):
    """Traversal, an RTL override and a NUL in the client's name: the stored name is what is
    left, served under its canonical spelling, never outside the upload's folder."""
    answer = attach(stack, [("..\\../etc/\u202egnp.exe\x00.pdf", samples.pdf())])
    assert answer.status_code == 201, answer.text
    item = answer.json()["data"]["files"][0]
    assert item["filename"] == "gnp.exe.pdf" and item["path"].rsplit("/", 2)[1][:4] == "att_"
    got = requests.get(item["url"], timeout=10)
    assert got.status_code == 200 and got.content == samples.pdf()
    assert got.headers["Content-Disposition"].endswith("filename*=UTF-8''gnp.exe.pdf")
