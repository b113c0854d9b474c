"""Helpers shared by the tests: images made in memory, storage listings, JSON errors, keys.
Multipart bodies come from `devstack.client`, shared with the benchmark."""

import io
import os

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from PIL import Image

from devstack.client import multipart  # noqa: F401 (the tests' one multipart builder)


def make_image(fmt="JPEG", size=(64, 48), mode="RGB", color=(200, 30, 30), **save):
    """Encode a small image in memory; `save` is passed to Pillow (exif, icc_profile, ...)."""
    im = Image.new(mode, size, color)
    out = io.BytesIO()
    im.save(out, fmt, **save)
    return out.getvalue()


def stored_files(root) -> list[str]:
    """Every file under the root (temp folder included), relative, sorted."""
    found = []
    for folder, _dirs, files in os.walk(root):
        found += [os.path.relpath(os.path.join(folder, f), root) for f in files]
    return sorted(found)


def pem_pair(kind: str):
    """A fresh private key for `kind` (RS256 or ES256) and its public key as PEM text."""
    key = rsa.generate_private_key(65537, 2048) if kind == "RS256" else ec.generate_private_key(
        ec.SECP256R1())
    public = key.public_key().public_bytes(serialization.Encoding.PEM,
                                           serialization.PublicFormat.SubjectPublicKeyInfo)
    return key, public.decode()


def photo_like(fmt: str, size: tuple[int, int], seed: int = 1, **save) -> bytes:
    """An image whose content does not compress, like a photo's fine detail: noise over a
    gradient. A PNG of 1280 x 1280 is about 4.9 MB, a JPEG of 4032 x 3024 at quality 92 some
    4-5 MB (phone-photo sizes)."""
    import random

    rng = random.Random(seed)
    noise = Image.frombytes("RGB", size, rng.randbytes(size[0] * size[1] * 3))
    gradient = Image.linear_gradient("L").resize(size).convert("RGB")
    out = io.BytesIO()
    Image.blend(noise, gradient, 0.3).save(out, fmt, **save)
    return out.getvalue()


def assert_json_error(status: int, headers, body: bytes | str, expected: int, code: str):
    """An error in the one JSON shape, with the status and code expected, never cacheable."""
    import json

    assert status == expected, (status, body[:300])
    lowered = {k.lower(): v for k, v in dict(headers).items()}
    assert lowered["content-type"].startswith("application/json"), lowered
    answer = json.loads(body)
    assert answer["success"] is False and answer["code"] == code and answer["error"], answer
    assert "no-store" in lowered.get("cache-control", ""), lowered
    assert "immutable" not in lowered.get("cache-control", ""), lowered
    return answer
