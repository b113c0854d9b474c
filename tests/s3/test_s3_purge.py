"""Delete links and `purge --subject` on a bucket (a real SeaweedFS): the records and the
delete links' key are objects nobody reads anonymously, a delete removes the set and its
record, purge lists one subject's prefix and removes only that subject's uploads."""

import json
import time
import urllib.error
import urllib.request

import jwt
import pytest

from devstack.client import multipart
from devstack.images import make_image
from helpers import cli_runner
from uploads import create_app, owners
from uploads.storage.private import SECRET_NAME

SECRET = "k" * 40


@pytest.fixture
def app(s3_settings, s3store):
    for name in owners.records(s3store):  # records left by earlier tests on the bucket
        s3store.delete_private(name)
    return create_app({**s3_settings, "MIN_FREE_BYTES": 0, "AUTH": "jwt",
                       "JWT_SECRET": SECRET})


def send(app, sub):
    token = jwt.encode({"sub": sub, "exp": int(time.time()) + 300}, SECRET, "HS256")
    body, mimetype = multipart([("avatar", "a.jpg", "image/jpeg",
                                 make_image("JPEG", size=(600, 400)))])
    answer = app.test_client().post("/api/upload/avatar", data=body, content_type=mimetype,
                                    headers={"Authorization": f"Bearer {token}"})
    assert answer.status_code == 201, answer.get_json()
    return answer.get_json()["data"]


def keys_of(data):
    return [data["path"].lstrip("/"), *(v["url"].split("/", 3)[3] for v in data["variants"])]


def anonymous_status(weed, key) -> int:
    try:
        with urllib.request.urlopen(f"{weed.endpoint}/{weed.bucket}/{key}", timeout=5):
            return 200
    except urllib.error.HTTPError as refused:
        refused.close()
        return refused.code


def test_records_and_the_key_are_not_public(app, weed, s3store):
    data = send(app, "alice")
    (record,) = owners.records(s3store, "alice")
    assert json.loads(s3store.read_private(record))["unit"] == data["path"].lstrip("/")
    assert anonymous_status(weed, record) == 403
    assert anonymous_status(weed, SECRET_NAME) == 403
    assert anonymous_status(weed, data["path"].lstrip("/")) == 200  # the control


def test_a_delete_removes_the_set_and_the_record(app, s3store):
    data = send(app, "alice")
    assert all(s3store.stat(k) for k in keys_of(data))
    answer = app.test_client().delete("/" + data["delete_url"].split("/", 3)[3])
    assert answer.status_code == 204
    assert not any(s3store.stat(k) for k in keys_of(data))
    assert owners.records(s3store, "alice") == []


def test_purge_removes_one_subjects_uploads(app, s3store):
    mine = [send(app, "alice") for _ in range(2)]
    theirs = send(app, "bob")
    cli = cli_runner(app)
    dry = cli("purge", "--subject", "alice")
    assert "would remove 2 uploads" in dry.stdout
    assert all(s3store.stat(k) for d in mine for k in keys_of(d))
    applied = cli("purge", "--subject", "alice", "--apply")
    assert applied.exit_code == 0 and "removed 2 uploads" in applied.stdout
    assert not any(s3store.stat(k) for d in mine for k in keys_of(d))
    assert all(s3store.stat(k) for k in keys_of(theirs))
    assert owners.records(s3store, "alice") == []
    assert len(owners.records(s3store, "bob")) == 1


def test_a_link_from_one_replica_is_taken_by_another(app, s3_settings, s3store):
    data = send(app, "alice")
    replica = create_app({**s3_settings, "MIN_FREE_BYTES": 0})  # reads the bucket's key
    assert replica.test_client().delete("/" + data["delete_url"].split("/", 3)[3]
                                        ).status_code == 204
    assert not any(s3store.stat(k) for k in keys_of(data))
