"""The S3 backend against a real SeaweedFS: the same behaviour the local volume has where it
applies (never-replace, keys confined to `i/`, walk, delete), what only a bucket has (stored
Content-Type and Cache-Control, anonymous read limited to `i/` and `f/`), the start-up check's
one line, writers in separate processes racing for names, and attachments sent in parts,
never replacing, with what an interrupted upload leaves counted as a leftover."""

import multiprocessing
import os
import tempfile
import urllib.error
import urllib.parse
import urllib.request

import pytest

from uploads.errors import StorageUnavailable
from uploads.settings import ConfigError
from uploads.storage.s3 import IMMUTABLE, S3Storage

from .conftest import READER, make_store

KEY = "i/p/2026/11/avatar_1795000000000_abcdef.jpg"


def status(request) -> int:
    """The status of a plain HTTP request, the connection closed either way."""
    try:
        with urllib.request.urlopen(request, timeout=5) as answer:
            return answer.status
    except urllib.error.HTTPError as error:
        error.close()
        return error.code


def test_put_read_stat_walk_delete(s3store):
    assert s3store.put(KEY, b"abc" * 1000, "image/jpeg")
    assert s3store.read(KEY) == b"abc" * 1000
    entry = s3store.stat(KEY)
    assert entry.key == KEY and entry.size == 3000 and entry.mtime > 0
    assert [e.key for e in s3store.walk()] == [KEY]
    assert s3store.delete(KEY) and not s3store.delete(KEY)
    assert s3store.stat(KEY) is None
    with pytest.raises(KeyError):
        s3store.read(KEY)


def test_the_object_carries_its_content_type_and_cache_control(s3store):
    s3store.put(KEY, b"x", "image/jpeg")
    head = s3store.client.head_object(Bucket=s3store.bucket, Key=KEY)
    assert head["ContentType"] == "image/jpeg"
    assert head["CacheControl"] == IMMUTABLE


def test_put_never_replaces_but_restore_may(s3store):
    assert s3store.put(KEY, b"first", "image/jpeg")
    assert s3store.put(KEY, b"second", "image/jpeg") is False
    assert s3store.read(KEY) == b"first"
    assert s3store.put(KEY, b"third", "image/jpeg", replace=True)
    assert s3store.read(KEY) == b"third"


def test_put_new_draws_another_name_on_a_clash(s3store, monkeypatch):
    other = KEY.replace("abcdef", "zzzzzz")
    keys = iter([KEY, KEY, other])
    monkeypatch.setattr("uploads.naming.new_key", lambda ext: next(keys))
    assert s3store.put_new("jpg", b"one", "image/jpeg") == KEY
    assert s3store.put_new("jpg", b"two", "image/jpeg") == other
    assert s3store.read(KEY) == b"one"


@pytest.mark.parametrize("key", ["../etc/passwd", "i/../../x", "/i/p/x.jpg", "i//x", "p/x.jpg",
                                 "i/p/\0.jpg", "i/./x", ".probe/x"])
def test_keys_cannot_leave_the_tree(s3store, key):
    with pytest.raises(ValueError):
        s3store.put(key, b"x")
    with pytest.raises(ValueError):
        s3store.read(key)


def test_walk_lists_only_the_prefix_in_key_order(s3store):
    keys = [f"i/p/2026/{m:02d}/avatar_179500000000{m % 10}_abcdef.png" for m in (3, 1, 12)]
    for key in keys:
        s3store.put(key, b"x", "image/png")
    s3store.client.put_object(Bucket=s3store.bucket, Key="outside/secret.jpg", Body=b"s")
    assert [e.key for e in s3store.walk()] == sorted(keys)
    assert [e.key for e in s3store.walk("i/p/2026/12")] == [keys[2]]
    s3store.client.delete_object(Bucket=s3store.bucket, Key="outside/secret.jpg")


