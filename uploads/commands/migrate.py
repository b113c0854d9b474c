"""`migrate`: import an old tree of avatars so that the URLs users already have keep working.

The old route saved files in `public/i/p/YYYY/MM/` inside its container, and the first fix
mounted a volume on `public/i`: a copy of either therefore starts with `p/`. A folder that
contains `i/` (a copy of `public/`, or another storage root) is accepted too. Relative paths are
kept, so `/i/p/2025/10/avatar_….jpg` stays the same URL. Files are checked (accepted format that
decodes) and copied byte for byte: their bytes are the ones users saw. Only a file whose content
is not the format its extension names is re-encoded to that format (reencode.py), as its URL
worked before and must keep working. The source is a local folder whatever the backend (with
`UPLOADS_STORAGE=s3`, a volume copied into the bucket, same keys), each object written read
back and compared by SHA-256. A run that stops halfway is resumed by running it again: what is
there already (the same bytes, or the re-encoded copy of the same source) is skipped.

A source that is a storage root may hold attachments too (`f/`): they are copied the same way,
byte for byte, each checked as `verify` checks it (the layout, the kind its name says), into a
volume or a bucket alike. Its private objects (delete links' key, owners' records) come
along (carried.py).
"""

import hashlib
import os
import stat
from dataclasses import dataclass

import click
from flask import current_app
from flask.cli import with_appcontext

from .. import naming
from ..errors import StorageUnavailable, UploadsError
from ..images import FORMATS, sniff
from ..naming import FILES_TOP, PUBLIC_TOP
from ..storage.tree import scan
from . import carried
from .attached import folder_problems, source_problem
from .common import (
    content_type,
    decode_problem,
    human,
    output_options,
    print_json,
    progress,
    storage,
)
from .reencode import CannotReencode, made_from, named_format, reencode

KINDS = ("imported", "present", "conflicts", "rejected")


@dataclass(frozen=True)
class Outcome:
    kind: str  # one of KINDS
    problem: str = ""  # why it was rejected
    size: int = 0  # bytes stored (or that a dry run would store)
    content: str = ""  # the source's format, when it was re-encoded to the name's


@click.command()
@click.option("--from", "source", required=True,
              type=click.Path(exists=True, file_okay=False, resolve_path=True),
              help="Old tree: a copy of public/i (its top holds p/) or a folder holding i/.")
@click.option("--dry-run", is_flag=True, help="Check and report, write nothing.")
@output_options
@with_appcontext
def migrate(source, dry_run, as_json, show_progress):
    """Import existing images from an old folder, keeping their paths (and URLs).

    \b
    SOURCE layouts:
      copy of public/i    SOURCE/p/2025/10/avatar_….jpg  ->  i/p/2025/10/avatar_….jpg
      folder holding i/   SOURCE/i/p/2025/10/avatar_….jpg ->  i/p/2025/10/avatar_….jpg
      (a storage root)    SOURCE/f/p/2025/10/att_…/<name> ->  f/p/2025/10/att_…/<name>

    Each file must be a JPEG, PNG or WebP that decodes fully, named .jpg, .png or .webp, of
    at most UPLOADS_MAX_BYTES; others are rejected and listed. Accepted files are copied
    byte for byte through the storage's atomic write, 0644, into the volume or, with
    UPLOADS_STORAGE=s3, the bucket; each copy is read back and checked by SHA-256. A file
    whose content is another of the three formats than its name says (a PNG named .jpg,
    which the old site served under that URL) is kept under its name, re-encoded to the
    format of its extension, and listed. A file already there with the same bytes (or the
    re-encoded copy of the same source) is skipped, so an interrupted run resumes; one with
    different bytes is a conflict and is never overwritten. Names outside the scheme are
    imported and listed as warnings. Exit 0 when every file is imported or already there
    (a rerun of a complete migration), 1 on any reject or conflict, 2 when SOURCE has
    neither p/ nor i/ or f/.

    Attachments (f/) are copied byte for byte, each checked as verify checks it.
    """
    base, prefix = _layout(source)
    attachments = [(f"{FILES_TOP}/{rel}", path, st) for rel, path, st in _files(base, FILES_TOP)
                   ] if prefix == PUBLIC_TOP else []
    store = storage(writing=not dry_run)
    limits = current_app.extensions["uploads.limits"]
    max_bytes = current_app.config["MAX_BYTES"]
    result = {**{kind: [] for kind in KINDS}, "reencoded": [], "legacy": []}
    stored = 0
    misfits = {path: problem for path, problem, error
               in folder_problems([key for key, _, _ in attachments]) if error}
    entries = attachments + [(f"{PUBLIC_TOP}/{rel}", path, st)
                             for rel, path, st in _files(base, prefix)]
    with progress(entries, show_progress, "migrate") as bar:
        for key, path, st in bar:
            if key.startswith(FILES_TOP + "/"):
                got = _attachment(path, st, key, store, limits, dry_run, misfits)
            else:
                got = _one(path, st, key, store, limits, max_bytes, dry_run)
            if got.kind == "rejected":
                result["rejected"].append({"path": key, "problem": got.problem})
                continue
            result[got.kind].append(key)
            stored += got.size if got.kind == "imported" else 0
            if got.content:
                result["reencoded"].append({"path": key, "content": got.content,
                                            "stored_as": named_format(key)})
            if key.startswith(PUBLIC_TOP + "/") and not naming.is_valid_key(key):
                result["legacy"].append(key)
    if prefix == PUBLIC_TOP:  # a storage root: its private objects too
        carried.copy_in(store, base, dry_run, result)
    ok = not result["rejected"] and not result["conflicts"]
    if as_json:
        print_json({"ok": ok, "dry_run": dry_run, "source": source, **result,
                    "counts": {k: len(v) for k, v in result.items()}})
    else:
        _report(result, ok, dry_run, stored)
    if not ok:
        raise SystemExit(1)


