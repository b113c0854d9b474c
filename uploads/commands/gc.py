"""`gc`: remove stored files nothing refers to any more, after a grace period.

The grace period covers the window between an upload and the moment its URL reaches the
database (the client uploads, then saves the URL in the profile): a file younger than that is
never a candidate, whatever the list says. Age is the modification time the storage lists
(restore keeps the archived time where the backend can; migrate gives the time of the import,
which only delays).
"""

import time

import click
from flask.cli import with_appcontext

from ..errors import UploadsError
from .attached import unit
from .common import (
    human,
    output_options,
    parse_duration,
    print_json,
    progress,
    read_refs,
    storage,
)
from .guards import over_share, percent, share_options, share_text


@click.command()
@click.option("--referenced", required=True, type=click.File("r"),
              help="File of every URL or path still in use, one a line (e.g. exported from "
                   "the database). Full URLs, /i/p/..., i/p/... and attachment URLs "
                   "(/f/p/...) are all understood.")
@click.option("--older-than", "older_than", default="7d", show_default=True,
              help="Grace period: only files older than this (s, m, h, d, w) are candidates.")
@click.option("--apply", "apply_", is_flag=True,
              help="Really delete the candidates (default: dry run, list only).")
@share_options
@output_options
@with_appcontext
def gc(referenced, older_than, apply_, max_share, force, as_json, show_progress):
    """List (or with --apply delete) stored files that are not referenced.

    A dry run by default: it lists each candidate with its size and the bytes it would free,
    and changes nothing. A list with no usable line is refused (an empty export would
    otherwise condemn every file), and so is --apply, unless --force, when the candidates are
    more than --max-share of the files old enough to be candidates (default 50%: a truncated
    export looks like that) or when a line of the list cannot be read. Only regular files
    under i/ and f/ are ever removed. A main file and its variants count as one, and so does
    an attachment's folder (its file and, for an image, its variants): the list may name any
    of them. Exit 0 when the run did what was asked, 1 when a deletion
    failed or --apply was refused, 2 on a bad list or duration.
    """
    grace = parse_duration(older_than)
    keys, bad = read_refs(referenced)
    if not keys:
        raise click.UsageError(f"{referenced.name} names no file under /i/ or /f/; refusing "
                               "to treat every file as unreferenced")
    store = storage(writing=apply_)
    # A main file and its variants are one (for an attachment: its folder, `att_<id>/`): kept
    # if the list names any of them (a client may have stored a variant's URL), removed
    # together otherwise (a variant whose main file is gone, left by an interrupted upload, is
    # unreferenced), and as young as the newest of them.
    units = {unit(key) for key in keys}
    cutoff = time.time() - grace
    entries = list(store.walk())
    newest = {}
    for entry in entries:
        newest[unit(entry.key)] = max(newest.get(unit(entry.key), 0.0), entry.mtime)
    candidates, kept_young, seen, old_enough = [], 0, set(), 0
    with progress(entries, show_progress, "gc") as bar:
        for entry in bar:
            seen.add(entry.key)
            young = newest[unit(entry.key)] > cutoff
            old_enough += not young
            if entry.key in keys or unit(entry.key) in units:
                continue
            if young:
                kept_young += 1
                continue
            candidates.append((entry.key, entry.size))
    # The share is of the files old enough to be candidates: the young ones can never be
    # deleted, and counting them would let a truncated list take every old file.
    files = old_enough
    over = over_share(len(candidates), files, max_share)
    refused = apply_ and (over or bad) and not force
    removed, failed = [], []
    if apply_ and not refused:
        for key, size in candidates:
            try:
                if store.delete(key):
                    removed.append((key, size))
            except UploadsError as exc:
                failed.append((key, exc.detail))
    freed = sum(size for _, size in (removed if apply_ else candidates))
    missing = len(keys - seen)
    ok = not failed and not refused
    share = share_text(len(candidates), files)
    beyond = f"{share}, over --max-share {max_share:g}%"
    refusal = None
    if refused and over:
        refusal = (f"would delete {beyond}; nothing deleted. Check the --referenced list (a "
                   "truncated export?), or pass --force to delete them anyway")
    elif refused:
        refusal = (f"{len(bad)} line(s) of the --referenced list name no file under /i/ or "
                   "/f/ (listed above): a file they meant could be deleted; nothing deleted. "
                   "Fix the list, or pass --force to apply anyway")
    if as_json:
        print_json({"ok": ok, "applied": apply_ and not refused, "refused": refusal,
                    "candidates": [{"path": k, "bytes": s} for k, s in candidates],
                    "bytes": freed, "removed": len(removed),
                    "failed": [{"path": k, "error": e} for k, e in failed], "files": files,
                    "share": percent(len(candidates), files), "max_share": max_share,
                    "over_max_share": over, "referenced": len(keys),
                    "referenced_missing": missing, "young_kept": kept_young,
                    "unreadable_lines": bad})
    else:
        _report(bad, candidates, failed, apply_, refusal)
        if over and not apply_:
            click.echo(f"WARN would remove {beyond}: --apply refuses that without --force")
        if not refused:
            verb = "freed" if apply_ else "would free (dry run; --apply deletes)"
            click.echo(f"{'ok' if ok else 'FAILED'}: {share} unreferenced and "
                       f"older than {older_than}, {verb} {human(freed)} ({freed} bytes); "
                       f"{kept_young} newer kept; {missing} referenced files missing")
    if not ok:
        raise SystemExit(1)


def _report(bad, candidates, failed, apply_, refusal) -> None:
    for line in bad:
        click.echo(f"WARN not a URL or path under /i/ or /f/: {line}")
    if refusal:
        click.echo(f"REFUSED: {refusal}")
        return
    for key, size in candidates:
        click.echo(f"{'removed' if apply_ else 'would remove'} {key} {size}")
    for key, error in failed:
        click.echo(f"ERROR {key}: {error}")
