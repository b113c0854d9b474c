"""`verify`: is the volume what nginx needs to serve every stored image and attachment?

Legacy names are warnings, not errors: migrated files keep the names their URLs already carry,
and refusing them would push operators to rename files and break those URLs. What depends on the
backend (modes, links, names the static server hides, temp files) is the storage's own answer
(`audit`, `unservable`, `leftovers`); the content checks are the same on every backend.
"""

from collections import Counter

import click
from flask import current_app
from flask.cli import with_appcontext

from .. import naming, variants
from ..errors import StorageUnavailable
from . import carried
from .attached import content_problem, folder_problems, is_attachment, is_image_main
from .common import (
    human,
    output_options,
    print_json,
    progress,
    read_refs,
    storage,
    stored_problem,
)
from .guards import allow_empty_option, refuse_empty


@click.command()
@click.option("--urls", type=click.File("r"),
              help="File of referenced URLs or paths, one a line (e.g. exported from the "
                   "database); every one whose file is missing is an error.")
@click.option("--strict", is_flag=True, help="Treat warnings as errors (exit 1).")
@allow_empty_option
@output_options
@with_appcontext
def verify(urls, strict, allow_empty, as_json, show_progress):
    """Check every stored file, images (i/) and attachments (f/): it decodes or is the kind
    its name says, nginx can read it, no leftovers.

    Errors (exit 1): a file under i/ that is not a JPEG, PNG or WebP that decodes fully, or
    whose extension does not match its content; an attachment that is not the kind its
    extension names (an image one: that does not decode), a file under f/ outside the layout
    f/p/YYYY/MM/att_<id>/<name>, an attachment folder holding anything but its one file and,
    for an image, its variants; a file or folder the static server (another user) cannot
    read, or that everyone may write; a symbolic link or special file under i/ or f/; a temp
    file in .tmp/ whose writer is gone; with --urls, every referenced file that is missing
    (the 404s users would see).

    Warnings (exit 0 unless --strict): names outside the scheme
    i/p/YYYY/MM/avatar_<ms>_<6 chars>.<ext> (legacy files, kept so their URLs work) and modes
    that are readable but not the usual 0644 for files, 0755 for folders.

    A store with no file under i/ or f/ (a missing or empty root, an empty bucket prefix) is refused
    (exit 1) unless --allow-empty: a wrong volume or bucket looks exactly like that.

    Modes, links and temp files are the local volume's findings; another backend reports
    its own. Changes nothing on the volume.
    """
    store = storage()
    limits = current_app.extensions["uploads.limits"]
    entries = list(store.walk())
    refuse_empty([e.key for e in entries], allow_empty, as_json, "verify")
    errors, warnings = [], []
    for found in store.audit():  # what only the backend can judge: modes, links, ...
        (errors if found.error else warnings).append((found.key, found.problem))
    present = {entry.key for entry in entries}
    for path, problem, error in folder_problems(present):  # the attachments' layout
        (errors if error else warnings).append((path, problem))
    lacking = Counter()  # main files without every variant their size calls for, per tree
    with progress(entries, show_progress, "verify") as bar:
        for entry in bar:
            attachment = is_attachment(entry.key)
            if attachment and not naming.is_attachment_key(entry.key):
                continue  # a stray under f/, reported above
            if not attachment and not naming.is_valid_key(entry.key):
                warnings.append((entry.key, "name outside the scheme (legacy)"))
            main = naming.main_stem(entry.key)
            if not attachment and main is not None and not variants.main_of(main, present):
                warnings.append((entry.key, "variant of no main file (gc removes it)"))
            try:
                data = store.read(entry.key)
                problem = (content_problem if attachment else stored_problem)(
                    store, entry.key, data, limits)
                if is_image_main(entry.key) and not problem and variants.missing(
                        entry.key, data, limits.variants, present):
                    lacking[entry.key.split("/", 1)[0]] += 1
            except KeyError:
                problem = "cannot read: removed meanwhile"
            except StorageUnavailable as exc:
                problem = f"cannot read: {exc.detail}"
            if problem:
                errors.append((entry.key, problem))
    for top, count in sorted(lacking.items()):
        what = "image attachments" if top == naming.FILES_TOP else "images"
        warnings.append((f"{top}/", f"{count} {what} lack variants (served their main file "
                                    "instead): `flask --app app variants --backfill` writes "
                                    "them"))
    warnings += carried.orphans(store)  # owners' records whose upload is gone
    errors.sort(key=lambda row: row[0])  # the backend's findings among the others, by key
    warnings.sort(key=lambda row: row[0])
    errors += [(name, "temp leftover of a dead or stale writer") for name in store.leftovers()]
    files, total = len(entries), sum(entry.size for entry in entries)
    missing = []
    if urls is not None:
        keys, bad = read_refs(urls)
        warnings += [(line, "not a URL or path under /i/ or /f/") for line in bad]
        # A variant URL with no file is answered with its main file under /i/ (never under
        # /f/): missing only without it.
        missing = sorted(k for k in keys if store.stat(k) is None and (is_attachment(k) or not (
            naming.main_stem(k) and variants.main_of(naming.main_stem(k), None, store))))
        errors += [(key, "referenced but missing (404)") for key in missing]
    ok = not errors and not (strict and warnings)
    if as_json:
        print_json({"ok": ok, "files": files, "bytes": total, "missing": missing,
                    "errors": [{"path": p, "problem": m} for p, m in errors],
                    "warnings": [{"path": p, "problem": m} for p, m in warnings]})
    else:
        for level, found in (("ERROR", errors), ("WARN", warnings)):
            for path, problem in found:
                click.echo(f"{level} {path}: {problem}")
        click.echo(f"{'ok' if ok else 'FAILED'}: {files} files, {human(total)}, "
                   f"{len(errors)} errors, {len(warnings)} warnings"
                   + (f", {len(missing)} referenced files missing" if urls is not None else ""))
    if not ok:
        raise SystemExit(1)

