"""Errors in the client's language, whoever answers: the app, Traefik's own refusals (their JSON
pages come from nginx) and nginx's. French when the client asks for neither language."""

import pytest
import requests

from helpers import assert_json_error
from stack.net import push_body

pytestmark = pytest.mark.stack

BROWSERS = {  # what browsers send, and the language each should get
    "english": ("en-US,en;q=0.9", "en"),
    "french": ("fr-FR,fr;q=0.9,en-US;q=0.8,en;q=0.7", "fr"),
    "german": ("de-DE,de;q=0.9", "fr"),
    "none": (None, "fr"),
    "capitals": ("EN", "en"),           # a tag is case-insensitive
    "spaced": ("de, fr, en", "fr"),     # as HTTP libraries write it
    "refused": ("en;q=0, fr-CA", "fr"),
}
TOO_LARGE = {"en": "The image must not be larger than 5MB",
             "fr": "La taille de l'image ne doit pas dépasser 5MB"}
NOT_FOUND = {"en": "Not found", "fr": "Ressource introuvable"}
UNSUPPORTED = {"en": "Unsupported image format (accepted: JPEG, PNG, WebP)",
               "fr": "Format d'image non supporté (acceptés : JPEG, PNG, WebP)"}


def _headers(accept):
    return {"Accept-Language": accept} if accept else {}


def assert_language(headers, language):
    headers = {k.lower(): v for k, v in headers.items()}
    assert headers["content-language"] == language
    assert "accept-language" in headers["vary"].lower()


@pytest.mark.parametrize("browser", sorted(BROWSERS))
def test_the_apps_refusal_is_in_the_browsers_language(stack, browser):
    accept, language = BROWSERS[browser]
    answer = requests.post(f"{stack.url}/api/upload/avatar", headers=_headers(accept),
                           files={"avatar": ("a.gif", b"GIF89a" + bytes(64), "image/gif")},
                           timeout=30)
    body = assert_json_error(answer, 415, "unsupported_format")
    assert body["error"] == UNSUPPORTED[language]
    assert_language(answer.headers, language)


@pytest.mark.parametrize("browser", sorted(BROWSERS))
def test_the_edges_413_is_in_the_browsers_language(stack, browser):
    accept, language = BROWSERS[browser]
    status, headers, body, _ = push_body(stack.url, "/api/upload/avatar", 8 * 1024 * 1024,
                                         headers=_headers(accept))
    error = assert_json_error((status, headers, body), 413, "file_too_large")
    assert error["error"] == TOO_LARGE[language]
    assert_language(headers, language)


@pytest.mark.parametrize("browser", sorted(BROWSERS))
def test_nginxs_404_is_in_the_browsers_language(image_stack, browser):
    accept, language = BROWSERS[browser]
    answer = requests.get(f"{image_stack.url}/i/p/2020/01/{'a' * 32}.jpg",
                          headers=_headers(accept), timeout=30)
    body = assert_json_error(answer, 404, "not_found")
    assert body["error"] == NOT_FOUND[language]
    assert_language(answer.headers, language)


def test_the_limits_are_read_outside_the_uploads_rate_limit(stack):
    answers = [requests.get(f"{stack.url}/api/upload/limits", timeout=10,
                            headers={"Accept-Language": "en"}) for _ in range(40)]
    assert [a.status_code for a in answers] == [200] * 40
    data = answers[0].json()["data"]
    assert data["max_bytes"] == 5 * 1024 * 1024 and data["max_bytes_text"] == "5MB"
    assert answers[0].headers["Cache-Control"] == "public, max-age=300"
    assert answers[0].headers["X-Content-Type-Options"] == "nosniff"
