"""`purge --subject SUB`: remove everything one JWT subject uploaded (an erasure request).

The owners' records (uploads/owners.py) are keyed by a hash of the subject, so this lists one
prefix of the store, never the whole of it. A dry run by default; `--apply` removes each
upload as a DELETE on its link would (its files, variants first, then its record), so a purge
cut short is finished by running it again. A record whose files are already gone (deleted by
its link, or by gc) is said and removed with --apply.
"""

import json

import click
from flask import current_app
from flask.cli import with_appcontext

from .. import owners
from ..deletion import remove_unit, unit_keys
from ..errors import StorageUnavailable
from .common import human, output_options, print_json, progress, storage


@click.command()
@click.option("--subject", required=True,
              help="The `sub` claim of the JWTs whose uploads go (exactly as in the token).")
@click.option("--apply", "apply_", is_flag=True,
              help="Really delete (default: dry run, list only).")
@output_options
@with_appcontext
def purge(subject, apply_, as_json, show_progress):
    """List (or with --apply delete) every upload made with a JWT whose `sub` is SUBJECT:
    avatars with their variants, attachments with their folders, and the records of them.

    Only uploads made with UPLOADS_AUTH=jwt are recorded; an anonymous upload has no owner
    and is never listed. Exit 0 when everything listed is gone (or, in a dry run, could be
    listed), 1 when a file could not be read or removed.
    """
    if not subject.strip():
        raise click.BadParameter("an empty subject names nobody", param_hint="--subject")
    store = storage(writing=apply_)
    boxes = current_app.config["VARIANTS"]
    owner = owners.owner_id(subject)
    rows, failed = [], []
    with progress(owners.records(store, subject), show_progress, "purge") as bar:
        for name in bar:
            unit = owners.unit_of_record(name)
            try:
                if not _is_theirs(store, name, subject):
                    continue  # another subject's hash prefix: never theirs to remove
                present = [e for e in map(store.stat, unit_keys(store, unit, boxes)) if e]
                size = sum(entry.size for entry in present)
                if apply_:
                    remove_unit(store, unit, boxes, owner)
            except StorageUnavailable as exc:
                failed.append((unit, exc.detail))
                continue
            rows.append({"unit": unit, "files": len(present), "bytes": size})
    _report(subject, rows, failed, apply_, as_json)
    if failed:
        raise SystemExit(1)


def _is_theirs(store, name: str, subject: str) -> bool:
    """The record names this subject (a record unreadable as JSON still counts: its name was
    made from the subject's hash)."""
    body = store.read_private(name)
    if body is None:
        return False
    try:
        return json.loads(body).get("sub", subject) == subject
    except (ValueError, AttributeError):
        return True


def _report(subject, rows, failed, apply_, as_json) -> None:
    files = sum(r["files"] for r in rows)
    total = sum(r["bytes"] for r in rows)
    if as_json:
        print_json({"ok": not failed, "applied": apply_, "uploads": len(rows), "files": files,
                    "bytes": total, "removed" if apply_ else "would_remove": rows,
                    "errors": [{"unit": u, "problem": p} for u, p in failed]})
        return
    verb = "removed" if apply_ else "would remove"
    for row in rows:
        gone = "" if row["files"] else " (files already gone; the record only)"
        click.echo(f"{verb.upper()} {row['unit']}: {row['files']} files, "
                   f"{human(row['bytes'])}{gone}")
    for unit, problem in failed:
        click.echo(f"ERROR {unit}: {problem}")
    hint = "" if apply_ else "; run again with --apply to delete"
    click.echo(f"{'ok' if not failed else 'FAILED'}: subject {subject!r}: {verb} {len(rows)} "
               f"uploads, {files} files, {human(total)}{hint}")
