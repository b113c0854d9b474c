"""The edge's own JSON errors say exactly what the app would say."""

import pathlib
import re

import pytest

from uploads.messages import MESSAGES, message

LOCATIONS = (pathlib.Path(__file__).parent.parent / "nginx" / "locations.conf").read_text()
EDGE = re.findall(r"/_edge/errors/(fr|en)/(\d{3})(?:[-/][^\"]*)?\"? \{[^}]*?return \d+ "
                  r"'(\{.*?\})\\n';", LOCATIONS)


def test_the_edge_bodies_were_found():
    assert len(EDGE) >= 32


@pytest.mark.parametrize("lang, status, body", EDGE)
def test_edge_messages_match_the_app(lang, status, body):
    code = re.search(r'"code": "([a-z_]+)"', body).group(1)
    text = re.search(r'"error": "(.*?)", "code"', body).group(1).replace("\\'", "'")
    assert code in MESSAGES
    expected = message(code, lang, limit="$1$2", rate="$1", burst="$2", concurrent="$3",
                       retry="$4", seconds="$1")
    unit = "octets" if lang == "fr" else "bytes"
    assert text in (expected, message(code, lang, limit=f"$1 {unit}"),
                    message(code, lang, limit="64KB"))


def test_every_message_has_both_languages():
    for code, texts in MESSAGES.items():
        assert set(texts) == {"fr", "en"}, code
