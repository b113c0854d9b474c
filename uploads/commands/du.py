"""`du`: how much the volume holds, month by month, and how much room is left.

Months come from the path (`i/p/YYYY/MM/`, `f/p/YYYY/MM/att_…/`), the UTC month of the upload;
anything elsewhere (legacy files, strays) is counted under `other`. Images (`i/`) and
attachments (`f/`) are counted apart, then together. Sizes are file sizes, not disk blocks.
"""

from collections import defaultdict

import click
from flask.cli import with_appcontext

from .. import naming
from .attached import is_attachment
from .common import human, output_options, print_json, progress, storage

OTHER = "other"


@click.command()
@output_options
@with_appcontext
def du(as_json, show_progress):
    """Files and bytes per year/month, for images (i/) and attachments (f/) apart, in total,
    and free space on the volume.

    Read-only. Exit 0, or 1 when the free space is below UPLOADS_MIN_FREE_BYTES (uploads
    are then refused with 507).
    """
    store = storage()
    trees = {tree: defaultdict(lambda: [0, 0]) for tree in ("images", "attachments")}
    with progress(list(store.walk()), show_progress, "du") as bar:
        for entry in bar:
            tree = "attachments" if is_attachment(entry.key) else "images"
            row = trees[tree][_month(entry.key)]
            row[0] += 1
            row[1] += entry.size
    space = store.space()
    free, size = space.free, space.total
    min_free = store.min_free
    sums = {tree: (sum(r[0] for r in months.values()), sum(r[1] for r in months.values()))
            for tree, months in trees.items()}
    files = sum(count for count, _ in sums.values())
    total = sum(nbytes for _, nbytes in sums.values())
    ok = free is None or free >= min_free  # None: a store with no bound
    ordered = {tree: sorted(months.items(), key=lambda kv: (kv[0] == OTHER, kv[0]))
               for tree, months in trees.items()}
    if as_json:
        def rows(tree):
            return [{"month": m, "files": f, "bytes": b} for m, (f, b) in ordered[tree]]

        print_json({"ok": ok, "months": rows("images"),
                    "images": {"files": sums["images"][0], "bytes": sums["images"][1]},
                    "attachments": {"months": rows("attachments"),
                                    "files": sums["attachments"][0],
                                    "bytes": sums["attachments"][1]},
                    "files": files, "bytes": total, "volume_bytes": size, "free_bytes": free,
                    "min_free_bytes": min_free})
    else:
        for tree in ("images", "attachments"):
            click.echo(f"{tree + ' (' + _top(tree) + '/)':<17} {'files':>9} {'bytes':>14}")
            for month, (count, nbytes) in ordered[tree]:
                click.echo(f"{month:<17} {count:>9} {nbytes:>14}  {human(nbytes)}")
            count, nbytes = sums[tree]
            click.echo(f"{tree:<17} {count:>9} {nbytes:>14}  {human(nbytes)}")
        click.echo(f"{'total':<17} {files:>9} {total:>14}  {human(total)}")
        if free is None:
            click.echo("free: no bound the storage can tell")
        else:
            click.echo(f"free: {human(free)} of {_maybe(size)} ({free} bytes"
                       + ("" if ok else f", BELOW the {human(min_free)} uploads need") + ")")
    if not ok:
        raise SystemExit(1)


def _top(tree: str) -> str:
    return naming.FILES_TOP if tree == "attachments" else naming.PUBLIC_TOP


def _maybe(size: int | None) -> str:
    return "an unknown size" if size is None else human(size)


def _month(key: str) -> str:
    parts = key.split("/")
    if (len(parts) >= 5 and parts[1] == "p" and parts[2].isdigit() and len(parts[2]) == 4
            and parts[3].isdigit() and len(parts[3]) == 2
            and (naming.is_attachment_key(key) if is_attachment(key) else len(parts) == 5)):
        return f"{parts[2]}-{parts[3]}"
    return OTHER
