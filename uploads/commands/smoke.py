"""`smoke`: the post-deployment checklist as one command, through the public URL.

It does what a user's browser does: upload an avatar the way the web client sends it, then
fetch it where the answer says it is; with `--existing`, fetch files that were there before
(served.py). Only the standard library speaks HTTP here, so the command runs inside the app's
image, which carries no development dependencies.
"""

import functools
import io
import json
import os
import secrets
import urllib.request
from urllib.parse import urlsplit, urlunsplit

import click
from PIL import Image

from ..images import FORMATS
from .served import Failed, check_existing, request, resolve

SIDE = 48


@click.command()
@click.argument("base_url", required=False)
@click.option("--existing", multiple=True, metavar="URL",
              help="Check a file that was there before (repeatable): a full URL, or a path "
                   "such as /i/p/2025/10/avatar_….jpg under BASE_URL.")
@click.option("--token", help="Bearer token for the upload, when UPLOADS_AUTH=jwt.")
@click.option("--timeout", default=10.0, show_default=True, help="Seconds per request.")
@click.option("--json", "as_json", is_flag=True,
              help="Print one JSON document (the steps and their outcome) instead of lines.")
def smoke(base_url, existing, token, timeout, as_json):
    """Upload a generated image through BASE_URL and check that it is served right; with
    --existing, check files that were there before.

    \b
    Steps, one line each; the upload steps stop at the first failure, every --existing URL
    is checked:
      upload   POST BASE_URL/api/upload/avatar (multipart field avatar) -> 201, data.url
      get      GET data.url -> 200, the size and type the app announced, decodes
      headers  Cache-Control immutable, X-Content-Type-Options nosniff, a CSP
      head     HEAD data.url -> 200, same Content-Length, no body
      missing  GET a random name next to it -> 404, not cached as immutable
      delete   DELETE data.delete_url -> 204: the test image leaves no trace (its URL then
               answers 404 once nginx's open-file or S3 cache lets it go)
      existing GET each --existing URL -> 200, the Content-Type of its extension,
               Cache-Control immutable, bytes of that format that decode

    Without BASE_URL only the --existing URLs are checked, and nothing is uploaded. Exit 0
    when every step passes, 1 on a failure, 2 with neither BASE_URL nor --existing. A run
    that fails before the delete step leaves its test image stored (the `upload` line names
    it; gc or its delete link removes it).
    """
    if not base_url and not existing:
        raise click.UsageError("give BASE_URL (upload a new file), --existing URL (check a "
                               "file already there), or both")
    base = base_url.rstrip("/") if base_url else None
    urls = [resolve(url, base) for url in existing]
    if None in urls:
        raise click.UsageError("an --existing path needs BASE_URL; or give the full URL")
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
    state = {"base": base, "token": token, "open": opener, "timeout": timeout}
    chain = ((("upload", _upload), ("get", _get), ("headers", _headers), ("head", _head),
              ("missing", _missing), ("delete", _delete)) if base else ())
    checks = [("existing", functools.partial(check_existing, url=url)) for url in urls]
    done = _run(state, chain, as_json, stop=True) + _run(state, checks, as_json, stop=False)
    ok = all(step["ok"] for step in done)
    if as_json:
        click.echo(json.dumps({"ok": ok, "base_url": base_url, "steps": done}, indent=2))
    if not ok:
        raise SystemExit(1)


def _run(state, steps, as_json: bool, stop: bool) -> list[dict]:
    """Run the steps, one line each unless --json; `stop` at the first failure."""
    done = []
    for name, step in steps:
        try:
            done.append({"step": name, "ok": True, "detail": step(state)})
        except (Failed, OSError, ValueError) as exc:
            done.append({"step": name, "ok": False, "detail": str(exc)})
        if not as_json:
            click.echo(f"{'ok  ' if done[-1]['ok'] else 'FAIL'} {name:<8} {done[-1]['detail']}")
        if stop and not done[-1]["ok"]:
            break
    return done


