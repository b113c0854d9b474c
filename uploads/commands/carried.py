"""The store's private objects in the operator commands: the delete links' key and the owners'
records (storage/private.py) are no uploads, so `walk` never lists them and `gc` never
condemns them, but a copy of the store must carry them, or the delete links and `purge` stop
working on the copy: `backup` archives them (mode 0600), `restore` and `migrate` put them
back never-replacing, and `verify` warns of a record whose upload is gone.
"""

import hashlib
import io
import os
import stat
import tarfile
import time

import click

from .. import naming
from ..owners import records, unit_of_record
from ..storage.private import RECORDS, SECRET_NAME, check_private
from ..storage.tree import scan

MODE = 0o600


def names(store) -> list[str]:
    """Every private object the store holds: its delete links' key, then the records."""
    found = [SECRET_NAME] if store.read_private(SECRET_NAME) is not None else []
    return found + records(store)


def archive(tar: tarfile.TarFile, store, name: str) -> dict | None:
    """Add one to a backup (0600, as stored); its manifest row, None if it went meanwhile."""
    data = store.read_private(name)
    if data is None:
        return None
    info = tarfile.TarInfo(name)
    info.size, info.mode, info.mtime = len(data), MODE, time.time()
    tar.addfile(info, io.BytesIO(data))
    return {"path": name, "size": len(data), "sha256": hashlib.sha256(data).hexdigest(),
            "mode": f"{MODE:04o}"}


def is_private(name: str) -> bool:
    try:
        check_private(name)
    except ValueError:
        return False
    return True


KEPT = ("WARN .uploads-delete-secret: the store keeps its own delete links' key, which "
        "running apps have read; delete links made with the copy's key stop working unless "
        "UPLOADS_DELETE_SECRET is set to the copy's key")


def state(store, name: str, sha: str) -> str:
    """'new', 'same' or 'conflict', as restore judges a file; 'kept' for another delete
    links' key than the store's own: never replaced (apps hold it in memory)."""
    data = store.read_private(name)
    if data is None:
        return "new"
    if hashlib.sha256(data).hexdigest() == sha:
        return "same"
    return "kept" if name == SECRET_NAME else "conflict"


def put(store, name: str, data: bytes, replace: bool = False) -> bool:
    """Write it never-replacing; with `replace` (restore --overwrite) the old one goes first
    (a private object has no atomic replace: for a moment it is missing)."""
    if replace:
        store.delete_private(name)
    return store.put_private(name, data)


def in_folder(base: str) -> list[tuple[str, str]]:
    """(name, path) of the private objects in a storage root's copy (migrate's source)."""
    found = []
    secret = os.path.join(base, SECRET_NAME)
    if os.path.isfile(secret) and not os.path.islink(secret):
        found.append((SECRET_NAME, secret))
    for rel, path, st in scan(os.path.join(base, RECORDS)):
        name = f"{RECORDS}/{rel}"
        if stat.S_ISREG(st.st_mode) and is_private(name):
            found.append((name, path))
    return found


def copy_in(store, base: str, dry_run: bool, result: dict) -> None:
    """Migrate's step for them: each new one written, a same one present, another a conflict."""
    for name, path in in_folder(base):
        with open(path, "rb") as f:
            data = f.read()
        existing = store.read_private(name)
        if existing is None:
            if dry_run or store.put_private(name, data):
                result["imported"].append(name)
                continue
            existing = store.read_private(name)
        if existing != data and name == SECRET_NAME:
            click.echo(KEPT, err=True)
            continue
        result["present" if existing == data else "conflicts"].append(name)


def orphans(store) -> list[tuple[str, str]]:
    """(record, why) for each record whose upload has no file left (deleted outside its link:
    gc, or a crash between the record and the files): purge removes it."""
    found = []
    for name in records(store):
        unit = unit_of_record(name)
        if unit.startswith(naming.FILES_TOP + "/"):
            try:
                gone = next(iter(store.walk(unit)), None) is None
            except ValueError:  # a store that holds no attachments
                gone = True
        else:
            gone = store.stat(unit) is None
        if gone:
            found.append((name, "owner's record of an upload whose files are gone "
                                "(`purge --subject` of its owner removes it)"))
    return found
