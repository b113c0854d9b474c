"""The local volume: atomic, never-replacing writes, modes, leftovers, persistence check, and
the rest of the storage interface the commands use (read, stat, walk, delete, audit, ...)."""

import os
import subprocess
import sys

import pytest

from uploads.errors import StorageFull, StorageUnavailable
from uploads.settings import ConfigError
from uploads.storage.local import LocalStorage

KEY = "i/p/2026/11/avatar_1795000000000_abcdef.jpg"


@pytest.fixture
def store(tmp_path):
    return LocalStorage(str(tmp_path))


def test_put_writes_whole_files_with_readable_modes(store, tmp_path):
    old = os.umask(0o077)  # a strict umask must not make files unreadable for nginx
    try:
        assert store.put(KEY, b"abc" * 1000)
    finally:
        os.umask(old)
    path = tmp_path / KEY
    assert path.read_bytes() == b"abc" * 1000
    assert path.stat().st_mode & 0o777 == 0o644
    for folder in ("i", "i/p", "i/p/2026", "i/p/2026/11"):
        assert (tmp_path / folder).stat().st_mode & 0o777 == 0o755
    assert os.listdir(tmp_path / ".tmp") == []  # the temp file is gone


def test_put_never_replaces_an_existing_file(store, tmp_path):
    assert store.put(KEY, b"first")
    assert store.put(KEY, b"second") is False
    assert (tmp_path / KEY).read_bytes() == b"first"
    assert os.listdir(tmp_path / ".tmp") == []


def test_put_new_draws_another_name_on_a_clash(store, monkeypatch):
    keys = iter([KEY, KEY, KEY.replace("abcdef", "zzzzzz")])
    monkeypatch.setattr("uploads.naming.new_key", lambda ext: next(keys))
    assert store.put_new("jpg", b"one", "image/jpeg") == KEY
    assert store.put_new("jpg", b"two", "image/jpeg") == KEY.replace("abcdef", "zzzzzz")


@pytest.mark.parametrize("key", ["../etc/passwd", "i/../../x", "/i/p/x.jpg", "i//x", "p/x.jpg",
                                 "i/p/\0.jpg", "i/./x"])
def test_keys_cannot_leave_the_tree(store, key):
    with pytest.raises(ValueError):
        store.put(key, b"x")


def test_min_free_guard_refuses_before_writing(tmp_path):
    store = LocalStorage(str(tmp_path), min_free=1 << 60)
    with pytest.raises(StorageFull):
        store.put(KEY, b"x")
    assert not (tmp_path / "i").exists()


def test_leftovers_of_dead_writers_are_removed(store, tmp_path):
    tmp = tmp_path / ".tmp"
    tmp.mkdir()
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"],
                          capture_output=True, text=True, check=True).stdout.strip()
    (tmp / f"up-{dead}-abc").write_bytes(b"half a file")
    (tmp / f"up-{os.getpid()}-live").write_bytes(b"being written")
    (tmp / "garbage").write_bytes(b"?")
    assert store.remove_leftovers() == 2
    assert os.listdir(tmp) == [f"up-{os.getpid()}-live"]


def test_stale_leftovers_go_even_if_the_pid_was_reused(store, tmp_path):
    tmp = tmp_path / ".tmp"
    tmp.mkdir()
    stale = tmp / f"up-{os.getpid()}-old"
    stale.write_bytes(b"x")
    os.utime(stale, (0, 0))
    assert store.remove_leftovers() == 1


def test_persistence_check(tmp_path):
    LocalStorage(str(tmp_path)).ensure_persistent(allow_ephemeral=True)
    with pytest.raises(ConfigError, match="not a mount point"):
        LocalStorage(str(tmp_path)).ensure_persistent(allow_ephemeral=False)


@pytest.mark.skipif(os.geteuid() == 0, reason="root writes anywhere: see tests/server")
def test_a_read_only_root_is_refused(tmp_path):
    tmp_path.chmod(0o555)
    try:
        with pytest.raises(ConfigError, match="not writable"):
            LocalStorage(str(tmp_path)).ensure_persistent(allow_ephemeral=True)
    finally:
        tmp_path.chmod(0o755)