def _upload(state):
    im = Image.frombytes("RGB", (SIDE, SIDE), os.urandom(SIDE * SIDE * 3))
    state["pixels"] = im.tobytes()  # PNG is lossless and the side under the cap: same pixels
    out = io.BytesIO()
    im.save(out, "PNG")
    boundary = "smoke" + secrets.token_hex(12)
    body = (f"--{boundary}\r\nContent-Disposition: form-data; name=\"avatar\"; "
            f"filename=\"smoke.png\"\r\nContent-Type: image/png\r\n\r\n").encode()
    body += out.getvalue() + f"\r\n--{boundary}--\r\n".encode()
    headers = {"Content-Type": f"multipart/form-data; boundary={boundary}"}
    if state["token"]:
        headers["Authorization"] = f"Bearer {state['token']}"
    status, _, answer = request(state, "POST", state["base"] + "/api/upload/avatar", body,
                                 headers)
    if status != 201:
        raise Failed(f"POST /api/upload/avatar answered {status}: {answer[:200]!r}")
    data = json.loads(answer).get("data") or {}
    if not {"url", "size", "content_type", "width", "height"} <= data.keys():
        raise Failed(f"answer without data.url/size/...: {answer[:200]!r}")
    state["data"] = data
    return f"201 {data['url']} ({data['size']} bytes, {data['width']}x{data['height']})"


def _get(state):
    data = state["data"]
    status, headers, body = request(state, "GET", data["url"])
    state["headers"] = headers
    if status != 200:
        raise Failed(f"GET {data['url']} answered {status}")
    if len(body) != data["size"]:
        raise Failed(f"{len(body)} bytes served, the app stored {data['size']}")
    if headers.get_content_type() != data["content_type"]:
        raise Failed(f"Content-Type {headers.get('Content-Type')}, expected "
                     f"{data['content_type']}")
    fmt = next(f for f, (_, ctype) in FORMATS.items() if ctype == data["content_type"])
    with Image.open(io.BytesIO(body), formats=[fmt]) as im:
        im.load()
        if im.size != (data["width"], data["height"]):
            raise Failed(f"served image is {im.size}, the app said "
                         f"{data['width']}x{data['height']}")
        if im.convert("RGB").tobytes() != state["pixels"]:
            raise Failed("the served image's pixels differ from the uploaded ones")
    return f"200 {len(body)} bytes, {fmt} decodes to the uploaded pixels, {im.width}x{im.height}"


def _headers(state):
    headers = state["headers"]
    cache = headers.get("Cache-Control", "")
    if "immutable" not in cache or "max-age=" not in cache:
        raise Failed(f"Cache-Control {cache!r}: expected max-age and immutable")
    if headers.get("X-Content-Type-Options", "").lower() != "nosniff":
        raise Failed("no X-Content-Type-Options: nosniff")
    if not headers.get("Content-Security-Policy"):
        raise Failed("no Content-Security-Policy")
    return f"Cache-Control {cache!r}, nosniff, CSP"


def _head(state):
    data = state["data"]
    status, headers, body = request(state, "HEAD", data["url"])
    if status != 200 or body:
        raise Failed(f"HEAD answered {status} with {len(body)} body bytes")
    length = headers.get("Content-Length")
    if length is not None and int(length) != data["size"]:
        raise Failed(f"HEAD Content-Length {length}, expected {data['size']}")
    return f"200 Content-Length {length}"


def _missing(state):
    parts = urlsplit(state["data"]["url"])
    folder = parts.path.rsplit("/", 1)[0]
    name = f"avatar_{secrets.randbelow(10**13):013d}_{secrets.token_hex(3)}.png"
    url = urlunsplit(parts._replace(path=f"{folder}/{name}"))
    status, headers, _ = request(state, "GET", url)
    if status != 404:
        raise Failed(f"GET {url} answered {status}, expected 404")
    if "immutable" in headers.get("Cache-Control", ""):
        raise Failed("a 404 is marked immutable: browsers would cache the miss for a year")
    return f"404 {folder}/{name}"


def _delete(state):
    url = state["data"].get("delete_url")
    if not url:
        raise Failed("the upload answer has no delete_url")
    status, _, body = request(state, "DELETE", url)
    if status != 204:
        raise Failed(f"DELETE of the test image answered {status}: {body[:200]!r}")
    return "204: the test image and its variants are removed"
