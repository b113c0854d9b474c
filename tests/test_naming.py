"""The public naming scheme, kept from the old route."""

import re

import pytest

from uploads import naming


def test_keys_follow_the_scheme_in_the_utc_month():
    key = naming.new_key("jpg", now_ms=1_760_877_849_690)  # 2025-10-19 UTC
    assert re.fullmatch(r"i/p/2025/10/avatar_1760877849690_[a-z0-9]{6}\.jpg", key)
    assert naming.is_valid_key(key)
    # 2025-12-31T23:30:00-01:00 is already January in UTC
    assert naming.new_key("png", now_ms=1_767_227_400_000).startswith("i/p/2026/01/")


def test_keys_are_unpredictable():
    keys = {naming.new_key("webp", now_ms=1) for _ in range(2000)}
    assert len(keys) == 2000


@pytest.mark.parametrize("key", [
    "i/p/2025/10/avatar_1760877849690_827t7v.jpg",  # the incident's own URL
])
def test_the_old_names_are_valid(key):
    assert naming.is_valid_key(key)


@pytest.mark.parametrize("key", [
    "i/p/2025/13/avatar_1760877849690_827t7v.jpg", "i/p/2025/10/avatar_1_827t7v.jpg",
    "i/p/2025/10/avatar_1760877849690_827T7V.jpg", "i/p/2025/10/avatar_1760877849690_827t7v.gif",
    "i/p/2025/10/../avatar_1760877849690_827t7v.jpg",
    "i/p/\u0662\u0660\u0662\u0665/10/avatar_1760877849690_827t7v.jpg",  # digits, not ASCII ones
    "i/p/2025/10/avatar_\uff11760877849690_827t7v.jpg",
])
def test_other_names_are_not(key):
    assert not naming.is_valid_key(key)


@pytest.mark.parametrize("digits", ["\u0662\u0660\u0662\u0665", "\uff12\uff10\uff12\uff15"],
                         ids=["arabic-indic", "fullwidth"])
def test_attachment_keys_spell_their_numbers_in_ascii(digits):
    key = "f/p/2025/10/att_1760877849690_k3x9qa0m2z/a.pdf"
    assert naming.is_attachment_key(key)
    assert not naming.is_attachment_key(key.replace("2025", digits))
    assert not naming.is_attachment_key(key.replace("att_1760", "att_" + digits))


def test_unknown_extension_is_a_bug():
    with pytest.raises(ValueError):
        naming.new_key("gif")
