"""What the operator commands judge of attachments (`f/`), beside the images of `i/`.

An attachment is one folder, `f/p/YYYY/MM/att_<id>/`, holding its one file under its display
name and, when that file is an image, its variants beside it (naming.py). The folder is the
unit: `gc` keeps or removes it whole, `verify` reports anything else found in it. Its content
is judged as the upload route judged it: an image decodes within the limits, any other file is
the kind (kinds.py) its extension names. A volume and a bucket hold them alike.
"""

import io
import stat
from collections import defaultdict

from flask import current_app

from .. import kinds, media, naming
from ..errors import UploadsError
from ..storage.files import STRAY
from .common import stored_problem

# The extensions nginx serves under /f/ (nginx/files-local.conf): every accepted kind's.
SERVED = frozenset(ext for module in (kinds, media) for value in vars(module).values()
                   for kind in (value.values() if isinstance(value, dict) else (value,))
                   if isinstance(kind, media.Kind) for ext in kind.exts)
SHOWN = 3  # names listed when a folder holds too many files


def is_attachment(key: str) -> bool:
    """Whether a stored key lies in the attachments' tree (well named or not)."""
    return key.split("/", 1)[0] == naming.FILES_TOP


def unit(key: str) -> str:
    """What a file is kept or removed with: an attachment's folder, an image's stem."""
    return naming.attachment_folder(key) or naming.stem(key)


def is_image_main(key: str) -> bool:
    """Whether a key is a main file that has variants: an avatar or an image attachment."""
    return naming.main_stem(key) is None and naming.is_image_name(key)


def content_problem(store, key: str, data: bytes, limits) -> str | None:
    """Why an attachment's bytes would not reach users as the file its name says, or None:
    an image (or a variant) must decode within the limits, any other file must be of the
    kind its extension names, and nginx must serve that extension."""
    if naming.is_image_name(key):
        return stored_problem(store, key, data, limits)
    name = key.rpartition("/")[2]
    ext = name.rpartition(".")[2] if "." in name else ""
    if ext not in SERVED:
        return f"the static server serves no {'.' + ext if ext else 'extensionless'} name " \
               "under /f/"
    if not data:
        return "empty file"
    try:
        kind = kinds.detect(io.BytesIO(data), len(data))
    except UploadsError as exc:
        return f"not an accepted kind: {exc.detail or type(exc).__name__}"
    if ext not in kind.exts:
        return f"{kind.name} content ({kind.content_type}) but the name ends in .{ext}"
    return None


def folder_problems(keys) -> list[tuple[str, str, bool]]:
    """(path, problem, is an error) for the attachments' tree as listed: a file outside the
    layout, a folder holding more than one file besides its image's variants, a variant of
    another name than its folder's image, and (a warning, as for avatars) variants left
    without their main file by an interrupted upload."""
    found, folders = [], defaultdict(list)
    for key in keys:
        if not is_attachment(key):
            continue
        if naming.is_attachment_key(key):
            folders[key.rpartition("/")[0]].append(key)
        else:
            found.append((key, STRAY, True))
    for folder, members in folders.items():
        mains = [k for k in members if naming.main_stem(k) is None]
        extras = [k for k in members if naming.main_stem(k) is not None]
        if len(mains) > 1:
            names = ", ".join(k.rpartition("/")[2] for k in mains[:SHOWN])
            more = f" and {len(mains) - SHOWN} more" if len(mains) > SHOWN else ""
            found.append((folder + "/", f"attachment folder holds {len(mains)} files, one "
                                        f"expected ({names}{more})", True))
        for key in extras:
            if not mains:
                found.append((key, "variant of no main file (gc removes it)", False))
            elif not any(is_image_main(m) and naming.stem(m) == naming.main_stem(key)
                         for m in mains):
                found.append((key, "stray file in an attachment folder: not a variant of "
                                   f"{mains[0].rpartition('/')[2]}", True))
    return found


def source_problem(path: str, st, key: str, store, limits, misfits) -> tuple[str | None, bytes]:
    """(why not, b"") or (None, its bytes) for a local file `migrate` would copy to `key`: a
    regular file of the layout, alone in its folder but for an image's variants (`misfits`,
    from `folder_problems`), within its kind's limit, of the kind its name says."""
    if not stat.S_ISREG(st.st_mode):
        return "not a regular file (links are not followed)", b""
    problem = misfits.get(key) or misfits.get(key.rpartition("/")[0] + "/")
    if problem:
        return problem, b""
    name = "ATTACHMENT_IMAGE_MAX_BYTES" if naming.is_image_name(key) else "ATTACHMENT_MAX_BYTES"
    limit = current_app.config[name]
    if st.st_size > limit:
        return f"{st.st_size} bytes, over the attachment limit ({limit})", b""
    try:
        with open(path, "rb") as f:
            data = f.read()
    except OSError as exc:
        return f"cannot read: {exc.strerror}", b""
    return content_problem(store, key, data, limits), data
