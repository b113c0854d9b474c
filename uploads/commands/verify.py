"""`verify`: is the volume what nginx needs to serve every stored image?

Legacy names are warnings, not errors: migrated files keep the names their URLs already carry,
and refusing them would push operators to rename files and break those URLs.
"""

import os
import stat

import click
from flask import current_app
from flask.cli import with_appcontext

from .. import naming
from ..storage.local import TMP_DIR
from .common import (
    human,
    image_problem,
    output_options,
    print_json,
    progress,
    read_refs,
    storage,
    walk,
)

FILE_MODE, DIR_MODE = 0o644, 0o755


@click.command()
@click.option("--urls", type=click.File("r"),
              help="File of referenced URLs or paths, one a line (e.g. exported from the "
                   "database); every one whose file is missing is an error.")
@click.option("--strict", is_flag=True, help="Treat warnings as errors (exit 1).")
@output_options
@with_appcontext
def verify(urls, strict, as_json, show_progress):
    """Check every stored file: it decodes, nginx can read it, no leftovers.

    Errors (exit 1): a file under i/ that is not a JPEG, PNG or WebP that decodes fully, or
    whose extension does not match its content; a file or folder the static server (another
    user) cannot read, or that everyone may write; a symbolic link or special file under i/;
    a temp file in .tmp/ whose writer is gone; with --urls, every referenced file that is
    missing (the 404s users would see).

    Warnings (exit 0 unless --strict): names outside the scheme
    i/p/YYYY/MM/avatar_<ms>_<6 chars>.<ext> (legacy files, kept so their URLs work) and modes
    that are readable but not the usual 0644 for files, 0755 for folders.

    Changes nothing on the volume.
    """
    store = storage()
    limits = current_app.extensions["uploads.limits"]
    errors, warnings = [], []
    files = total = 0
    for top in (store.root, os.path.join(store.root, "i")):
        if os.path.isdir(top):
            _check_mode(os.path.relpath(top, store.root), os.stat(top), errors, warnings)
    entries = list(walk(store.root))
    with progress(entries, show_progress, "verify") as bar:
        for entry in bar:
            if entry.is_dir:
                _check_mode(entry.key, entry.st, errors, warnings)
                continue
            if not entry.is_file:
                kind = "symbolic link" if stat.S_ISLNK(entry.st.st_mode) else "special file"
                errors.append((entry.key, f"{kind} in the served tree"))
                continue
            files += 1
            total += entry.st.st_size
            _check_mode(entry.key, entry.st, errors, warnings)
            if not naming.is_valid_key(entry.key):
                warnings.append((entry.key, "name outside the scheme (legacy)"))
            try:
                with open(entry.path, "rb") as f:
                    problem = image_problem(f.read(), entry.key, limits)
            except OSError as exc:
                problem = f"cannot read: {exc.strerror}"
            if problem:
                errors.append((entry.key, problem))
    errors += [(f"{TMP_DIR}/{name}", "temp leftover of a dead or stale writer")
               for name in store.leftovers()]
    missing = []
    if urls is not None:
        keys, bad = read_refs(urls)
        warnings += [(line, "not a URL or path under /i/") for line in bad]
        missing = sorted(k for k in keys if not os.path.isfile(os.path.join(store.root, k)))
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


def _check_mode(key: str, st, errors: list, warnings: list) -> None:
    mode = stat.S_IMODE(st.st_mode)
    is_dir = stat.S_ISDIR(st.st_mode)
    need, usual = (0o005, DIR_MODE) if is_dir else (0o004, FILE_MODE)
    if mode & need != need:
        errors.append((key, f"mode {mode:04o}: the static server (another user) cannot read it"))
    elif mode & 0o002:
        errors.append((key, f"mode {mode:04o}: writable by everyone"))
    elif mode & (stat.S_ISUID | stat.S_ISGID):
        errors.append((key, f"mode {mode:04o}: setuid/setgid bit"))
    elif mode != usual and not (is_dir and key == "."):
        warnings.append((key, f"mode {mode:04o}, usually {usual:04o}"))
