"""`restore`: put a `backup` archive back, checking everything before writing anything.

The archive is read twice. The first pass refuses a hostile or damaged archive (a member that
is not a regular file, a name that is absolute, climbs with `..` or is neither under `i/` nor an
attachment's key under `f/`, a duplicate, a
member missing from the manifest or the other way round, any size or SHA-256 that differs) and
finds existing files that differ; only when all is clean does the second pass write, each file
through the storage's atomic `put` (never replacing, unless --overwrite asks for it), its bytes
checked again in memory first, with the archived mode and time. Attachments go back like
images, into a volume or a bucket.
"""

import contextlib
import hashlib
import json
import shutil
import sys
import tarfile

import click
from flask.cli import with_appcontext

from ..errors import StorageUnavailable, UploadsError
from ..naming import is_attachment_key, is_public_key
from . import carried
from .backup import MANIFEST
from .common import content_type, output_options, print_json, progress, storage

CHUNK = 1024 * 1024


class Refused(Exception):
    """The archive cannot be trusted; nothing was written."""


@click.command()
@click.option("--input", "-i", "source", required=True,
              type=click.Path(dir_okay=False, allow_dash=True, exists=True),
              help="Archive made by `backup` (plain or gzip); '-' reads it from stdin.")
@click.option("--overwrite", is_flag=True,
              help="Replace existing files whose content differs (atomically).")
@click.option("--check", "check_only", is_flag=True,
              help="Verify the archive and report what would happen; write nothing.")
@output_options
@with_appcontext
def restore(source, overwrite, check_only, as_json, show_progress):
    """Restore a backup archive into the storage, checksums first.

    Every member is checked against the manifest (size, sha256) and refused if it is not a
    plain file under i/ or an attachment under f/ before anything is written. Files
    already present with the same bytes are left alone; a present file that differs is a
    conflict: without --overwrite nothing at all is written and the command exits 1. Modes
    (permission bits) and times are restored. Exit 0 when every file of the archive is in
    place, 1 otherwise.
    """
    store = storage(writing=not check_only)
    with _opened(source, store) as archive:
        try:
            plan = _check(archive, store)
        except (Refused, tarfile.TarError, OSError) as exc:
            _say(as_json, {"ok": False, "refused": str(exc)}, f"REFUSED: {exc}; nothing written")
            raise SystemExit(1) from exc
        conflicts = sorted(k for k, (state, _) in plan.items() if state == "conflict")
        blocked = bool(conflicts) and not overwrite
        counts = {"restored": 0, "replaced": 0, "conflicts": 0,
                  "unchanged": sum(1 for s, _ in plan.values() if s == "same")}
        if blocked:
            counts["conflicts"] = len(conflicts)
        elif check_only:
            counts["restored"] = sum(1 for s, _ in plan.values() if s == "new")
            counts["replaced"] = len(conflicts)
        else:
            try:
                _write(archive, store, plan, counts, overwrite, show_progress)
            except (Refused, tarfile.TarError, OSError, UploadsError) as exc:
                _say(as_json, {"ok": False, "failed": str(exc), **counts},
                     f"FAILED: {exc} (after {counts['restored']} restored)")
                raise SystemExit(1) from exc
    ok = not counts["conflicts"]
    doc = {"ok": ok, "check_only": check_only, "files": len(plan), **counts,
           "conflict_paths": conflicts}
    action = "replaced" if overwrite else "left alone"
    lines = [f"CONFLICT {key}: exists with different content, {action}" for key in conflicts]
    lines += [carried.KEPT for state, _ in plan.values() if state == "kept"]
    would = "would be " if check_only else ""
    lines.append(f"{'ok' if ok else 'FAILED'}: {len(plan)} files in the archive; "
                 f"{would}restored {counts['restored']}, {would}replaced {counts['replaced']}, "
                 f"unchanged {counts['unchanged']}, conflicts {counts['conflicts']}"
                 + ("; nothing written (use --overwrite to replace them)" if blocked else ""))
    _say(as_json, doc, "\n".join(lines))
    if not ok:
        raise SystemExit(1)


def _say(as_json: bool, doc: dict, text: str) -> None:
    if as_json:
        print_json(doc)
    else:
        click.echo(text)


