"""Kinds decided by content alone (uploads/kinds.py): every accepted format, every refusal."""

import io

import pytest

import samples
from uploads import kinds, media
from uploads.errors import FileTruncated, InvalidFile, UnsupportedKind


def detect(data: bytes) -> kinds.Kind:
    return kinds.detect(io.BytesIO(data), len(data))


@pytest.mark.parametrize("name", samples.ACCEPTED)
def test_each_accepted_format_is_its_kind(name):
    make, kind, content_type, ext = samples.ACCEPTED[name]
    found = detect(make())
    assert (found.name, found.content_type, found.exts[0]) == (kind, content_type, ext)


@pytest.mark.parametrize("name", samples.REFUSED)
def test_what_is_no_accepted_kind_is_refused(name):
    with pytest.raises(UnsupportedKind):
        detect(samples.REFUSED[name])


@pytest.mark.parametrize("name", samples.TRUNCATED)
def test_a_truncated_file_is_named_so(name):
    with pytest.raises(FileTruncated):
        detect(samples.TRUNCATED[name])


def test_images_are_exempt_from_the_polyglot_checks():
    """A JPEG carrying a ZIP (or markup in a comment) is an image: it is re-encoded anyway."""
    data = samples.ACCEPTED["jpeg"][0]() + samples.ZIP
    assert detect(data).name == "image"


def test_markup_after_the_first_kib_is_not_looked_for():
    assert detect(b"x" * 1100 + b"<html>").name == "text"


def test_a_zip_directory_near_the_end_of_a_large_file_is_found():
    data = samples.mp4(mdat=500_000) + samples.ZIP
    with pytest.raises(UnsupportedKind):
        detect(data)


@pytest.mark.parametrize("data", [
    samples.box(b"ftyp", b"isom\0\0\0\0isom") + b"\0\0\0\x04free",
    samples.wav() + b"\0" * 10,
    b"ID3\x04\x00\x00\x00\x00\x00\x0a" + b"\0" * 10 + b"\xff\xfb\x90\x00" + b"\x00" * 500,
], ids=["box smaller than its header", "data after the RIFF", "frame without a next one"])
def test_a_malformed_structure_is_invalid(data):
    with pytest.raises(InvalidFile):
        detect(data)


def test_text_is_strict_utf8_over_the_whole_file():
    good = "é".encode() * 600_000  # over one read of the decoder
    assert detect(good).name == "text"
    with pytest.raises(UnsupportedKind):
        detect(good + b"\xff")
    split = b"a" * (kinds.TEXT_CHUNK - 1) + "é".encode()  # a character across two reads
    assert detect(split).name == "text"


def test_the_mp3_frame_lengths_follow_the_header():
    assert media._mpeg_frame(b"\xff\xfb\x90\x00") == 417
    assert media._mpeg_frame(b"\xff\xfb\x92\x00") == 418  # padding
    assert media._mpeg_frame(b"\xff\xf3\x90\x00") is not None  # MPEG-2
    assert media._mpeg_frame(b"\xff\xfb\xf0\x00") is None  # bitrate index 15
    assert media._mpeg_frame(b"\xff\xf9\x90\x00") is None  # layer bits 00: ADTS, not MPEG
