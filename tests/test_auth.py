"""Who may upload: Bearer JWT verification, in process (the stack tier repeats it end to end)."""

import base64
import json
import time

import jwt
import pytest

from devstack.client import multipart
from devstack.images import make_image
from helpers import pem_pair, stored_files
from uploads import create_app

SECRET = "s" * 48


def _post(app, token=None, scheme="Bearer"):
    body, ctype = multipart([("avatar", "a.jpg", "image/jpeg", make_image())])
    headers = {"Authorization": f"{scheme} {token}"} if token is not None else {}
    return app.test_client().post("/api/upload/avatar", data=body, content_type=ctype,
                                  headers=headers)


def _claims(**extra):
    return {"sub": "user-42", "exp": int(time.time()) + 300, **extra}


@pytest.fixture
def hs_app(root):
    return create_app({"ROOT": str(root), "ALLOW_EPHEMERAL": True, "MIN_FREE_BYTES": 0,
                       "AUTH": "jwt", "JWT_SECRET": SECRET, "JWT_AUDIENCE": "uploads",
                       "JWT_ISSUER": "gateway"})


def test_a_valid_token_uploads_and_logs_the_subject_not_the_token(hs_app, caplog):
    token = jwt.encode(_claims(aud="uploads", iss="gateway"), SECRET, "HS256")
    caplog.set_level("INFO", "uploads")
    response = _post(hs_app, token)
    assert response.status_code == 201, response.json
    stored = [r for r in caplog.records if r.getMessage() == "stored"]
    assert [r.sub for r in stored] == ["user-42"] and token not in caplog.text


def _none_token():
    enc = lambda d: base64.urlsafe_b64encode(json.dumps(d).encode()).rstrip(b"=").decode()  # noqa: E731
    return f"{enc({'alg': 'none', 'typ': 'JWT'})}.{enc(_claims(aud='uploads', iss='gateway'))}."


BAD_TOKENS = {
    "missing": lambda: None,
    "empty": lambda: "",
    "not-bearer": lambda: ("Basic", "dXNlcjpwYXNz"),
    "garbage": lambda: "not.a.jwt",
    "expired": lambda: jwt.encode(_claims(aud="uploads", iss="gateway",
                                          exp=int(time.time()) - 3600), SECRET, "HS256"),
    "no-exp": lambda: jwt.encode({"sub": "x", "aud": "uploads", "iss": "gateway"}, SECRET),
    "wrong-signature": lambda: jwt.encode(_claims(aud="uploads", iss="gateway"), "t" * 48),
    "wrong-audience": lambda: jwt.encode(_claims(aud="other", iss="gateway"), SECRET),
    "wrong-issuer": lambda: jwt.encode(_claims(aud="uploads", iss="evil"), SECRET),
    "alg-none": _none_token,
    "other-key-rs256": lambda: jwt.encode(_claims(aud="uploads", iss="gateway"),
                                          pem_pair("RS256")[0], "RS256"),
}


@pytest.mark.parametrize("kind", sorted(BAD_TOKENS))
def test_bad_tokens_are_401_and_nothing_is_written(hs_app, root, kind):
    token = BAD_TOKENS[kind]()
    scheme = "Bearer"
    if isinstance(token, tuple):
        scheme, token = token
    response = _post(hs_app, token, scheme)
    assert response.status_code == 401
    assert response.json["code"] == "unauthorized" and response.json["success"] is False
    assert response.headers["WWW-Authenticate"].startswith('Bearer realm="uploads"')
    assert stored_files(root) == []


@pytest.mark.parametrize("alg", ["RS256", "ES256"])
def test_public_key_tokens(root, alg):
    private, public = pem_pair(alg)
    app = create_app({"ROOT": str(root), "ALLOW_EPHEMERAL": True, "MIN_FREE_BYTES": 0,
                      "AUTH": "jwt", "JWT_PUBLIC_KEY": public})
    assert _post(app, jwt.encode(_claims(), private, alg)).status_code == 201
    other, _ = pem_pair(alg)
    assert _post(app, jwt.encode(_claims(), other, alg)).status_code == 401
    # the classic confusion: the public key used as an HMAC secret
    forged = jwt.encode(_claims(), "x" * 48, "HS256")
    assert _post(app, forged).status_code == 401


def test_leeway_tolerates_small_clock_skew(hs_app):
    token = jwt.encode(_claims(aud="uploads", iss="gateway", exp=int(time.time()) - 5), SECRET)
    assert _post(hs_app, token).status_code == 201