def test_anyone_may_read_objects_under_i_and_nothing_else(weed, s3store):
    s3store.put(KEY, b"public", "image/jpeg")
    s3store.client.put_object(Bucket=s3store.bucket, Key="outside/secret.jpg", Body=b"secret")
    base = f"{weed.endpoint}/{weed.bucket}"
    with urllib.request.urlopen(f"{base}/{KEY}", timeout=5) as answer:
        assert answer.read() == b"public"
    for path in ("/outside/secret.jpg", "?list-type=2", "/?list-type=2&prefix=i/"):
        assert status(base + path) == 403, path
    request = urllib.request.Request(f"{base}/i/p/2026/11/new.jpg", data=b"x", method="PUT")
    assert status(request) == 403
    s3store.client.delete_object(Bucket=s3store.bucket, Key="outside/secret.jpg")


def test_the_filer_port_refuses_requests_without_a_token(weed, s3store):
    s3store.put(KEY, b"public", "image/jpeg")
    for url in (f"{weed.filer_url}/buckets/{weed.bucket}/{KEY}", f"{weed.filer_url}/"):
        assert status(url) == 401, url


def test_space_is_unbounded_and_there_are_no_leftovers(s3store):
    assert s3store.space().free is None and s3store.free_bytes() is None
    assert s3store.leftovers() == [] and s3store.remove_leftovers() == 0
    s3store.check_writable()
    assert list(s3store.walk()) == []  # the probe left nothing in the public tree


@pytest.mark.parametrize("changes, words", [
    ({"endpoint": "http://127.0.0.1:9"}, "does not answer"),
    ({"secret_key": "wrong-secret"}, "credentials are refused"),
    ({"access_key": "NOSUCHKEY", "secret_key": "x"}, "credentials are refused"),
    ({"access_key": READER[0], "secret_key": READER[1]}, "writing is refused"),
    ({"bucket": "no-such-bucket"}, "no such bucket"),
])
def test_the_start_up_check_refuses_in_one_line(weed, changes, words):
    store = make_store(weed, **changes)
    with pytest.raises(ConfigError) as refused:
        store.ensure_persistent(allow_ephemeral=False)
    detail = refused.value.detail
    assert "\n" not in detail and words in detail, detail
    assert weed.secret_key not in detail and "wrong-secret" not in detail
    with pytest.raises(StorageUnavailable):
        store.check_writable()


def _race(args):
    endpoint, bucket, keys, key, data = args
    store = S3Storage(bucket, endpoint, "us-east-1", *keys)
    return store.put(key, data, "image/jpeg")


def _writer(args):
    endpoint, bucket, keys, count = args
    store = S3Storage(bucket, endpoint, "us-east-1", *keys)
    return [(store.put_new("jpg", f"{key_index}".encode(), "image/jpeg"), key_index)
            for key_index in range(count)]


def test_writers_in_separate_processes_never_replace_each_other(weed, s3store):
    keys = (weed.access_key, weed.secret_key)
    context = multiprocessing.get_context("spawn")
    with context.Pool(8) as pool:
        won = pool.map(_race, [(weed.endpoint, weed.bucket, keys, KEY, f"writer {n}".encode())
                               for n in range(16)], chunksize=1)
        assert won.count(True) == 1
        assert s3store.read(KEY) == f"writer {won.index(True)}".encode()
        stored = pool.map(_writer, [(weed.endpoint, weed.bucket, keys, 25)] * 8, chunksize=1)
    names = [key for batch in stored for key, _ in batch]
    assert len(names) == len(set(names)) == 200
    for batch in stored:
        for key, index in batch[:5]:
            assert s3store.read(key) == f"{index}".encode()
    assert len(list(s3store.walk())) == 201


def lose_the_first_answer(store):
    """The first attempt of each PUT reaches the store, but boto is made to send it again, as
    it does when the answer was lost (a timeout on a slow store)."""
    def retry_once(attempts, **_):
        return 0 if attempts == 1 else None  # seconds to wait before the retry

    store.client.meta.events.register("needs-retry.s3.PutObject", retry_once)


