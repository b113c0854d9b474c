"""Small files of every attachment kind, made in memory: the least each format needs to be
what it says (kinds.py looks no further), and their hostile twins."""

import io
import struct
import wave

from devstack.images import make_image


def pdf(extra: bytes = b"") -> bytes:
    body = (b"%PDF-1.4\n1 0 obj<</Type/Catalog/Pages 2 0 R>>endobj\n"
            b"2 0 obj<</Type/Pages/Kids[]/Count 0>>endobj\n" + extra
            + b"trailer<</Root 1 0 R>>\n")
    return body + b"%%EOF\n"


def wav(frames: int = 800) -> bytes:
    out = io.BytesIO()
    with wave.open(out, "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(8000)
        w.writeframes(b"\x01\x00" * frames)
    return out.getvalue()


def box(kind: bytes, payload: bytes) -> bytes:
    return struct.pack(">I", 8 + len(payload)) + kind + payload


def iso_bmff(brand: bytes, compatible=(b"isom",), mdat: int = 4000) -> bytes:
    ftyp = box(b"ftyp", brand + b"\0\0\0\0" + b"".join(compatible))
    moov = box(b"moov", box(b"mvhd", b"\0" * 100))
    return ftyp + moov + box(b"mdat", b"\x00" * mdat)


def mp4(mdat: int = 4000) -> bytes:
    return iso_bmff(b"isom", (b"isom", b"iso2", b"avc1", b"mp41"), mdat)


def m4a() -> bytes:
    return iso_bmff(b"M4A ", (b"M4A ", b"mp42", b"isom"))


def mov() -> bytes:
    return iso_bmff(b"qt  ", (b"qt  ",))


def ogg_opus() -> bytes:
    head = b"OpusHead" + bytes([1, 1]) + struct.pack("<HIhB", 312, 48000, 0, 0)
    page = (b"OggS\x00\x02" + b"\0" * 8 + struct.pack("<III", 1, 0, 0)
            + bytes([1, len(head)]) + head)
    tags = b"OpusTags" + struct.pack("<I", 4) + b"test" + struct.pack("<I", 0)
    page2 = (b"OggS\x00\x00" + b"\0" * 8 + struct.pack("<III", 1, 1, 0)
             + bytes([1, len(tags)]) + tags)
    return page + page2


def ebml(doctype: bytes = b"webm", codec: bytes = b"V_VP9") -> bytes:
    fields = (b"\x42\x86\x81\x01" + b"\x42\xf7\x81\x01" + b"\x42\xf2\x81\x04" + b"\x42\xf3\x81\x08"
              + b"\x42\x82" + bytes([0x80 | len(doctype)]) + doctype
              + b"\x42\x87\x81\x04" + b"\x42\x85\x81\x02")
    header = b"\x1a\x45\xdf\xa3" + bytes([0x80 | len(fields)]) + fields
    track = b"\x86" + bytes([0x80 | len(codec)]) + codec
    return header + b"\x18\x53\x80\x67\x01\xff\xff\xff\xff\xff\xff\xff" + track + b"\0" * 500


def mp3(frames: int = 6, tag: bool = True) -> bytes:
    frame = b"\xff\xfb\x90\x00" + b"\x00" * (417 - 4)  # MPEG-1 Layer III, 128 kbit/s, 44.1 kHz
    id3 = b"ID3\x04\x00\x00\x00\x00\x00\x0a" + b"\0" * 10 if tag else b""
    return id3 + frame * frames


def aac(frames: int = 6) -> bytes:
    payload = b"\x21\x00" + b"\x00" * 50
    length = 7 + len(payload)
    header = bytes([0xFF, 0xF1, 0x50, 0x80 | (length >> 11), (length >> 3) & 0xFF,
                    ((length & 7) << 5) | 0x1F, 0xFC])
    return (header + payload) * frames


def text() -> bytes:
    return "Compte rendu\r\n\tÉté 2026 : tout va bien. ✓\n\x0cpage 2\n".encode()


# name, bytes, expected kind, content type, extension of the stored name
ACCEPTED = {
    "jpeg": (lambda: make_image("JPEG", size=(300, 200)), "image", "image/jpeg", "jpg"),
    "png": (lambda: make_image("PNG", size=(300, 200)), "image", "image/png", "png"),
    "webp": (lambda: make_image("WEBP", size=(300, 200)), "image", "image/webp", "webp"),
    "pdf": (pdf, "pdf", "application/pdf", "pdf"),
    "mp3": (mp3, "audio", "audio/mpeg", "mp3"),
    "mp3 without tag": (lambda: mp3(tag=False), "audio", "audio/mpeg", "mp3"),
    "aac": (aac, "audio", "audio/aac", "aac"),
    "ogg opus": (ogg_opus, "audio", "audio/ogg", "ogg"),
    "wav": (wav, "audio", "audio/wav", "wav"),
    "m4a": (m4a, "audio", "audio/mp4", "m4a"),
    "webm audio": (lambda: ebml(codec=b"A_OPUS"), "audio", "audio/webm", "weba"),
    "mp4": (mp4, "video", "video/mp4", "mp4"),
    "mov": (mov, "video", "video/quicktime", "mov"),
    "webm video": (ebml, "video", "video/webm", "webm"),
    "text": (text, "text", "text/plain; charset=utf-8", "txt"),
}

ZIP = (b"PK\x03\x04\x14\x00\x00\x00\x00\x00" + b"\0" * 20 + b"a.txtHELLO"
       + b"PK\x01\x02" + b"\0" * 42 + b"a.txt" + b"PK\x05\x06" + b"\0" * 18)

# Refused whatever they are called (415): name, bytes.
REFUSED = {
    "html": b"<!DOCTYPE html><html><body><script>alert(1)</script></body></html>",
    "html lower, after text": b"hello\n<html><script>alert(1)</script>",
    "svg": b'<svg xmlns="http://www.w3.org/2000/svg" onload="alert(1)"/>',
    "xml": b'<?xml version="1.0"?><a/>',
    "link in text": b"click <a href='https://evil.example'>here</a>",
    "pdf + html polyglot": b"%PDF-1.4\n<html><script>alert(1)</script>\n%%EOF\n",
    "pdf + zip polyglot": pdf() + ZIP,
    "mp4 + zip polyglot": mp4() + ZIP,
    "zip": ZIP,
    "7z": b"7z\xbc\xaf\x27\x1c\x00\x04" + b"\0" * 100,
    "gzip": b"\x1f\x8b\x08\x00" + b"\0" * 100,
    "elf": b"\x7fELF\x02\x01\x01" + b"\0" * 100,
    "exe": b"MZ\x90\x00" + b"\0" * 100,
    "shebang": b"#!/bin/sh\nrm -rf /\n",
    "gif": b"GIF89a\x01\x00\x01\x00" + b"\0" * 20,
    "heic": box(b"ftyp", b"heic\0\0\0\0mif1heic") + box(b"mdat", b"\0" * 100),
    "matroska": ebml(doctype=b"matroska"),
    "ogg theora": b"OggS\x00\x02" + b"\0" * 20 + bytes([1, 7]) + b"\x80theora" + b"\0" * 50,
    "binary": bytes(range(256)) * 4,
    "latin-1 text": "Été à la mer".encode("latin-1"),
    "text with NUL": b"hello\x00world",
    "text with escape": b"hello \x1b[31mred\x1b[0m",
    "utf-16 text": "hello".encode("utf-16"),
}

# Cut short (422 file_truncated): name, bytes.
TRUNCATED = {
    "pdf": pdf()[:-8] + b"\n" * 2,
    "mp4": mp4()[:-1000],
    "wav": wav()[:-100],
}