def _report(result: dict, ok: bool, dry_run: bool, stored: int) -> None:
    for row in result["rejected"]:
        click.echo(f"REJECT {row['path']}: {row['problem']}")
    for key in result["conflicts"]:
        click.echo(f"CONFLICT {key}: exists with different content, left alone")
    present = set(result["present"])
    for row in result["reencoded"]:
        done = ("already stored" if row["path"] in present
                else "would be stored" if dry_run else "stored")
        ext = row["path"].rpartition(".")[2]
        click.echo(f"REENCODE {row['path']}: {row['content']} content under a .{ext} name, "
                   f"{done} re-encoded as {row['stored_as']}")
    for key in result["legacy"]:
        click.echo(f"WARN {key}: name outside the scheme (imported as is)")
    verb = "would import" if dry_run else "imported"
    click.echo(f"{'ok' if ok else 'FAILED'}: {verb} {len(result['imported'])} "
               f"({human(stored)}), already present {len(result['present'])}, "
               f"re-encoded {len(result['reencoded'])}, rejected {len(result['rejected'])}, "
               f"conflicts {len(result['conflicts'])}")


def _layout(source: str) -> tuple[str, str]:
    """(base, prefix) so that images are under `base/prefix`: prefix 'i' (a storage root,
    which may also hold attachments under `base/f`) or the folder's name (a copy of public/i)."""
    if any(os.path.isdir(os.path.join(source, top)) for top in (PUBLIC_TOP, FILES_TOP)):
        return source, PUBLIC_TOP
    if os.path.isdir(os.path.join(source, "p")):
        return os.path.dirname(source), os.path.basename(source)
    raise click.UsageError(f"{source} holds neither p/ (a copy of public/i) nor i/ or f/")


def _files(base: str, prefix: str):
    """(relative path, path, lstat) of everything but folders under `base/prefix`."""
    return [e for e in scan(os.path.join(base, prefix)) if not stat.S_ISDIR(e[2].st_mode)]


def _attachment(path, st, key, store, limits, dry_run, misfits) -> Outcome:
    """An attachment copied byte for byte once it is what `verify` accepts."""
    problem, source = source_problem(path, st, key, store, limits, misfits)
    if problem:
        return Outcome("rejected", problem)
    return _place(store, key, source, source, "", dry_run)


def _one(path, st, key, store, limits, max_bytes, dry_run) -> Outcome:
    if not stat.S_ISREG(st.st_mode):
        return Outcome("rejected", "not a regular file (links are not followed)")
    if not naming.is_public_key(key):
        return Outcome("rejected", "unsafe name")
    if st.st_size > max_bytes:
        return Outcome("rejected", f"{st.st_size} bytes, over UPLOADS_MAX_BYTES ({max_bytes})")
    try:
        with open(path, "rb") as f:
            source = f.read()
    except OSError as exc:
        return Outcome("rejected", f"cannot read: {exc.strerror}")
    fmt = sniff(source[:16])
    problem = ("not a JPEG, PNG or WebP file" if fmt is None
               else decode_problem(source, fmt, limits)) or store.unservable(key)
    if problem:
        return Outcome("rejected", problem)
    target = named_format(key)
    if target is None:
        return Outcome("rejected", f"{fmt} content but the name does not end in "
                                   f".{FORMATS[fmt][0]}")
    if target == fmt:
        return _place(store, key, source, source, "", dry_run)
    try:
        data = reencode(source, fmt, target, limits)
    except CannotReencode as exc:
        return Outcome("rejected", str(exc))
    return _place(store, key, source, data, fmt, dry_run)


def _place(store, key, source, data, content, dry_run) -> Outcome:
    """Write `data` (the source, or its re-encoded copy when `content` names the source's
    format) unless the key is taken; what is there decides between present and conflict."""
    existing = _existing(store, key)
    if existing is None and not dry_run:
        try:
            written = store.put(key, data, content_type(key))
        except UploadsError as exc:
            raise click.ClickException(f"{key}: {exc.detail}; stopped") from exc
        if written:
            _verify(store, key, data)
        else:
            existing = _existing(store, key)  # another writer took the key meanwhile
    if existing is None:
        return Outcome("imported", size=len(data), content=content)
    same = made_from(existing, source, named_format(key)) if content else existing == data
    return Outcome("present", content=content) if same else Outcome("conflicts")


def _verify(store, key: str, data: bytes) -> None:
    """The stored object is what was written, checked by SHA-256 of what the store gives back."""
    stored = _existing(store, key)
    if stored is None or hashlib.sha256(stored).digest() != hashlib.sha256(data).digest():
        raise click.ClickException(f"{key}: the stored copy differs from what was written "
                                   "(checksum); stopped")


def _existing(store, key: str) -> bytes | None:
    """The stored bytes; None when nothing is there, b"" when something is in the way."""
    try:
        return store.read(key)
    except KeyError:
        return None
    except StorageUnavailable:
        return b""
