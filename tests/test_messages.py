"""One wording for every error: the edge's JSON bodies are generated from the app's messages."""

import json
import re

import pytest

from uploads import edge_errors
from uploads.messages import MESSAGES, message, negotiate


def test_the_generated_nginx_pages_are_current():
    assert edge_errors.TARGET.read_text() == edge_errors.render(), "run: make readme"


@pytest.mark.parametrize("page", edge_errors.PAGES, ids=lambda p: p.path)
@pytest.mark.parametrize("language", edge_errors.LANGUAGES)
def test_each_edge_page_says_what_the_app_says(page, language):
    answer = json.loads(edge_errors.body(page, language))
    assert answer["success"] is False and answer["code"] == page.code
    params = {k: v[language] if isinstance(v, dict) else v for k, v in page.params.items()}
    assert answer["error"] == message(page.code, language, **params)
    assert "{" not in answer["error"], "a placeholder was left unfilled"


def test_every_message_has_both_languages():
    for code, texts in MESSAGES.items():
        assert set(texts) == {"fr", "en"}, code


@pytest.mark.parametrize(("header", "default", "expected"), [
    (None, "fr", "fr"),
    (None, "en", "en"),
    ("", "en", "en"),
    ("en", "fr", "en"),
    ("en-GB,en;q=0.9", "fr", "en"),
    ("FR-be", "en", "fr"),
    ("de-DE,de;q=0.9,en;q=0.8", "fr", "en"),
    ("de-DE,de;q=0.9", "fr", "fr"),       # neither: the default
    ("de-DE,de;q=0.9", "en", "en"),
    ("en;q=0.5,fr;q=0.9", "en", "fr"),    # by weight, not by place
    ("en;q=0,fr;q=0.1", "en", "fr"),      # q=0: refused
    ("en;q=0", "fr", "fr"),
    ("*", "en", "en"),
    ("fr;q=0,*", "fr", "en"),             # any but French
    ("de,*;q=0.5,fr;q=0.4", "fr", "fr"),
    ("en;q=abc,fr", "en", "fr"),          # a malformed range is skipped
    ("x" * 5000, "fr", "fr"),
])
def test_the_language_a_client_asks_for(header, default, expected):
    assert negotiate(header, default) == expected


def test_both_languages_carry_the_same_information():
    """Same placeholders, same quoted names and format names, in both languages; the seed's
    French words still open the messages the existing client shows."""
    for code, texts in MESSAGES.items():
        for pattern in (r"\{\w+\}", r"'\w+'", r"JPEG|PNG|WebP"):
            assert sorted(re.findall(pattern, texts["fr"])) == \
                sorted(re.findall(pattern, texts["en"])), (code, pattern)
    assert MESSAGES["no_file"]["fr"].startswith("Aucun fichier fourni")
    assert MESSAGES["unsupported_format"]["fr"].startswith("Format d'image non supporté")
    assert message("file_too_large", "fr", limit="5MB") == \
        "La taille de l'image ne doit pas dépasser 5MB"
