"""The local stack's banner on who may upload: open uploads must be said plainly, a token
requirement must name the key that checks it."""

from devstack.__main__ import who_may_upload

OPEN = "NONE: anyone who can reach this port may upload"


def test_without_auth_the_banner_says_anyone_may_upload():
    for env in ({}, {"UPLOADS_AUTH": "none"}, {"UPLOADS_AUTH": " None "}, {"UPLOADS_AUTH": ""}):
        lines = who_may_upload(env).splitlines()
        assert lines[0] == f"  auth         {OPEN} (UPLOADS_AUTH=jwt requires a token)", env


def test_with_jwt_the_banner_names_the_key_and_never_says_open():
    secret = who_may_upload({"UPLOADS_AUTH": "jwt", "UPLOADS_JWT_SECRET": "s" * 40})
    public = who_may_upload({"UPLOADS_AUTH": "jwt", "UPLOADS_JWT_PUBLIC_KEY": "-----BEGIN"})
    assert secret.splitlines()[0] == (
        "  auth         jwt: a Bearer token signed with the HS256 shared secret")
    assert public.splitlines()[0] == (
        "  auth         jwt: a Bearer token signed with the RS256/ES256 public key")
    for banner in (secret, public):
        assert "anyone" not in banner and "NONE" not in banner


def test_the_banner_names_cors_and_the_rate_limit():
    default = who_may_upload({})
    assert "  CORS         none (same origin only)\n" in default
    assert "  rate limit   30/min per client IP, burst 10\n" in default
    custom = who_may_upload({"UPLOADS_CORS_ORIGINS": "https://a.test, ,https://b.test",
                             "UPLOADS_RATE_LIMIT": "5", "UPLOADS_RATE_BURST": "2",
                             "UPLOADS_TRUSTED_PROXIES": "10.0.0.1"})
    assert "  CORS         https://a.test, https://b.test\n" in custom
    assert ("  rate limit   5/min per client IP, burst 2 "
            "(X-Forwarded-For believed from 10.0.0.1)\n") in custom
    assert "  rate limit   off\n" in who_may_upload({"UPLOADS_RATE_LIMIT": "0"})
