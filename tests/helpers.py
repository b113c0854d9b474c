"""Helpers shared by the tests: images made in memory, multipart bodies, storage listings."""

import io
import os

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from PIL import Image


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


def multipart(parts, boundary="uploads-test-boundary"):
    """Encode [(field, filename or None, content type, bytes)] as a multipart body, by hand:
    the test client's own encoder leaves a temp file open for large bodies."""
    chunks = []
    for field, filename, content_type, data in parts:
        disposition = f'form-data; name="{field}"'
        if filename is not None:
            disposition += f'; filename="{filename}"'
        head = f"--{boundary}\r\nContent-Disposition: {disposition}\r\n"
        if content_type:
            head += f"Content-Type: {content_type}\r\n"
        chunks += [head.encode("utf-8", "surrogateescape"), b"\r\n", data, b"\r\n"]
    chunks.append(f"--{boundary}--\r\n".encode())
    return b"".join(chunks), f"multipart/form-data; boundary={boundary}"


def pem_pair(kind: str):
    """A fresh private key for `kind` (RS256 or ES256) and its public key as PEM text."""
    key = rsa.generate_private_key(65537, 2048) if kind == "RS256" else ec.generate_private_key(
        ec.SECP256R1())
    public = key.public_key().public_bytes(serialization.Encoding.PEM,
                                           serialization.PublicFormat.SubjectPublicKeyInfo)
    return key, public.decode()
