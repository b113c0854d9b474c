"""The store's identity on a real bucket: the same tests as the local volume's
(tests/test_volume.py), the id an object beside `i/` written with the conditional PUT, and
never readable anonymously (nginx's way in)."""

import urllib.error
import urllib.request

import pytest
from test_volume import (  # noqa: F401 (collected here again, on the bucket)
    test_a_failing_recount_keeps_the_last_count,
    test_a_store_that_cannot_be_listed_is_one_line,
    test_a_store_with_files_and_no_id_is_refused_when_an_id_is_expected,
    test_an_empty_store_with_no_id_is_refused_too_when_an_id_is_expected,
    test_another_id_is_refused_naming_both,
    test_commands_never_see_the_id,
    test_the_count_is_refreshed_in_the_background_never_by_the_probe,
    test_the_first_start_writes_an_id_that_later_starts_keep,
    test_the_id_is_never_replaced,
)

from uploads.storage import ID_NAME
from uploads.storage.identity import claim


@pytest.fixture
def backend(weed, s3store):
    """The emptied bucket, its id removed before and after."""
    def forget():
        s3store.client.delete_object(Bucket=weed.bucket, Key=ID_NAME)

    def raw():
        try:
            answer = s3store.client.get_object(Bucket=weed.bucket, Key=ID_NAME)
        except s3store.client.exceptions.NoSuchKey:
            return None
        return answer["Body"].read().decode()

    forget()
    settings = {k.removeprefix("UPLOADS_"): v for k, v in weed.settings().items()}
    yield {**settings, "MIN_FREE_BYTES": 0}, s3store, raw
    forget()


def test_the_id_is_not_public(weed, backend):
    _, store, raw = backend
    volume_id = claim(store).id
    assert raw() == volume_id + "\n"
    with pytest.raises(urllib.error.HTTPError) as refused:
        urllib.request.urlopen(f"{weed.endpoint}/{weed.bucket}/{ID_NAME}", timeout=5)
    refused.value.close()
    assert refused.value.code == 403
