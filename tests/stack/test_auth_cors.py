"""Who may upload, through the real stack: Bearer JWTs checked by the app behind Traefik, CORS
answered by the edge alone, and the per-client rate limit (also behind a load balancer). Header
names that alias others are test_header_aliases.py's subject."""

import base64
import hashlib
import hmac
import json
import time
from concurrent.futures import ThreadPoolExecutor

import jwt
import pytest
import requests

from devstack import client
from devstack.client import clean_env, multipart
from devstack.images import make_image
from helpers import assert_json_error, pem_pair, stored_files
from stack.net import probe_id

pytestmark = pytest.mark.stack

SECRET = "a gateway secret for the stack tests, 32+ characters"
AUDIENCE, ISSUER = "uploads", "https://gateway.example.test"
ALLOWED, OTHER = "http://app.example.test:3000", "http://elsewhere.example.test"
API = "/api/upload/avatar"
STACK = {"MIN_FREE_BYTES": 0}


def claims(**extra):
    return {"sub": "user-42", "aud": AUDIENCE, "iss": ISSUER, "exp": int(time.time()) + 300,
            **extra}


def b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def unsigned(payload) -> str:
    """`alg: none`, no signature."""
    head = b64(json.dumps({"alg": "none", "typ": "JWT"}).encode())
    return f"{head}.{b64(json.dumps(payload).encode())}."


def hmac_with_public_key(payload, public_pem: str) -> str:
    """The algorithm-confusion forgery: HS256 keyed with the server's own public key (PyJWT
    refuses to make one, so it is made by hand)."""
    head = b64(json.dumps({"alg": "HS256", "typ": "JWT"}).encode())
    signing_input = f"{head}.{b64(json.dumps(payload).encode())}"
    mac = hmac.new(public_pem.encode(), signing_input.encode(), hashlib.sha256).digest()
    return f"{signing_input}.{b64(mac)}"


def post(base_url, token=None, origin=None, headers=None, query=""):
    sent = dict(headers or {})
    if token is not None:
        sent["Authorization"] = f"Bearer {token}"
    if origin is not None:
        sent["Origin"] = origin
    return requests.post(f"{base_url}{API}{query}", headers=sent, timeout=30,
                         files={"avatar": ("a.jpg", make_image(), "image/jpeg")})


def preflight(base_url, origin, query=""):
    return requests.options(f"{base_url}{API}{query}", timeout=10, headers={
        "Origin": origin, "Access-Control-Request-Method": "POST",
        "Access-Control-Request-Headers": "authorization"})


def grants(answer) -> list[str]:
    """Every Access-Control-Allow-Origin line, unmerged (a second one would show here)."""
    return answer.raw.headers.getlist("Access-Control-Allow-Origin")


def cors_headers(answer) -> list[str]:
    return [name for name in answer.headers if name.lower().startswith("access-control-")]


@pytest.fixture(scope="module")
def jwt_stack(tmp_path_factory):
    """HS256 tokens with audience and issuer, and one browser origin on the CORS allowlist."""
    from devstack import Stack

    root = tmp_path_factory.mktemp("jwt-stack") / "root"
    env = clean_env(AUTH="jwt", JWT_SECRET=SECRET, JWT_AUDIENCE=AUDIENCE, JWT_ISSUER=ISSUER,
                    MIN_FREE_BYTES=0, CORS_ORIGINS=f"{ALLOWED}, https://second.example.test")
    with Stack(root=root, env=env) as running:
        yield running


# -- JWT ------------------------------------------------------------------------------------------

def test_a_valid_token_uploads_and_only_its_subject_is_logged(jwt_stack):
    token = jwt.encode(claims(), SECRET, "HS256")
    answer = post(jwt_stack.url, token)
    assert answer.status_code == 201, answer.text
    assert (jwt_stack.root / answer.json()["data"]["path"].lstrip("/")).is_file()
    log = jwt_stack.log("gunicorn")
    stored = [json.loads(line) for line in log.splitlines() if '"msg": "stored"' in line]
    assert [r["sub"] for r in stored if r["path"] == answer.json()["data"]["path"]] == ["user-42"]
    assert token.split(".")[2] not in log


