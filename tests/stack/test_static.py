"""Images through the edge: what nginx serves under /i/, and everything it must not serve, in
both storage modes (the volume, and a bucket read through nginx's cache)."""

import re

import pytest
import requests

from devstack.images import make_image
from helpers import assert_json_error
from stack.net import raw_get, upload

pytestmark = pytest.mark.stack

IMMUTABLE = "public, max-age=31536000, immutable"
SECRET = b"outside-the-served-tree"


@pytest.fixture(scope="module")
def stack(image_stack):
    """Every test here runs against the local volume and against the bucket."""
    return image_stack


def stored_bytes(stack, path: str) -> bytes:
    return stack.storage.read(path.lstrip("/"))


@pytest.fixture(scope="module")
def stored(stack):
    """One upload of each format: {format: the answer's `data`}."""
    found = {}
    for fmt, name, mime in (("JPEG", "a.jpg", "image/jpeg"), ("PNG", "a.png", "image/png"),
                            ("WEBP", "a.webp", "image/webp")):
        answer = upload(stack.url, make_image(fmt, size=(80, 60)), fmt, name, mime)
        assert answer.status_code == 201, answer.text
        found[fmt] = answer.json()["data"]
    return found


@pytest.mark.parametrize("fmt", ["JPEG", "PNG", "WEBP"])
def test_upload_then_get_serves_the_stored_bytes(stack, stored, fmt):
    data = stored[fmt]
    assert data["url"] == stack.url + data["path"]
    on_disk = stored_bytes(stack, data["path"])
    answer = requests.get(data["url"], timeout=10)
    assert answer.status_code == 200
    assert answer.content == on_disk and len(on_disk) == data["size"]
    assert answer.headers["Content-Type"] == data["content_type"]
    assert answer.headers["Cache-Control"] == IMMUTABLE
    assert answer.headers["X-Content-Type-Options"] == "nosniff"
    assert "default-src 'none'" in answer.headers["Content-Security-Policy"]
    assert not [h for h in answer.headers if h.lower().startswith(("x-amz", "seaweed"))]

    head = requests.head(data["url"], timeout=10)
    assert head.status_code == 200 and head.content == b""
    assert head.headers["Content-Length"] == str(len(on_disk))
    assert head.headers["Content-Type"] == data["content_type"]
    assert head.headers["Cache-Control"] == IMMUTABLE


def test_missing_file_is_a_json_404_that_is_not_cached_forever(stack, stored):
    path = stored["JPEG"]["path"]
    missing = re.sub(r"_[a-z0-9]{6}\.jpg$", "_zzzzzz.jpg", path)
    assert missing != path
    for method in (requests.get, requests.head):
        answer = method(stack.url + missing, timeout=10)
        assert answer.status_code == 404
        assert "immutable" not in answer.headers.get("Cache-Control", "")
    assert_json_error(requests.get(stack.url + missing, timeout=10), 404, "not_found")


def test_no_folder_is_ever_listed(stack, stored):
    path = stored["PNG"]["path"]  # /i/p/YYYY/MM/name
    folders = ["/i/", "/i/p/", path.rsplit("/", 2)[0] + "/", path.rsplit("/", 1)[0] + "/",
               path.rsplit("/", 1)[0], "/i", "/"]
    name = path.rsplit("/", 1)[1]
    for folder in folders:
        answer = requests.get(stack.url + folder, timeout=10)
        assert answer.status_code == 404, folder
        assert name.encode() not in answer.content
        assert_json_error(answer, 404, "not_found")


@pytest.fixture(scope="module")
def planted(stack, stored):
    """Files that exist on disk but outside what may be served: in the root beside i/, in the
    temp folder, and a symlink inside i/ pointing out; in a bucket, objects beside i/ and
    names nginx must not serve inside it."""
    folder = stored["JPEG"]["path"].lstrip("/").rsplit("/", 1)[0]
    if stack.config["STORAGE"] == "s3":
        client, bucket = stack.storage.client, stack.config["S3_BUCKET"]
        for key in ("secret.jpg", ".tmp/partial.jpg", ".probe/secret.jpg", "app.py",
                    f"{folder}/notes.txt", f"{folder}/.hidden.jpg", f"{folder}/link.jpg/x"):
            client.put_object(Bucket=bucket, Key=key, Body=SECRET)
        return folder
    (stack.root / "secret.jpg").write_bytes(SECRET)
    (stack.root / ".tmp").mkdir(exist_ok=True)
    (stack.root / ".tmp" / "partial.jpg").write_bytes(SECRET)
    folder = stack.root / folder
    (folder / "link.jpg").symlink_to(stack.root / "secret.jpg")
    (folder / "notes.txt").write_bytes(SECRET)
    (folder / ".hidden.jpg").write_bytes(SECRET)
    return folder.relative_to(stack.root).as_posix()


