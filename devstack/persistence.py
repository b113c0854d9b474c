"""`make persistence-check`: the incident replayed on a compose deployment, in one command.

The avatars were lost when their containers were recreated (an image update), not restarted.
This uploads an image through the public URL, recreates the app and static containers
(`up -d --wait --force-recreate app static`), fetches the same URL again and compares the bytes,
and checks that the app runs on the same volume (the id in its /readyz, read inside the
container) before and after. `--existing URL` compares files that were there before, too. Any
difference exits 1 with one line saying what changed.

Standard library only, and nothing imported from the project: it runs with the server's own
python3 from the repository's folder, where `docker compose` finds the deployment's `.env`.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import secrets
import shlex
import struct
import subprocess
import sys
import time
import urllib.error
import urllib.request
import zlib

COMPOSE = "docker compose -f docker-compose.traefik.yml"
READYZ = ("import sys, urllib.request; sys.stdout.write(urllib.request.urlopen("
          "'http://127.0.0.1:8000/readyz', timeout=5).read().decode())")
SETTLE_SECONDS = 20  # the edge may answer 502 while it finds the new containers


class Failed(Exception):
    pass


def main(argv: list[str] | None = None) -> int:
    args = _arguments(argv)
    base = (args.url or _env_value(args.env_file, "UPLOADS_PUBLIC_BASE_URL")).rstrip("/")
    if not base:
        print(f"FAIL no URL: give --url, or set UPLOADS_PUBLIC_BASE_URL in {args.env_file}")
        return 2
    check = Check(base, shlex.split(args.compose), args.token, args.existing, args.timeout)
    check.expected = _env_value(args.env_file, "UPLOADS_VOLUME_ID")
    for name, step in (("volume", check.volume_before), ("upload", check.upload),
                       ("get", check.fetch_before), ("recreate", check.recreate),
                       ("same-vol", check.volume_after), ("same-get", check.fetch_after)):
        try:
            detail = step()
        except (Failed, OSError, ValueError) as exc:
            print(f"FAIL {name:<9} {exc}", flush=True)
            return 1
        print(f"ok   {name:<9} {detail}", flush=True)
    return 0


class Check:
    def __init__(self, base: str, compose: list[str], token: str, existing, timeout: float):
        self.base, self.compose, self.token, self.timeout = base, compose, token, timeout
        self.urls: list[str] = list(existing)
        self.digests: dict[str, str] = {}
        self.open = urllib.request.build_opener(urllib.request.ProxyHandler({})).open
        self.volume_id = None
        self.expected = ""  # UPLOADS_VOLUME_ID from .env, when set

    def volume_before(self) -> str:
        """The volume the app runs on now: the one .env expects, else said plainly that nothing
        says so (a new empty volume passes every later step: the incident itself)."""
        ready = self._readyz()
        self.volume_id, files = ready.get("volume_id"), ready.get("files")
        if self.expected and self.volume_id != self.expected:
            raise Failed(f"the app runs on volume {self.volume_id} ({files} files), but "
                         f"UPLOADS_VOLUME_ID={self.expected}: not the volume holding the files")
        warnings = [] if self.expected else [
            "WARN no UPLOADS_VOLUME_ID in .env: nothing says it is the volume holding the files"]
        if not files and not self.urls:
            warnings.append("WARN it holds no file: a new volume? (--existing URL checks one "
                            "that was there before)")
        return "; ".join([f"the app runs on volume {self.volume_id}, {files} files", *warnings])

    def upload(self) -> str:
        boundary = "persistence" + secrets.token_hex(8)
        body = (f"--{boundary}\r\nContent-Disposition: form-data; name=\"avatar\"; "
                "filename=\"persistence.png\"\r\nContent-Type: image/png\r\n\r\n").encode()
        body += _png(32) + f"\r\n--{boundary}--\r\n".encode()
        headers = {"Content-Type": f"multipart/form-data; boundary={boundary}"}
        if self.token:
            headers["Authorization"] = f"Bearer {self.token}"
        status, answer = self._http("POST", f"{self.base}/api/upload/avatar", body, headers)
        if status != 201:
            raise Failed(f"POST /api/upload/avatar answered {status}: {answer[:200]!r}")
        try:
            url = json.loads(answer)["data"]["url"]
        except (ValueError, KeyError, TypeError) as exc:
            raise Failed(f"an answer without data.url: {answer[:200]!r}") from exc
        self.urls.insert(0, url)
        return f"201 {url}"

    def fetch_before(self) -> str:
        for url in self.urls:
            status, body = self._http("GET", url)
            if status != 200:
                raise Failed(f"GET {url} answered {status} before the recreate")
            self.digests[url] = hashlib.sha256(body).hexdigest()
        return f"{len(self.urls)} URL(s) answer 200"

    def recreate(self) -> str:
        before = self._containers()
        done = subprocess.run([*self.compose, "up", "-d", "--wait", "--force-recreate", "app",
                               "static"], capture_output=True, text=True, timeout=600)
        if done.returncode != 0:
            last = (done.stderr or done.stdout).strip().splitlines() or ["no output"]
            raise Failed(f"`{shlex.join(self.compose)} up --force-recreate app static` "
                         f"exited {done.returncode}: {last[-1]}")
        after = self._containers()
        if set(before) & set(after):
            raise Failed("the containers were not recreated (same ids before and after)")
        return "app and static are new containers, healthy"

    def volume_after(self) -> str:
        ready = self._readyz()
        if ready.get("volume_id") != self.volume_id:
            raise Failed(f"the app now runs on volume {ready.get('volume_id')} "
                         f"({ready.get('files')} files), it ran on {self.volume_id} before: "
                         "another volume is mounted, and every earlier file would 404")
        return f"volume {self.volume_id}, {ready.get('files')} files"

    def fetch_after(self) -> str:
        for url in self.urls:
            deadline = time.monotonic() + SETTLE_SECONDS
            status, body = self._http("GET", url)
            while status in (502, 503, 504) and time.monotonic() < deadline:
                time.sleep(1)
                status, body = self._http("GET", url)
            if status != 200:
                raise Failed(f"GET {url} answered {status} after the recreate, 200 before: "
                             "the file is gone (the incident)")
            if hashlib.sha256(body).hexdigest() != self.digests[url]:
                raise Failed(f"GET {url} serves other bytes than before the recreate")
        return f"{len(self.urls)} URL(s): the same bytes as before the recreate"

    # -- helpers ---------------------------------------------------------------------------
    def _http(self, method: str, url: str, body=None, headers=None) -> tuple[int, bytes]:
        if not url.startswith(("http://", "https://")):
            raise Failed(f"{url}: not an http(s) URL")
        request = urllib.request.Request(url, body, headers or {}, method=method)  # noqa: S310
        try:
            with self.open(request, timeout=self.timeout) as answer:
                return answer.status, answer.read()
        except urllib.error.HTTPError as error:
            with error:
                return error.code, error.read()

    def _readyz(self) -> dict:
        done = subprocess.run([*self.compose, "exec", "-T", "app", "python", "-c", READYZ],
                              capture_output=True, text=True, timeout=60)
        if done.returncode != 0:
            last = (done.stderr or done.stdout).strip().splitlines() or ["no output"]
            raise Failed(f"the app's /readyz (read inside its container) failed: {last[-1]}")
        return json.loads(done.stdout)

    def _containers(self) -> list[str]:
        done = subprocess.run([*self.compose, "ps", "-q", "app", "static"], capture_output=True,
                              text=True, timeout=60)
        ids = done.stdout.split()
        if done.returncode != 0 or len(ids) != 2:
            raise Failed(f"expected the app and static containers running, found {len(ids)}")
        return ids


def _png(side: int) -> bytes:
    """Random pixels, so that each run uploads a file of its own."""
    def chunk(kind: bytes, data: bytes) -> bytes:
        return (struct.pack(">I", len(data)) + kind + data
                + struct.pack(">I", zlib.crc32(kind + data)))

    rows = b"".join(b"\0" + secrets.token_bytes(side * 3) for _ in range(side))
    head = struct.pack(">IIBBBBB", side, side, 8, 2, 0, 0, 0)
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", head) + chunk(b"IDAT", zlib.compress(rows))
            + chunk(b"IEND", b""))


def _env_value(path: str, name: str) -> str:
    try:
        with open(path, encoding="utf-8") as f:
            for line in f:
                key, sep, value = line.strip().partition("=")
                if sep and key == name:
                    return value.strip().strip("'\"")
    except FileNotFoundError:
        pass
    return ""


def _arguments(argv):
    parser = argparse.ArgumentParser(prog="persistence-check", description=__doc__.split("\n")[0])
    parser.add_argument("--url", help="public origin (default: UPLOADS_PUBLIC_BASE_URL in .env)")
    parser.add_argument("--env-file", default=".env", help="where to read that (default .env)")
    parser.add_argument("--compose", default=os.environ.get("COMPOSE") or COMPOSE,
                        help=f"the compose command of the deployment (default: {COMPOSE})")
    parser.add_argument("--token", default=os.environ.get("SMOKE_TOKEN", ""),
                        help="Bearer token for the upload with UPLOADS_AUTH=jwt (or SMOKE_TOKEN)")
    parser.add_argument("--existing", action="append", default=[], metavar="URL",
                        help="a URL already served, compared too (repeat for more)")
    parser.add_argument("--timeout", type=float, default=30.0, help="seconds per request")
    return parser.parse_args(argv)


if __name__ == "__main__":
    sys.exit(main())
