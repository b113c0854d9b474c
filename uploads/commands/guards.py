"""Refusals that stop a plausible mistake before it looks like success or destroys files.

An empty store is what a wrong mount, a new volume made under another compose project name or a
wrong bucket looks like; a backup of it that says "ok: 0 files" is the incident again, so
`backup` and `verify` refuse it unless told it is expected. A `gc` list that leaves most of the
volume unreferenced is far likelier a truncated export than a real clean-up (3,034 of 3,035
files, once), so `gc --apply` refuses beyond a share of the files unless forced.
"""

import functools
import json
import os

import click
from flask import current_app

from .. import naming
from ..naming import PUBLIC_TOP, PUBLIC_TOPS

DEFAULT_MAX_SHARE = 50.0


def allow_empty_option(func):
    """`--allow-empty` for a command that refuses an empty store."""

    @click.option("--allow-empty", is_flag=True,
                  help="Accept a store with no file under i/ (a new deployment); by default it "
                       "is refused, as a wrong volume or bucket looks exactly like that.")
    @functools.wraps(func)
    def wrapper(*args, **kwargs):
        return func(*args, **kwargs)

    return wrapper


def refuse_empty(keys: list[str], allow_empty: bool, as_json: bool, doing: str,
                 err=False) -> None:
    """Exit 1 with one line saying what was found when the store holds no image and no
    attachment at all: a `.keep` or a stray text file does not make a volume the one holding
    the files."""
    images = sum(1 for key in keys
                 if naming.unservable(key) is None or naming.is_attachment_key(key))
    if images or allow_empty:
        return
    line = (f"{_emptiness(len(keys))}: nothing to {doing}. A wrong or new volume (or bucket) "
            "looks like this; if it is meant to be empty, run again with --allow-empty")
    if as_json:
        click.echo(json.dumps({"ok": False, "files": 0, "refused": line}, indent=2), err=err)
    else:
        click.echo(f"REFUSED: {line}", err=err)
    raise SystemExit(1)


def _emptiness(others: int) -> str:
    """What the configured store was found to be, in words: it holds no image, and `others`
    files that are not ones."""
    config = current_app.config
    if config["STORAGE"] == "s3":
        where = config["S3_ENDPOINT"] or f"AWS S3 ({config['S3_REGION']})"
        store = f"bucket {config['S3_BUCKET']} at {where}"
    else:
        store = f"storage root {os.path.abspath(config['ROOT'])}"
        if not os.path.isdir(os.path.abspath(config["ROOT"])):
            return f"{store} does not exist"
        if not any(os.path.isdir(os.path.join(config["ROOT"], top)) for top in PUBLIC_TOPS):
            return f"{store} has no {PUBLIC_TOP}/ folder"
    if others:
        return f"{store} holds {others} file(s) under {PUBLIC_TOP}/ but no image nginx serves"
    kind = "object" if config["STORAGE"] == "s3" else "file"
    return f"{store} holds no {kind} under {PUBLIC_TOP}/"


def share_options(func):
    """`--max-share PERCENT` and `--force` for `gc`."""

    @click.option("--max-share", "max_share", default=DEFAULT_MAX_SHARE, show_default=True,
                  type=click.FloatRange(0, 100), metavar="PERCENT",
                  is_eager=True,  # checked before --referenced is opened: a bad value leaks no file
                  help="Refuse to --apply when the candidates are more than this share of all "
                       "stored files (a truncated --referenced list looks like that).")
    @click.option("--force", is_flag=True,
                  help="Apply even beyond --max-share.")
    @functools.wraps(func)
    def wrapper(*args, **kwargs):
        return func(*args, **kwargs)

    return wrapper


def percent(part: int, whole: int) -> float:
    """`part` of `whole` in percent, rounded down to 0.1 (3034 of 3035 is 99.9, not 100.0)."""
    return (part * 1000 // whole) / 10 if whole else 0.0


def over_share(part: int, whole: int, max_share: float) -> bool:
    return part * 100 > max_share * whole


def share_text(part: int, whole: int) -> str:
    """`3034 of 3035 files (99.9%)`."""
    return f"{part} of {whole} files ({percent(part, whole)}%)"