def test_a_put_whose_first_attempt_landed_is_ours_after_the_retry(s3store):
    """A 412 on the retry is our own first attempt: no second name drawn, no orphan left."""
    lose_the_first_answer(s3store)
    assert s3store.put_new("jpg", b"the upload", "image/jpeg") is not None
    assert [s3store.read(e.key) for e in s3store.walk()] == [b"the upload"]


def test_a_retried_put_never_claims_another_writers_object(s3store):
    assert s3store.put(KEY, b"someone else's", "image/jpeg")
    lose_the_first_answer(s3store)
    assert s3store.put(KEY, b"ours", "image/jpeg") is False
    assert s3store.read(KEY) == b"someone else's"


def test_a_failing_store_says_when_to_retry():
    error = StorageUnavailable("down")
    assert error.status == 503 and error.headers["Retry-After"] == "5"


@pytest.mark.parametrize("name", ["my photo.jpg", "a+b.jpg", "café.jpg", "x~1.jpg", "A@2x.png",
                                  "avatar(1).webp", "name,with,commas.jpg", "50%.jpg"])
def test_names_nginx_would_not_pass_to_the_store_are_unservable(s3store, name):
    assert "letters, digits" in s3store.unservable(f"i/p/2025/10/{name}")
    assert s3store.unservable("i/p/2025/10/Legacy-Name_2.v1.jpg") is None


ATTACHMENT = "f/p/2026/12/att_1796000000000_k3x9qa0m2z/Résumé été+1.pdf"


def spooled(tmp_path, data: bytes) -> str:
    path = tmp_path / "spool"
    path.write_bytes(data)
    return str(path)


def test_an_attachment_goes_in_parts_and_never_replaces(s3store, tmp_path, monkeypatch):
    monkeypatch.setattr("uploads.storage.s3files.CHUNK", 5 * 1024 * 1024)  # S3's least part
    data = os.urandom(11 * 1024 * 1024)
    assert s3store.put_file(ATTACHMENT, spooled(tmp_path, data), "application/pdf")
    head = s3store.client.head_object(Bucket=s3store.bucket, Key=ATTACHMENT)
    assert head["ETag"].endswith('-3"'), "three parts"
    assert (head["ContentType"], head["CacheControl"]) == ("application/pdf", IMMUTABLE)
    assert s3store.read(ATTACHMENT) == data
    assert not s3store.put_file(ATTACHMENT, spooled(tmp_path, b"other"), "application/pdf")
    assert s3store.read(ATTACHMENT) == data
    assert s3store.leftovers() == [], "the refused upload's parts are dropped"
    assert [e.key for e in s3store.walk()] == [ATTACHMENT]


def test_the_completion_itself_never_replaces(s3store, tmp_path, monkeypatch):
    """A writer that found the key free, then lost it to another before completing: the
    store's If-None-Match on the completion refuses it, and its parts are dropped."""
    real_stat = S3Storage.stat
    monkeypatch.setattr(S3Storage, "stat", lambda self, key: None)
    s3store.put(ATTACHMENT, b"first", "application/pdf")
    assert not s3store.put_file(ATTACHMENT, spooled(tmp_path, b"second"), "application/pdf")
    monkeypatch.setattr(S3Storage, "stat", real_stat)
    assert s3store.read(ATTACHMENT) == b"first" and s3store.leftovers() == []


def test_a_fresh_attachment_key_is_drawn_on_a_clash(s3store, tmp_path, monkeypatch):
    other = ATTACHMENT.replace("k3x9qa0m2z", "0qz8d1mw4c")
    keys = iter([ATTACHMENT, other])
    monkeypatch.setattr("uploads.naming.new_attachment_key", lambda name: next(keys))
    s3store.put(ATTACHMENT, b"first", "application/pdf")
    assert s3store.put_new_file("x.pdf", spooled(tmp_path, b"new"), 3) == other
    assert s3store.read(other) == b"new"