def test_replace_swaps_the_bytes_and_keeps_mode_and_time(store, tmp_path):
    assert store.put(KEY, b"old")
    assert store.put(KEY, b"new", replace=True, mode=0o640, mtime=1_700_000_000)
    st = (tmp_path / KEY).stat()
    assert (tmp_path / KEY).read_bytes() == b"new"
    assert (st.st_mode & 0o777, st.st_mtime) == (0o640, 1_700_000_000)
    assert os.listdir(tmp_path / ".tmp") == []


def test_read_stat_delete(store, tmp_path):
    assert store.stat(KEY) is None
    with pytest.raises(KeyError):
        store.read(KEY)
    assert store.delete(KEY) is False
    store.put(KEY, b"abc", mtime=1_000)
    entry = store.stat(KEY)
    assert (entry.key, entry.size, entry.mtime, entry.mode) == (KEY, 3, 1_000, 0o644)
    assert store.read(KEY) == b"abc"
    assert store.delete(KEY) is True
    assert not (tmp_path / KEY).exists()


def test_links_are_no_objects_and_never_read_through(store, tmp_path):
    store.put(KEY, b"abc")
    link = KEY.replace("abcdef", "linked")
    os.symlink("/etc/hostname", tmp_path / link)
    assert store.stat(link) is None
    with pytest.raises(StorageUnavailable):
        store.read(link)
    assert [e.key for e in store.walk()] == [KEY]
    assert store.put(link, b"x") is False, "something is in the way: not replaced"


def test_walk_lists_in_key_order(store):
    keys = ["i/p/2025/10/b.jpg", "i/p/2025-x.jpg", "i/p/2025/1/a.jpg", "i/a.png", "i/p/z.webp"]
    for key in keys:
        store.put(key, b"x")
    assert [e.key for e in store.walk()] == sorted(keys)
    assert [e.key for e in store.walk("i/p/2025/")] == ["i/p/2025/1/a.jpg", "i/p/2025/10/b.jpg"]


def test_audit_reports_modes_and_strays(store, tmp_path):
    store.put(KEY, b"abc", mode=0o600)
    tmp_path.chmod(0o755)  # pytest makes it 0700: nginx could not enter the root
    (tmp_path / "i" / "p").chmod(0o775)
    os.mkfifo(tmp_path / "i" / "fifo")
    found = {f.key: f for f in store.audit()}
    assert set(found) == {KEY, "i/p", "i/fifo"}
    assert found[KEY].error and "cannot read" in found[KEY].problem
    assert not found["i/p"].error and "usually 0755" in found["i/p"].problem
    assert found["i/fifo"].stray and not found[KEY].stray


@pytest.mark.parametrize("key, why", [
    ("i/p/2025/10/.avatar.jpg", "hidden"), ("i/.p/avatar.jpg", "hidden"),
    ("i/p/avatar.JPG", "lower-case .jpg"), ("i/p/avatar.gif", "only .jpg, .png and .webp"),
    (KEY, None),
])
def test_unservable_names_follow_nginx(store, key, why):
    problem = store.unservable(key)
    assert problem is None if why is None else why in problem


def test_leftovers_are_named_from_the_root_and_scratch_cleans_up(store, tmp_path):
    (tmp_path / ".tmp").mkdir()
    (tmp_path / ".tmp" / "up-999999999-x").write_bytes(b"x")
    assert store.leftovers() == [".tmp/up-999999999-x"]
    with store.scratch() as f:
        f.write(b"spooled")
        f.seek(0)
        assert f.read() == b"spooled"
        assert len(os.listdir(tmp_path / ".tmp")) == 2
    assert os.listdir(tmp_path / ".tmp") == ["up-999999999-x"]


def test_space_and_exposes(store, tmp_path):
    space = store.space()
    assert 0 < space.free <= space.total == store.space().total
    assert store.exposes(str(tmp_path / "i" / "backup.tar"))
    assert not store.exposes(str(tmp_path / "backup.tar"))
