"""The S3 tier: a real SeaweedFS (`weed mini`, devstack.seaweed) started once per session on
free loopback ports, with its data in a temporary folder, and a store emptied for each test."""

import pytest

from devstack.seaweed import Seaweed
from helpers import cli_runner
from uploads import create_app
from uploads.storage.s3 import S3Storage

BUCKET = "uploads-test"
READER = ("READONLYKEY0001", "read-only-secret-of-the-tests")


@pytest.fixture(scope="session")
def weed(tmp_path_factory):
    reader = {"name": "reader", "credentials": [{"accessKey": READER[0],
                                                 "secretKey": READER[1]}],
              "actions": [f"Read:{BUCKET}", f"List:{BUCKET}"]}
    with Seaweed(tmp_path_factory.mktemp("weed"), BUCKET, extra_identities=[reader]) as running:
        yield running


def make_store(weed, **changes) -> S3Storage:
    args = {"bucket": weed.bucket, "endpoint": weed.endpoint, "region": "us-east-1",
            "access_key": weed.access_key, "secret_key": weed.secret_key, **changes}
    return S3Storage(**args)


@pytest.fixture
def s3store(weed):
    """The app's view of the bucket, empty at the start of the test."""
    store = make_store(weed)
    for entry in list(store.walk()):
        store.delete(entry.key)
    return store


@pytest.fixture
def s3_settings(weed, s3store):
    """Settings (without the prefix) that put an app on the emptied bucket."""
    return {k.removeprefix("UPLOADS_"): v for k, v in weed.settings().items()}


@pytest.fixture
def s3cli(s3_settings):
    """The operator commands of an app on the emptied bucket."""
    return cli_runner(create_app({**s3_settings, "MIN_FREE_BYTES": 0}, serving=False))