def test_stale_multipart_uploads_and_dead_spools_are_leftovers(s3store, monkeypatch):
    s3store.client.create_multipart_upload(Bucket=s3store.bucket, Key=ATTACHMENT)
    assert s3store.leftovers() == [], "an upload in progress is no leftover"
    monkeypatch.setattr("uploads.storage.s3files.STALE_SECONDS", -60)
    dead = os.path.join(tempfile.gettempdir(), "uploads-spool-999999999-att-x")
    open(dead, "wb").close()
    assert s3store.leftovers() == ["spool/uploads-spool-999999999-att-x",
                                   f"multipart/{ATTACHMENT}"]
    assert s3store.remove_leftovers() == 2
    assert s3store.leftovers() == [] and not os.path.exists(dead)


def test_stray_objects_under_f_are_reported_not_walked(s3store):
    s3store.put(ATTACHMENT, b"x", "application/pdf")
    s3store.client.put_object(Bucket=s3store.bucket, Key="f/p/2026/12/.DS_Store", Body=b"s")
    assert [e.key for e in s3store.walk()] == [ATTACHMENT]
    assert [(f.key, f.error) for f in s3store.audit()] == [("f/p/2026/12/.DS_Store", True)]
    s3store.client.delete_object(Bucket=s3store.bucket, Key="f/p/2026/12/.DS_Store")


def test_anyone_may_read_attachments_by_their_encoded_name(weed, s3store):
    s3store.put(ATTACHMENT, b"public", "application/pdf")
    url = f"{weed.endpoint}/{weed.bucket}/" + urllib.parse.quote(ATTACHMENT, safe="/")
    with urllib.request.urlopen(url, timeout=5) as answer:
        assert answer.read() == b"public"
    assert status(f"{weed.endpoint}/{weed.bucket}/?list-type=2&prefix=f/") == 403
    assert s3store.unservable(ATTACHMENT.replace(".pdf", ".jpg")) is None  # any safe name


def test_a_completion_whose_answer_was_lost_is_ours_after_the_retry(s3store, tmp_path,
                                                                      monkeypatch):
    """boto retried the completion after its first attempt landed: the store says the key is
    taken, by these very parts (their ETag), so the upload succeeded, and is not dropped."""
    from uploads.storage.s3 import _Refused

    real = s3store._call

    def call(operation, **kwargs):  # every completion answered 412 after a retry
        if operation != "complete_multipart_upload":
            return real(operation, **kwargs)
        try:
            real(operation, **kwargs)
        except _Refused as refused:
            raise _Refused(refused.code, refused.message, refused.status, True) from None
        raise _Refused("PreconditionFailed", "At least one of the pre-conditions", 412, True)

    monkeypatch.setattr(s3store, "_call", call)
    assert s3store.put_file(ATTACHMENT, spooled(tmp_path, b"mine"), "application/pdf")
    monkeypatch.setattr(s3store, "_call", real)
    assert s3store.read(ATTACHMENT) == b"mine"
    other = ATTACHMENT.replace("k3x9qa0m2z", "0qz8d1mw4c")
    s3store.put(other, b"theirs", "application/pdf")
    monkeypatch.setattr(s3store, "_call", call)
    monkeypatch.setattr(S3Storage, "stat", lambda self, key: None)
    assert not s3store.put_file(other, spooled(tmp_path, b"mine"), "application/pdf"), \
        "never claims another writer's object"
    monkeypatch.setattr(s3store, "_call", real)
    assert s3store.read(other) == b"theirs" and s3store.leftovers() == []


def test_an_empty_file_and_a_refused_start(s3store, tmp_path, monkeypatch):
    assert s3store.put_file(ATTACHMENT, spooled(tmp_path, b""), "text/plain")
    assert s3store.read(ATTACHMENT) == b""
    monkeypatch.setattr(s3store, "bucket", "no-such-bucket")
    with pytest.raises(StorageUnavailable):
        s3store.put_file(ATTACHMENT.replace(".pdf", ".txt"), spooled(tmp_path, b"x"))
