"""One wording for every error: the edge's JSON bodies are generated from the app's messages."""

import json

import pytest

from uploads import edge_errors
from uploads.messages import MESSAGES, message


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
