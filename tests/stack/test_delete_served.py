"""DELETE on a delete_url through the real edge: the upload's files are gone and nginx answers
404 for each (local volume and S3); a wrong capability is the app's JSON 403 through Traefik;
the capability is written in no log; a file nginx had open is a 404 within its cache's bound."""

import time

import pytest
import requests

import samples
from devstack.client import multipart
from devstack.images import make_image
from helpers import assert_json_error

pytestmark = pytest.mark.stack
OPEN_FILE_BOUND = 10 + 2  # nginx/locations.conf's open_file_cache_valid, and a margin


def avatar(url: str) -> dict:
    body, mimetype = multipart([("avatar", "a.jpg", "image/jpeg",
                                 make_image("JPEG", size=(600, 400)))])
    answer = requests.post(url + "/api/upload/avatar", data=body, timeout=30,
                           headers={"Content-Type": mimetype})
    assert answer.status_code == 201, answer.text
    return answer.json()["data"]


def variant_urls(data: dict) -> list[str]:
    assert data["variants"], "the image is large enough for variants"
    return [v["url"] for v in data["variants"]]


def test_a_deleted_avatar_and_its_variants_answer_404(image_stack):
    data = avatar(image_stack.url)
    keys = [data["path"].lstrip("/"), *(u.split("/", 3)[3] for u in variant_urls(data))]
    store = image_stack.storage
    assert all(store.stat(key) for key in keys)
    answer = requests.delete(data["delete_url"], timeout=10)
    assert answer.status_code == 204, answer.text
    assert answer.content == b""
    assert not any(store.stat(key) for key in keys)
    for url in [data["url"], *variant_urls(data)]:  # never fetched: nothing cached
        assert_json_error(requests.get(url, timeout=10), 404, "not_found")
    again = requests.delete(data["delete_url"], timeout=10)
    assert again.status_code == 204  # idempotent: a retried DELETE succeeds


def test_a_deleted_attachment_folder_answers_404(stack):
    body, mimetype = multipart([("file", "r.pdf", "application/pdf", samples.pdf()),
                                ("file", "p.jpg", "image/jpeg",
                                 make_image("JPEG", size=(300, 200)))])
    answer = requests.post(stack.url + "/api/upload/attachment", data=body, timeout=30,
                           headers={"Content-Type": mimetype})
    assert answer.status_code == 201, answer.text
    pdf, photo = answer.json()["data"]["files"]
    assert requests.delete(photo["delete_url"], timeout=10).status_code == 204
    for url in [photo["url"], *(v["url"] for v in photo["variants"])]:
        assert_json_error(requests.get(url, timeout=10), 404, "not_found")
    folder = stack.root / photo["path"].lstrip("/").rsplit("/", 1)[0]
    assert not folder.exists(), "the emptied folder goes too"
    assert requests.get(pdf["url"], timeout=10).status_code == 200, "the other file stays"


def _flip(text: str) -> str:
    return text[:-1] + ("A" if text[-1] != "A" else "B")


def _capability_flipped(url: str) -> str:
    parts = url.split("/")
    parts[6] = _flip(parts[6])
    return "/".join(parts)


@pytest.mark.parametrize(("alter", "status", "code"), [
    (_flip, 404, "not_found"),  # a unit the service never names (`.jpA`)
    (_capability_flipped, 403, "invalid_delete_link"),  # one character of the capability
    (lambda url: url.replace("/delete/", "/delete/A", 1), 403, "invalid_delete_link"),
], ids=["unit", "capability", "longer"])
def test_an_altered_delete_url_is_refused_through_the_edge(image_stack, alter, status, code):
    data = avatar(image_stack.url)
    assert_json_error(requests.delete(alter(data["delete_url"]), timeout=10), status, code)
    assert requests.get(data["url"], timeout=10).status_code == 200


def test_the_capability_is_in_no_log(stack):
    data = avatar(stack.url)
    capability = data["delete_url"].split("/")[6]
    assert requests.delete(data["delete_url"], timeout=10).status_code == 204
    unit = data["path"].lstrip("/")
    deadline = time.monotonic() + 10
    while unit not in stack.log("gunicorn"):  # the app's line of the delete, with its unit
        assert time.monotonic() < deadline, "the delete never reached the app's log"
        time.sleep(0.1)
    assert "/api/upload/avatar" in stack.log("traefik"), "the edge's access log is kept"
    for name in ("traefik", "gunicorn", "nginx", "nginx-access"):
        assert capability not in stack.log(name), name
    # A mistyped spelling the edge does not route to the app reaches nginx: its log hides the
    # capability too (Traefik's own access line of it keeps the path: README, "Logs").
    typo = data["delete_url"].replace("/api/", "/API/")
    assert requests.delete(typo, timeout=10).status_code in (404, 405)
    deadline = time.monotonic() + 10
    while "/API/upload/delete/[capability]/" not in stack.log("nginx-access"):
        assert time.monotonic() < deadline, "the typo never reached nginx's log"
        time.sleep(0.1)
    assert capability not in stack.log("nginx-access")


def test_a_file_nginx_holds_open_is_404_within_the_bound(stack):
    data = avatar(stack.url)
    assert requests.get(data["url"], timeout=10).status_code == 200  # now in open_file_cache
    assert requests.delete(data["delete_url"], timeout=10).status_code == 204
    deleted = time.monotonic()
    while requests.get(data["url"], timeout=10).status_code != 404:
        assert time.monotonic() - deleted < OPEN_FILE_BOUND
        time.sleep(0.25)


@pytest.mark.parametrize("path", ["/.uploads-delete-secret", "/i/../.uploads-delete-secret",
                                  "/.owners/", "/i/.owners/", "/f/.owners/"])
def test_the_stores_private_objects_are_never_served(image_stack, path):
    assert image_stack.storage.read_private(".uploads-delete-secret") is not None
    answer = requests.get(image_stack.url + path, timeout=10)
    assert answer.status_code == 404
    assert b"uploads-delete" not in answer.content and answer.headers.get(
        "Content-Type", "").startswith("application/json")


def test_in_s3_mode_a_delete_also_removes_the_volumes_copy(stack_s3):
    """After a move to S3 the volume stays mounted, and nginx falls back to it for a key the
    bucket lacks: a copy left there would be served again once the bucket's is deleted."""
    data = avatar(stack_s3.url)
    body, mimetype = multipart([("file", "r.pdf", "application/pdf", samples.pdf())])
    answer = requests.post(stack_s3.url + "/api/upload/attachment", data=body, timeout=30,
                           headers={"Content-Type": mimetype})
    assert answer.status_code == 201, answer.text
    pdf = answer.json()["data"]["files"][0]
    keys = [data["path"].lstrip("/"), *(u.split("/", 3)[3] for u in variant_urls(data)),
            pdf["path"].lstrip("/")]
    for key in keys:  # what `migrate --from` the volume leaves behind: the same bytes
        copy = stack_s3.root / key
        copy.parent.mkdir(parents=True, exist_ok=True)
        copy.write_bytes(stack_s3.storage.read(key))
    for item in (data, pdf):
        assert requests.delete(item["delete_url"], timeout=10).status_code == 204
    for url in [data["url"], *variant_urls(data), pdf["url"]]:
        assert_json_error(requests.get(url, timeout=10), 404, "not_found")
    assert not [key for key in keys if (stack_s3.root / key).exists()]
