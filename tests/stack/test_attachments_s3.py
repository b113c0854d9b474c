"""What only S3 mode has for attachments under /f/, through the real stack (the answers both
modes share are in test_attachments_served.py): nothing of the store reaches a client, the type
is nginx's by extension whatever the store holds, conditions are answered from the cache, an
attachment still on the volume (not migrated yet) is served, and a deleted one stops being
served once the cache time has passed."""

import time

import pytest
import requests

import samples
from devstack.client import multipart
from helpers import assert_json_error
from uploads import storage

pytestmark = pytest.mark.stack

ROUTE = "/api/upload/attachment"
CSP = ("default-src 'none'; img-src 'self'; media-src 'self'; style-src 'unsafe-inline'; "
       "sandbox")


def attach(url, name, data):
    body, mimetype = multipart([("file", name, "application/octet-stream", data)])
    answer = requests.post(url + ROUTE, data=body, timeout=60,
                           headers={"Content-Type": mimetype, "Accept-Language": "en"})
    assert answer.status_code == 201, answer.text
    return answer.json()["data"]["files"][0]


def test_no_header_of_the_store_and_the_type_by_extension(stack_s3):
    item = attach(stack_s3.url, "report.pdf", samples.pdf())
    store = storage.from_config(stack_s3.config)
    key = item["path"].lstrip("/")
    store.client.copy_object(Bucket=store.bucket, Key=key, CopySource=f"{store.bucket}/{key}",
                             ContentType="text/html", MetadataDirective="REPLACE")
    answer = requests.get(item["url"], timeout=10)
    assert answer.status_code == 200 and answer.content == samples.pdf()
    assert answer.headers["Content-Type"] == "application/pdf", "never the store's type"
    assert answer.headers["Content-Disposition"].startswith("attachment; ")
    assert not [h for h in answer.headers if h.lower().startswith(("x-amz", "seaweed"))]
    etag = answer.headers["ETag"]
    again = requests.get(item["url"], headers={"If-None-Match": etag}, timeout=10)
    assert again.status_code == 304
    failing = requests.get(item["url"], headers={"If-Match": '"other"'}, timeout=10)
    assert_json_error(failing, 412, "precondition_failed")


def test_an_attachment_still_on_the_volume_is_served(stack_s3):
    key = "f/p/2025/10/att_1760877849690_k3x9qa0m2z/old notes.txt"
    path = stack_s3.root.joinpath(*key.split("/"))
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(samples.text())
    answer = requests.get(f"{stack_s3.url}/f/p/2025/10/att_1760877849690_k3x9qa0m2z/"
                          "old%20notes.txt", timeout=10)
    assert answer.status_code == 200 and answer.content == samples.text()
    assert answer.headers["Content-Type"] == "text/plain; charset=utf-8"
    assert answer.headers["Content-Disposition"] == (
        "attachment; filename=\"file.txt\"; filename*=UTF-8''old%20notes.txt")
    assert answer.headers["Content-Security-Policy"] == CSP
    missing = f"{stack_s3.url}/f/p/2025/10/att_1760877849690_k3x9qa0m2z/gone.txt"
    assert_json_error(requests.get(missing, timeout=10), 404, "not_found")


def test_a_deleted_attachment_goes_within_the_cache_time(make_stack):
    stack = make_stack(STORAGE="s3", S3_CACHE_SECONDS=2, MIN_FREE_BYTES=0, RATE_LIMIT=0,
                       ATTACHMENTS="true")
    item = attach(stack.url, "clip.mp4", samples.mp4())
    assert requests.get(item["url"], timeout=10).status_code == 200
    storage.from_config(stack.config).delete(item["path"].lstrip("/"))
    time.sleep(3.2)
    assert_json_error(requests.get(item["url"], timeout=10), 404, "not_found")
