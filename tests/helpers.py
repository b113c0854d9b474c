"""Helpers of the tests only: storage listings, keys, and the one check of a JSON error.
Images come from `devstack.images` and multipart bodies from `devstack.client`, both shared
with the benchmark."""

import json
import os

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa

from uploads.storage import OWN_NAMES

# tests/stack/test_devstack_cli.py (another engineer's file) still imports it from here.


def stored_files(root) -> list[str]:
    """Every file under the root (temp folder included), relative, sorted; but the store's id
    and delete links' key, which the app writes at its first start (storage/identity.py,
    deletion.py)."""
    found = []
    for folder, _dirs, files in os.walk(root):
        found += [os.path.relpath(os.path.join(folder, f), root)
                  for f in files if f not in OWN_NAMES]
    return sorted(found)


def pem_pair(kind: str):
    """A fresh private key for `kind` (RS256 or ES256) and its public key as PEM text."""
    key = rsa.generate_private_key(65537, 2048) if kind == "RS256" else ec.generate_private_key(
        ec.SECP256R1())
    public = key.public_key().public_bytes(serialization.Encoding.PEM,
                                           serialization.PublicFormat.SubjectPublicKeyInfo)
    return key, public.decode()


def assert_json_error(answer, expected: int, code: str) -> dict:
    """An error in the one JSON shape, with the status and code expected, never cacheable.

    `answer` is a `requests` response, a Flask test response, or (status, headers, body) as the
    raw-socket helpers return it. Returns the parsed body."""
    if isinstance(answer, tuple):
        status, headers, body = answer
    else:
        status, headers = answer.status_code, answer.headers
        body = answer.content if hasattr(answer, "content") else answer.get_data()
    lowered = {k.lower(): v for k, v in dict(headers).items()}
    assert status == expected, (status, body[:300])
    assert lowered["content-type"].startswith("application/json"), lowered
    parsed = json.loads(body)
    assert parsed["success"] is False and parsed["code"] == code, parsed
    assert isinstance(parsed["error"], str) and parsed["error"], parsed
    assert "no-store" in lowered.get("cache-control", ""), lowered
    assert "immutable" not in lowered.get("cache-control", ""), lowered
    return parsed


def cli_runner(app):
    """Run `flask <args>` in process against `app`; returns click's result."""
    runner = app.test_cli_runner()

    def run(*args, input=None):
        return runner.invoke(args=[str(a) for a in args], input=input, catch_exceptions=False)

    return run
