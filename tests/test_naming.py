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
])
def test_other_names_are_not(key):
    assert not naming.is_valid_key(key)


def test_unknown_extension_is_a_bug():
    with pytest.raises(ValueError):
        naming.new_key("gif")
