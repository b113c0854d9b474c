"""`variants`: which stored images lack their variants, and (`--backfill`) write them.

Images stored before variants existed, migrated from an old volume, or restored from an older
archive have none, and an image attachment copied without its variants neither. nginx answers an
avatar's variant URLs with the main file meanwhile, so nothing breaks but a list of avatars then
costs the whole images; an attachment's variant URLs are 404s until written. The backfill makes
the same copies an upload makes (uploads/variants.py) from the stored main file: it never
replaces a file, so it is safe while the service runs, and a second run (or one after an
interruption) only does what is left.
"""

import io

import click
from flask import current_app
from flask.cli import with_appcontext
from PIL import Image

from .. import naming, variants
from ..errors import UploadsError
from ..images import DECODE_ERRORS
from .attached import is_attachment
from .common import output_options, print_json, progress, storage, stored_problem


@click.command("variants")
@click.option("--backfill", is_flag=True,
              help="Write the missing variants (default: list what is missing, change nothing).")
@output_options
@with_appcontext
def variants_command(backfill, as_json, show_progress):
    """List (or with --backfill write) the variants stored images lack.

    Each main file (an avatar under i/, an image attachment under f/) gets a WebP copy for
    every box of UPLOADS_VARIANTS smaller than its longest side, as an upload would, beside
    it. Attachments of other kinds have no variants. Files that are not a servable image are
    skipped and reported. Exit 0 when nothing is missing (or all was written), 1 otherwise.
    """
    store = storage(writing=backfill)
    limits = current_app.extensions["uploads.limits"]
    present = {entry.key for entry in store.walk()}
    # Avatars (whatever their name: legacy ones too) and image attachments; an attachment of
    # another kind (a PDF, a video) has no variants, nor does a stray under f/.
    mains = sorted(key for key in present if naming.main_stem(key) is None and (
        naming.is_attachment_key(key) and naming.is_image_name(key)
        if is_attachment(key) else True))
    written, lacking, skipped, failed = 0, [], [], []
    with progress(mains, show_progress, "variants") as bar:
        for key in bar:
            try:
                data = store.read(key)
                problem = stored_problem(store, key, data, limits)
                boxes = [] if problem else variants.missing(key, data, limits.variants, present)
                if problem:
                    skipped.append((key, problem))
                elif boxes:
                    lacking.append((key, boxes))
                    if backfill:
                        written += _write(store, key, data, boxes, limits)
            except (KeyError, UploadsError) as exc:
                failed.append((key, getattr(exc, "detail", "") or "removed meanwhile"))
    ok = not failed and (backfill or not lacking)
    if as_json:
        print_json({"ok": ok, "images": len(mains), "lacking": len(lacking),
                    "written": written, "applied": backfill,
                    "missing": [{"path": k, "boxes": b} for k, b in lacking],
                    "skipped": [{"path": k, "problem": p} for k, p in skipped],
                    "failed": [{"path": k, "error": e} for k, e in failed]})
    else:
        for key, boxes in lacking:
            verb = "wrote" if backfill else "missing"
            click.echo(f"{verb} {key}: {', '.join(str(b) for b in boxes)} px")
        for key, problem in skipped:
            click.echo(f"WARN skipped {key}: {problem}")
        for key, error in failed:
            click.echo(f"ERROR {key}: {error}")
        done = (f"wrote {written} variants" if backfill
                else "dry run; --backfill writes them")
        click.echo(f"{'ok' if ok else 'FAILED'}: {len(mains)} images, {len(lacking)} lacked "
                   f"variants; {done}")
    if not ok:
        raise SystemExit(1)


def _write(store, key, data, boxes, limits) -> int:
    """Make the missing copies from the stored file; a copy someone wrote meanwhile is kept."""
    try:
        with Image.open(io.BytesIO(data)) as im:
            im.load()
            made = variants.make(im, tuple(boxes), limits.variant_quality,
                                 im.info.get("icc_profile"), im.info.get("transparency"))
    except DECODE_ERRORS as exc:
        raise UploadsError(f"cannot decode: {exc}") from exc
    return sum(store.put(naming.variant_key(key, v.box), v.data, variants.CONTENT_TYPE)
               for v in made)
