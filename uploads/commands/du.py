"""`du`: how much the volume holds, month by month, and how much room is left.

Months come from the path (`i/p/YYYY/MM/`), the UTC month of the upload; anything elsewhere
under `i/` (legacy files) is counted under `other`. Sizes are file sizes, not disk blocks.
"""

from collections import defaultdict

import click
from flask.cli import with_appcontext

from .common import human, output_options, print_json, progress, storage

OTHER = "other"


@click.command()
@output_options
@with_appcontext
def du(as_json, show_progress):
    """Files and bytes per year/month and in total, and free space on the volume.

    Read-only. Exit 0, or 1 when the free space is below UPLOADS_MIN_FREE_BYTES (uploads
    are then refused with 507).
    """
    store = storage()
    months = defaultdict(lambda: [0, 0])
    with progress(list(store.walk()), show_progress, "du") as bar:
        for entry in bar:
            row = months[_month(entry.key)]
            row[0] += 1
            row[1] += entry.size
    space = store.space()
    free, size = space.free, space.total
    min_free = store.min_free
    files = sum(r[0] for r in months.values())
    total = sum(r[1] for r in months.values())
    ok = free is None or free >= min_free  # None: a store with no bound
    ordered = sorted(months.items(), key=lambda kv: (kv[0] == OTHER, kv[0]))
    if as_json:
        print_json({"ok": ok, "months": [{"month": m, "files": f, "bytes": b}
                                         for m, (f, b) in ordered],
                    "files": files, "bytes": total, "volume_bytes": size, "free_bytes": free,
                    "min_free_bytes": min_free})
    else:
        click.echo(f"{'month':<8} {'files':>9} {'bytes':>14}")
        for month, (count, nbytes) in ordered:
            click.echo(f"{month:<8} {count:>9} {nbytes:>14}  {human(nbytes)}")
        click.echo(f"{'total':<8} {files:>9} {total:>14}  {human(total)}")
        if free is None:
            click.echo("free: no bound the storage can tell")
        else:
            click.echo(f"free: {human(free)} of {_maybe(size)} ({free} bytes"
                       + ("" if ok else f", BELOW the {human(min_free)} uploads need") + ")")
    if not ok:
        raise SystemExit(1)


def _maybe(size: int | None) -> str:
    return "an unknown size" if size is None else human(size)


def _month(key: str) -> str:
    parts = key.split("/")
    if (len(parts) == 5 and parts[1] == "p" and parts[2].isdigit() and len(parts[2]) == 4
            and parts[3].isdigit() and len(parts[3]) == 2):
        return f"{parts[2]}-{parts[3]}"
    return OTHER
