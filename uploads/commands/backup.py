"""`backup`: one tar archive of `f/` and `i/` (attachments and images) whose last member is a
manifest of every file in it.

Uploads go on during a backup: stored files are immutable (never rewritten, only added, or
removed by gc, a delete link or purge), so the list is taken once and each file read once, its
size and SHA-256 taken from the very bytes written into the archive. A file removed after the
listing is skipped (and said); the manifest therefore describes exactly the archive's members,
never the volume at some other instant. Everything comes through the storage interface: any
backend backs up alike.
"""

import contextlib
import hashlib
import io
import json
import os
import sys
import tarfile
import time
from datetime import UTC, datetime

import click
from flask.cli import with_appcontext

from ..errors import UploadsError
from . import carried
from .common import human, output_options, progress, storage
from .guards import allow_empty_option, refuse_empty

MANIFEST = "MANIFEST.json"
FORMAT = "uploads-backup/1"


@click.command()
@click.option("--output", "-o", required=True, type=click.Path(dir_okay=False, allow_dash=True),
              help="Archive to write; '-' streams it to stdout (the report then goes to "
                   "stderr). Never replaces an existing file.")
@click.option("--gzip/--no-gzip", "use_gzip", default=None,
              help="Compress with gzip (default: when the name ends in .gz or .tgz). Stored "
                   "images are already compressed, so it gains little.")
@allow_empty_option
@output_options
@with_appcontext
def backup(output, use_gzip, allow_empty, as_json, show_progress):
    """Write one tar archive of every file under f/ and i/, with a checksum manifest.

    Members are the files' paths relative to the storage root (attachments f/p/YYYY/MM/...,
    then images i/p/YYYY/MM/...), with their modes and times; the last member, MANIFEST.json,
    lists path, size, sha256 and mode of each one. Safe while uploads continue. Read-only on
    the volume. A store with no file under i/ or f/ is refused (exit 1, no archive) unless
    --allow-empty: a wrong volume looks like that. Exit
    0 when the archive is complete, 1 on any failure (a partial archive is removed).
    """
    store = storage()
    report = click.echo if output != "-" else lambda text: click.echo(text, err=True)
    if use_gzip is None:
        use_gzip = output.endswith((".gz", ".tgz"))
    if output != "-" and store.exposes(output):
        raise click.BadParameter("the archive would be published under i/ or f/",
                                 param_hint="--output")
    if output != "-" and os.path.lexists(output):
        raise click.BadParameter(f"{output} exists; choose a new name", param_hint="--output")

    files = list(store.walk())
    refuse_empty([f.key for f in files], allow_empty, as_json, "back up", err=output == "-")
    skipped = [found.key for found in store.audit() if found.stray]
    manifest, vanished, private = [], [], []
    partial = None if output == "-" else f"{output}.partial-{os.getpid()}"
    try:
        with contextlib.ExitStack() as stack:
            out = sys.stdout.buffer if partial is None else stack.enter_context(
                open(partial, "xb"))
            with tarfile.open(fileobj=out, mode="w|gz" if use_gzip else "w|",
                              format=tarfile.PAX_FORMAT) as tar, \
                    progress(files, show_progress, "backup") as bar:
                for entry in bar:
                    row = _add(tar, store, entry)
                    (manifest if row else vanished).append(row or entry.key)
                # The delete links' key and the owners' records (carried.py): no uploads,
                # but the copy needs them for its delete links and purge.
                private = [row for name in carried.names(store)
                           if (row := carried.archive(tar, store, name))]
                _add_manifest(tar, manifest + private)
            out.flush()
            if partial:
                os.fsync(out.fileno())
        if partial:
            os.link(partial, output)  # never replaces: fails if the name appeared meanwhile
    except (OSError, tarfile.TarError, UploadsError) as exc:
        report(f"FAILED: {exc}")
        raise SystemExit(1) from exc
    finally:
        if partial:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(partial)

    total = sum(row["size"] for row in manifest)
    if as_json:
        report(json.dumps({"ok": True, "output": output, "files": len(manifest), "bytes": total,
                           "gzip": use_gzip, "vanished": vanished, "skipped": skipped,
                           "private": [row["path"] for row in private]},
                          indent=2))
        return
    for key in vanished:
        report(f"WARN {key}: removed during the backup, not archived")
    for key in skipped:
        report(f"WARN {key}: not a regular file, not archived")
    report(f"ok: {len(manifest)} files, {human(total)} archived to {output}"
           + (f" (and {len(private)} private objects: the delete links' key, owners' records)"
              if private else ""))


def _add(tar: tarfile.TarFile, store, entry) -> dict | None:
    try:
        data = store.read(entry.key)
    except KeyError:
        return None  # removed since the listing
    info = tarfile.TarInfo(entry.key)
    info.size, info.mode, info.mtime = len(data), entry.mode, entry.mtime
    tar.addfile(info, io.BytesIO(data))
    return {"path": entry.key, "size": len(data), "sha256": hashlib.sha256(data).hexdigest(),
            "mode": f"{info.mode:04o}"}


def _add_manifest(tar: tarfile.TarFile, rows: list[dict]) -> None:
    created = datetime.now(tz=UTC).isoformat(timespec="seconds")
    body = json.dumps({"format": FORMAT, "created": created, "count": len(rows),
                       "files": rows}, indent=1).encode()
    info = tarfile.TarInfo(MANIFEST)
    info.size, info.mode, info.mtime = len(body), 0o644, time.time()
    tar.addfile(info, io.BytesIO(body))