TRAVERSALS = [
    "/i/../app.py", "/i/../secret.jpg", "/i/%2e%2e/secret.jpg", "/i/%2E%2E/%2E%2E/app.py",
    "/i/..%2fsecret.jpg", "/i/..%2Fsecret.jpg", "/i/%2e%2e%2fsecret.jpg", "/i/..%5csecret.jpg",
    "/i/%252e%252e/secret.jpg", "/i/....//secret.jpg", "//i/../secret.jpg", "/i//../secret.jpg",
    "/i/./../secret.jpg", "/i/p/../../secret.jpg", "/i/%00/../secret.jpg", "/i/secret.jpg%00.jpg",
    "/.tmp/partial.jpg", "/i/../.tmp/partial.jpg", "/i/%2e%2e/.tmp/partial.jpg",
    "/secret.jpg", "/app.py", "/i/..;/secret.jpg", "/i/%2e%2e;/secret.jpg",
    "/i/..\\secret.jpg", "/i/p/2026/../../../etc/passwd", "/i/../../../../etc/passwd",
]


@pytest.mark.parametrize("target", TRAVERSALS)
def test_traversal_never_leaves_the_volume(stack, planted, target):
    status, _headers, body = raw_get(stack.url, target)
    assert status in (400, 403, 404), (target, status)
    assert SECRET not in body
    assert b"create_app" not in body and b"root:" not in body


@pytest.mark.parametrize("name", ["link.jpg", "notes.txt", ".hidden.jpg"])
def test_only_regular_image_files_are_served(stack, planted, name):
    answer = requests.get(f"{stack.url}/{planted}/{name}", timeout=10)
    assert answer.status_code in (403, 404)
    assert SECRET not in answer.content


@pytest.mark.parametrize("method", ["POST", "PUT", "DELETE", "PATCH", "OPTIONS"])
def test_only_get_and_head_under_i(stack, stored, method):
    path = stored["WEBP"]["path"]
    before = stored_bytes(stack, path)
    for target in (path, "/i/", "/i/p/new.jpg"):
        answer = requests.request(method, stack.url + target, data=b"x" * 100, timeout=10)
        assert_json_error(answer, 405, "method_not_allowed")
        assert answer.headers["Allow"] == "GET, HEAD"
    assert stored_bytes(stack, path) == before
    assert stack.storage.stat("i/p/new.jpg") is None


def test_the_app_itself_never_serves_images(stack, stored):
    path = stored["JPEG"]["path"]
    answer = requests.get(stack.app_url + path, timeout=10)
    assert_json_error(answer, 404, "not_found")
    assert answer.content != stored_bytes(stack, path)


def test_unknown_paths_are_json_404s_and_ping_answers(stack):
    for path in ("/", "/nope", "/api/", "/api/uploads", "/index.html"):
        assert_json_error(requests.get(stack.url + path, timeout=10), 404, "not_found")
    assert requests.get(stack.url + "/ping", timeout=10).status_code == 200


def test_the_upload_page_is_served_and_revalidated(stack):
    answer = requests.get(stack.url + "/uploads/", timeout=10)
    assert answer.status_code == 200
    assert answer.headers["Content-Type"].startswith("text/html")
    assert answer.headers["Cache-Control"] == "no-cache"
    assert "frame-ancestors 'none'" in answer.headers["Content-Security-Policy"]
    bare = requests.get(stack.url + "/uploads", allow_redirects=False, timeout=10)
    assert bare.status_code == 301 and bare.headers["Location"] == "/uploads/"


@pytest.mark.parametrize("folder", ["existing", "new"])
def test_a_file_written_after_a_404_is_served_at_once(stack, stored, folder):
    """nginx keeps open file descriptors but never a miss (`open_file_cache_errors off`), and
    its S3 cache keeps only 200s: a file that was asked for before it existed is served as soon
    as it is stored."""
    if folder == "existing":
        month = stored["JPEG"]["path"].lstrip("/").rsplit("/", 1)[0]
    else:
        month = f"i/p/2001/01-{stack.config['STORAGE']}"
    key = f"{month}/avatar_978307200000_fresh1.jpg"
    url = f"{stack.url}/{key}"
    for _ in range(2):  # the second miss would be answered from the cache, if misses were kept
        assert_json_error(requests.get(url, timeout=10), 404, "not_found")

    data = make_image("JPEG", size=(24, 16))
    if stack.config["STORAGE"] == "s3":
        assert stack.storage.put(key, data, "image/jpeg")
    else:
        target = stack.root / key
        assert not target.parent.exists() or folder == "existing"
        staging = stack.root / ".tmp" / f"fresh-{folder}.jpg"
        staging.parent.mkdir(exist_ok=True)
        staging.write_bytes(data)
        staging.chmod(0o644)
        target.parent.mkdir(mode=0o755, parents=True, exist_ok=True)
        staging.replace(target)  # as the app stores: written aside, then renamed into place

    answer = requests.get(url, timeout=10)
    assert answer.status_code == 200
    assert answer.content == data
    assert answer.headers["Content-Type"] == "image/jpeg"
