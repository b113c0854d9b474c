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
from ..deletion import remove_unit, served_from, unit_keys
from ..errors import StorageUnavailable
from .common import human, output_options, print_json, progress, storage


@click.command()
@click.option("--subject", default=None,
              help="The `sub` claim of the JWTs whose uploads go (exactly as in the token).")
@click.option("--owner", default=None,
              help="Instead of --subject: the owner's 32 hex digits (the end of a delete link, "
                   "or the `owner` of an app log line), for a subject no command line can carry "
                   "(blank, or holding a NUL).")
@click.option("--apply", "apply_", is_flag=True,
              help="Really delete (default: dry run, list only).")
@output_options
@with_appcontext
def purge(subject, owner, apply_, as_json, show_progress):
    """List (or with --apply delete) every upload made with a JWT whose `sub` is SUBJECT:
    avatars with their variants, attachments with their folders, and the records of them.

    Only uploads made with UPLOADS_AUTH=jwt are recorded; an anonymous upload has no owner
    and is never listed. Exit 0 when everything listed is gone (or, in a dry run, could be
    listed), 1 when a file could not be read or removed.
    """
    if (subject is None) == (owner is None):
        raise click.UsageError("name whose uploads go: --subject SUB, or --owner HEX")
    if owner is not None and not owners.OWNER_RE.fullmatch(owner):
        raise click.BadParameter(f"{owners.OWNER_LEN} hex digits, as in a delete link",
                                 param_hint="--owner")
    if subject is not None and not subject.strip():
        raise click.BadParameter("a blank subject: name its owner with --owner instead",
                                 param_hint="--subject")
    store = storage(writing=apply_)
    boxes = current_app.config["VARIANTS"]
    owner = owner or owners.owner_id(subject)
    also = served_from(store, current_app.config)  # S3 mode: the volume nginx falls back to
    rows, failed = [], []
    with progress(owners.records(store, owner=owner), show_progress, "purge") as bar:
        for name in bar:
            unit = owners.unit_of_record(name)
            try:
                if subject is not None and not _is_theirs(store, name, subject):
                    continue  # another subject's hash prefix: never theirs to remove
                present = [e for each in (*also, store)
                           for e in map(each.stat, unit_keys(each, unit, boxes)) if e]
                size = sum(entry.size for entry in present)
                if apply_:
                    remove_unit(store, unit, boxes, owner, also, again=True)
            except StorageUnavailable as exc:
                failed.append((unit, exc.detail))
                continue
            rows.append({"unit": unit, "files": len(present), "bytes": size})
    who = f"subject {subject!r}" if subject is not None else f"owner {owner}"
    _report(who, rows, failed, apply_, as_json)
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


def _report(who, rows, failed, apply_, as_json) -> None:
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
    click.echo(f"{'ok' if not failed else 'FAILED'}: {who}: {verb} {len(rows)} "
               f"uploads, {files} files, {human(total)}{hint}")