BAD_TOKENS = {
    "none": lambda: None,
    "not-a-jwt": lambda: "not.a.token",
    "expired": lambda: jwt.encode(claims(exp=int(time.time()) - 3600), SECRET, "HS256"),
    "no-exp": lambda: jwt.encode({k: v for k, v in claims().items() if k != "exp"}, SECRET),
    "wrong-signature": lambda: jwt.encode(claims(), "another secret, also 32+ characters long"),
    "wrong-audience": lambda: jwt.encode(claims(aud="billing"), SECRET, "HS256"),
    "wrong-issuer": lambda: jwt.encode(claims(iss="https://evil.example.test"), SECRET),
    "alg-none": lambda: unsigned(claims()),
    "another-key": lambda: jwt.encode(claims(), pem_pair("RS256")[0], "RS256"),
}


@pytest.mark.parametrize("kind", list(BAD_TOKENS))
def test_a_bad_or_missing_token_gets_401_and_nothing_is_written(jwt_stack, kind):
    before = stored_files(jwt_stack.root)
    answer = post(jwt_stack.url, BAD_TOKENS[kind]())
    assert_json_error(answer, 401, "unauthorized")
    assert answer.headers["WWW-Authenticate"].startswith('Bearer realm="uploads"')
    assert stored_files(jwt_stack.root) == before


@pytest.mark.parametrize("kind", ["RS256", "ES256"])
def test_a_public_key_accepts_its_own_tokens_only(make_stack, kind):
    key, public = pem_pair(kind)
    keyed = make_stack(**STACK, AUTH="jwt", JWT_PUBLIC_KEY=public)
    own = {"sub": "user-7", "exp": int(time.time()) + 300}
    assert post(keyed.url, jwt.encode(own, key, kind)).status_code == 201
    before = stored_files(keyed.root)
    forged = [jwt.encode(own, pem_pair(kind)[0], kind),  # another key pair
              hmac_with_public_key(own, public),
              unsigned(own)]
    for token in forged:
        answer = post(keyed.url, token)
        assert_json_error(answer, 401, "unauthorized")
        assert answer.headers["WWW-Authenticate"].startswith("Bearer")
    assert stored_files(keyed.root) == before


# -- CORS ------------------------------------------------------------------------------------------

def test_an_allowed_origins_preflight_is_answered_by_the_edge(jwt_stack):
    marker = probe_id("preflight")
    answer = preflight(jwt_stack.url, ALLOWED, f"?probe={marker}")
    assert answer.status_code in (200, 204)
    assert grants(answer) == [ALLOWED]
    assert "POST" in answer.headers["Access-Control-Allow-Methods"]
    assert "DELETE" in answer.headers["Access-Control-Allow-Methods"]  # a page's delete_url
    assert "authorization" in answer.headers["Access-Control-Allow-Headers"].lower()
    assert "Access-Control-Allow-Credentials" not in answer.headers
    # The control: a request that does reach the app is in its access log.
    control = probe_id("control")
    post(jwt_stack.url, query=f"?probe={control}")
    deadline = time.monotonic() + 10
    while control not in jwt_stack.log("gunicorn"):
        assert time.monotonic() < deadline, "the control request never reached the app's log"
        time.sleep(0.1)
    assert marker not in jwt_stack.log("gunicorn")


def test_an_allowed_origin_uploads_with_one_grant_and_vary_origin(jwt_stack):
    answer = post(jwt_stack.url, jwt.encode(claims(), SECRET, "HS256"), origin=ALLOWED)
    assert answer.status_code == 201
    assert grants(answer) == [ALLOWED]
    assert "Origin" in answer.headers["Vary"]
    refused = post(jwt_stack.url, origin=ALLOWED)  # the page must be able to read its errors
    assert_json_error(refused, 401, "unauthorized")
    assert grants(refused) == [ALLOWED]
    exposed = refused.headers["Access-Control-Expose-Headers"].lower()
    assert "retry-after" in exposed and "x-request-id" in exposed  # when to retry, which request


@pytest.mark.parametrize("origin", [OTHER, "null", "http://app.example.test",
                                    "https://app.example.test:3000"])