@contextlib.contextmanager
def _opened(source: str, store):
    """The archive as a file to read twice; stdin is spooled first into the storage's scratch
    file (on the local volume: in its temp folder, as the app's own filesystem is small)."""
    if source != "-":
        with open(source, "rb") as f:
            yield f
        return
    with store.scratch() as spool:
        shutil.copyfileobj(sys.stdin.buffer, spool, CHUNK)
        yield spool


def _members(archive):
    """A fresh pass over the archive (plain or gzip, read as a stream)."""
    archive.seek(0)
    return tarfile.open(fileobj=archive, mode="r|*")


def _check(archive, store) -> dict[str, tuple[str, str]]:
    """Key -> (state, sha256) once the archive is proven to match its manifest; the state is
    'new', 'same' (already there, identical) or 'conflict' (there, different)."""
    found, manifest = {}, None
    with _members(archive) as tar:
        for member in tar:
            if member.name == MANIFEST and member.isreg():
                if manifest is not None:
                    raise Refused("two manifests")
                manifest = _read_manifest(tar.extractfile(member).read())
                continue
            key = _safe_key(member)
            if key in found:
                raise Refused(f"{key}: twice in the archive")
            sha = hashlib.sha256()
            size = 0
            stream = tar.extractfile(member)
            while chunk := stream.read(CHUNK):
                sha.update(chunk)
                size += len(chunk)
            found[key] = (size, sha.hexdigest(), member.mode & 0o777)
    if manifest is None:
        raise Refused(f"no {MANIFEST}: not an archive made by backup")
    if set(found) != set(manifest):
        extra = sorted(set(found) - set(manifest))[:3]
        lacking = sorted(set(manifest) - set(found))[:3]
        raise Refused(f"archive and manifest disagree (not listed: {extra}, absent: {lacking})")
    plan = {}
    for key, (size, sha, mode) in found.items():
        if manifest[key] != (size, sha, mode):
            raise Refused(f"{key}: size, sha256 or mode differs from the manifest")
        plan[key] = (_state(store, key, sha), sha)
    return plan


def _read_manifest(body: bytes) -> dict:
    try:
        rows = json.loads(body)["files"]
        return {r["path"]: (int(r["size"]), str(r["sha256"]), int(r["mode"], 8) & 0o777)
                for r in rows}
    except (ValueError, KeyError, TypeError) as exc:
        raise Refused(f"unreadable {MANIFEST}: {exc}") from exc


def _safe_key(member: tarfile.TarInfo) -> str:
    if not member.isreg():
        raise Refused(f"{member.name}: not a regular file (link, folder or device)")
    # absolute names, '..', anything outside i/ but an attachment's key
    if not (is_public_key(member.name) or is_attachment_key(member.name)
            or carried.is_private(member.name)):  # the delete links' key, owners' records
        raise Refused(f"{member.name!r}: unsafe name")
    return member.name


def _state(store, key: str, sha: str) -> str:
    if carried.is_private(key):
        return carried.state(store, key, sha)
    try:
        data = store.read(key)
    except KeyError:
        return "new"
    except StorageUnavailable:
        return "conflict"  # something else is in the way
    return "same" if hashlib.sha256(data).hexdigest() == sha else "conflict"


def _write(archive, store, plan: dict, counts: dict, overwrite: bool, show_progress) -> None:
    with _members(archive) as tar, progress(list(plan), show_progress, "restore") as bar:
        members = (m for m in tar if m.name != MANIFEST)
        for member, _ in zip(members, bar, strict=False):
            state, sha = plan[member.name]
            if state in ("same", "kept"):
                continue
            data = tar.extractfile(member).read()
            if hashlib.sha256(data).hexdigest() != sha:
                raise Refused(f"{member.name}: the archive changed since it was checked")
            key, kept = member.name, {"mode": member.mode & 0o777, "mtime": member.mtime}
            if carried.is_private(key):
                if state == "new" or overwrite:
                    carried.put(store, key, data, replace=state != "new")
                    counts["restored" if state == "new" else "replaced"] += 1
                else:
                    counts["conflicts"] += 1
                continue
            if state == "new" and store.put(key, data, content_type(key), **kept):
                counts["restored"] += 1
            elif _state(store, key, sha) == "same":
                counts["unchanged"] += 1  # appeared meanwhile, identical
            elif overwrite:
                store.put(key, data, content_type(key), replace=True, **kept)
                counts["replaced"] += 1
            else:
                counts["conflicts"] += 1  # appeared meanwhile, different: left alone
