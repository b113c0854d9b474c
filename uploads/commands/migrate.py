"""`migrate`: import an old tree of avatars so that the URLs users already have keep working.

The old route saved files in `public/i/p/YYYY/MM/` inside its container, and the first fix
mounted a volume on `public/i`: a copy of either therefore starts with `p/`. A folder that
contains `i/` (a copy of `public/`, or another storage root) is accepted too. Relative paths are
kept, so `/i/p/2025/10/avatar_….jpg` stays the same URL. Files are checked (accepted format that
decodes, extension that matches) but never re-encoded: their bytes are the ones users saw. The
source is a local folder whatever the backend (so `UPLOADS_STORAGE=s3` copies a volume into the
bucket, same keys); the storage is written only through its interface, and every file written is
read back and compared by SHA-256. A run that stops halfway is resumed by running it again: what
is already there with the same bytes is skipped.
"""

import hashlib
import os
import stat

import click
from flask import current_app
from flask.cli import with_appcontext

from .. import naming
from ..errors import StorageUnavailable, UploadsError
from ..naming import PUBLIC_TOP
from ..storage.tree import scan
from .common import (
    content_type,
    human,
    output_options,
    print_json,
    progress,
    storage,
    stored_problem,
)


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

    Each file must be a JPEG, PNG or WebP that decodes fully, with the matching extension and
    at most UPLOADS_MAX_BYTES; others are rejected and listed. Accepted files are copied
    byte for byte (no re-encoding) through the storage's atomic write, 0644, into the volume
    or, with UPLOADS_STORAGE=s3, the bucket; each copy is read back and checked by SHA-256.
    A file already there with the same bytes is skipped (an interrupted run resumes), one
    with different bytes is a conflict and is never overwritten, so running it again is safe.
    Names outside the scheme are imported and listed as warnings. Exit 0 when every file is
    imported or already there, 1 on any reject or conflict, 2 when SOURCE has neither p/ nor i/.
    """
    base, prefix = _layout(source)
    store = storage(writing=not dry_run)
    limits = current_app.extensions["uploads.limits"]
    max_bytes = current_app.config["MAX_BYTES"]
    result = {"imported": [], "present": [], "conflicts": [], "rejected": [], "legacy": []}
    entries = [e for e in scan(os.path.join(base, prefix)) if not stat.S_ISDIR(e[2].st_mode)]
    with progress(entries, show_progress, "migrate") as bar:
        for rel, path, st in bar:
            key = f"{PUBLIC_TOP}/{rel}"
            outcome, why = _one(path, st, key, store, limits, max_bytes, dry_run)
            if outcome == "rejected":
                result["rejected"].append({"path": key, "problem": why})
                continue
            result[outcome].append(key)
            if not naming.is_valid_key(key):
                result["legacy"].append(key)
    ok = not result["rejected"] and not result["conflicts"]
    if as_json:
        print_json({"ok": ok, "dry_run": dry_run, "source": source,
                    **{k: v for k, v in result.items()},
                    "counts": {k: len(v) for k, v in result.items()}})
    else:
        for row in result["rejected"]:
            click.echo(f"REJECT {row['path']}: {row['problem']}")
        for key in result["conflicts"]:
            click.echo(f"CONFLICT {key}: exists with different content, left alone")
        for key in result["legacy"]:
            click.echo(f"WARN {key}: name outside the scheme (imported as is)")
        imported = sum(os.path.getsize(os.path.join(base, prefix, k[len(PUBLIC_TOP) + 1:]))
                       for k in result["imported"])
        verb = "would import" if dry_run else "imported"
        click.echo(f"{'ok' if ok else 'FAILED'}: {verb} {len(result['imported'])} "
                   f"({human(imported)}), already present {len(result['present'])}, "
                   f"rejected {len(result['rejected'])}, conflicts {len(result['conflicts'])}")
    if not ok:
        raise SystemExit(1)


def _layout(source: str) -> tuple[str, str]:
    """(base, prefix) so that files are under `base/prefix`: prefix 'i' or the folder's name."""
    if os.path.isdir(os.path.join(source, PUBLIC_TOP)):
        return source, PUBLIC_TOP
    if os.path.isdir(os.path.join(source, "p")):
        return os.path.dirname(source), os.path.basename(source)
    raise click.UsageError(f"{source} holds neither p/ (a copy of public/i) nor i/")


def _one(path, st, key, store, limits, max_bytes, dry_run) -> tuple[str, str]:
    if not stat.S_ISREG(st.st_mode):
        return "rejected", "not a regular file (links are not followed)"
    if not naming.is_public_key(key):
        return "rejected", "unsafe name"
    if st.st_size > max_bytes:
        return "rejected", f"{st.st_size} bytes, over UPLOADS_MAX_BYTES"
    try:
        with open(path, "rb") as f:
            data = f.read()
    except OSError as exc:
        return "rejected", f"cannot read: {exc.strerror}"
    problem = stored_problem(store, key, data, limits)
    if problem:
        return "rejected", problem
    existing = _existing(store, key)
    if existing is not None:
        return ("present", "") if existing == data else ("conflicts", "")
    if dry_run:
        return "imported", ""
    try:
        written = store.put(key, data, content_type(key))
    except UploadsError as exc:
        raise click.ClickException(f"{key}: {exc.detail}; stopped") from exc
    if written:
        _verify(store, key, data)
        return "imported", ""
    return ("present", "") if _existing(store, key) == data else ("conflicts", "")


def _verify(store, key: str, data: bytes) -> None:
    """The stored object is the file, checked by SHA-256 of what the store gives back."""
    stored = _existing(store, key)
    if stored is None or hashlib.sha256(stored).digest() != hashlib.sha256(data).digest():
        raise click.ClickException(f"{key}: the stored copy differs from the source "
                                   "(checksum); stopped")


def _existing(store, key: str) -> bytes | None:
    """The stored bytes; None when nothing is there, b"" when something is in the way."""
    try:
        return store.read(key)
    except KeyError:
        return None
    except StorageUnavailable:
        return b""