def test_another_origin_gets_no_grant(jwt_stack, origin):
    assert grants(preflight(jwt_stack.url, origin)) == []
    answer = post(jwt_stack.url, jwt.encode(claims(), SECRET, "HS256"), origin=origin)
    assert grants(answer) == []
    assert "Origin" in answer.headers["Vary"]  # caches keep the answers per origin apart


def test_the_app_itself_never_answers_cors(jwt_stack):
    token = jwt.encode(claims(), SECRET, "HS256")
    for answer in (post(jwt_stack.app_url, token, origin=ALLOWED),
                   post(jwt_stack.app_url, origin=ALLOWED),
                   preflight(jwt_stack.app_url, ALLOWED)):
        assert answer.status_code in (200, 201, 401), answer.status_code
        assert cors_headers(answer) == []


def test_without_an_allowlist_there_are_no_cors_headers_at_all(stack):
    for answer in (preflight(stack.url, ALLOWED), post(stack.url, origin=ALLOWED),
                   post(stack.url, origin=OTHER)):
        assert cors_headers(answer) == [], answer.headers
        assert "Origin" not in answer.headers.get("Vary", "")


# -- rate limit -----------------------------------------------------------------------------------

def test_a_burst_from_one_ip_gets_exactly_the_burst_through(make_stack):
    burst = 5
    # Eight at once from one address: the app's own per-client share (CLIENT_SLOTS) is widened
    # so that only the edge's bucket decides here.
    limited = make_stack(**STACK, RATE_LIMIT=1, RATE_BURST=burst, CORS_ORIGINS=ALLOWED,
                         CLIENT_SLOTS=8)
    assert preflight(limited.url, ALLOWED).status_code in (200, 204)  # spends no token
    with ThreadPoolExecutor(max_workers=8) as pool:
        answers = list(pool.map(lambda _: post(limited.url, origin=ALLOWED), range(burst + 10)))
    statuses = sorted(a.status_code for a in answers)
    assert statuses == [201] * burst + [429] * 10
    for answer in answers:
        assert grants(answer) == [ALLOWED]
        if answer.status_code == 429:
            assert_json_error(answer, 429, "rate_limited")
    assert len(list((limited.root / "i").rglob("*.jpg"))) == burst


def post_from(base_url, source, forwarded_for=None) -> int:
    """An upload sent from another loopback address, as a load balancer or a client would."""
    body, content_type = multipart([("avatar", "a.jpg", "image/jpeg", make_image())])
    headers = {"X-Forwarded-For": forwarded_for} if forwarded_for else {}
    return client.post_from(base_url, source, body, content_type, headers, target=API)[0]


def test_behind_a_trusted_load_balancer_each_client_has_its_own_bucket(make_stack):
    # 127.0.0.1 plays the load balancer; 127.0.0.2 and 127.0.0.3 reach the edge directly.
    edge = make_stack(**STACK, RATE_LIMIT=1, RATE_BURST=2, TRUSTED_PROXIES="127.0.0.1/32",
                      TRUSTED_HOPS=1).url
    lb = "127.0.0.1"
    assert [post_from(edge, lb, "203.0.113.1") for _ in range(3)] == [201, 201, 429]
    assert post_from(edge, lb, "203.0.113.2") == 201  # another client behind the same balancer
    # What a client writes into X-Forwarded-For before the balancer appends its address buys
    # nothing: the balancer's entry is the one read.
    assert post_from(edge, lb, "198.51.100.9, 203.0.113.1") == 429
    # A direct client's own X-Forwarded-For is dropped at the edge: its TCP address counts.
    assert [post_from(edge, "127.0.0.2", "203.0.113.3") for _ in range(2)] == [201, 201]
    assert post_from(edge, "127.0.0.2", "203.0.113.4") == 429
    # ...and direct clients do not share one bucket.
    assert post_from(edge, "127.0.0.3") == 201


def test_without_trusted_proxies_x_forwarded_for_buys_no_new_bucket(make_stack):
    edge = make_stack(**STACK, RATE_LIMIT=1, RATE_BURST=2).url
    answers = [post_from(edge, "127.0.0.1", f"203.0.113.{n}") for n in range(4)]
    assert answers == [201, 201, 429, 429]

