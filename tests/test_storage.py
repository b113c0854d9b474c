"""The local volume: atomic, never-replacing writes, modes, leftovers, persistence check."""

import os
import subprocess
import sys

import pytest

from uploads.errors import StorageFull
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
