"""What the local stack tells a person: the banner's first URL is the upload page, open uploads
are said plainly, a token requirement names the key that checks it, every value comes from the
settings table; a bad setting or a busy port is one line, before anything starts."""

import socket

import pytest
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

from devstack import Stack
from devstack.__main__ import banner, who_may_upload
from devstack.stack import one_line
from uploads.settings import ConfigError, load

OPEN = "NONE: anyone who can reach this port may upload"


def test_the_first_url_is_the_upload_page():
    text = banner("http://127.0.0.1:8080", "/srv/root", "var/devstack", load({}))
    first = text.splitlines()[0]
    assert first == "uploads is up: http://127.0.0.1:8080/uploads/ (the upload page)"
    assert text.count("http://") == 3 and text.endswith("Ctrl-C stops all three.")


def test_without_auth_the_banner_says_anyone_may_upload():
    for env in ({}, {"UPLOADS_AUTH": "none"}, {"UPLOADS_AUTH": " None "}):
        lines = who_may_upload(load(env)).splitlines()
        assert lines[0] == f"  auth         {OPEN} (UPLOADS_AUTH=jwt requires a token)", env


def test_with_jwt_the_banner_names_the_key_and_never_says_open():
    pem = ec.generate_private_key(ec.SECP256R1()).public_key().public_bytes(
        Encoding.PEM, PublicFormat.SubjectPublicKeyInfo).decode()
    secret = who_may_upload(load({"UPLOADS_AUTH": "jwt", "UPLOADS_JWT_SECRET": "s" * 40}))
    public = who_may_upload(load({"UPLOADS_AUTH": "jwt", "UPLOADS_JWT_PUBLIC_KEY": pem}))
    assert secret.splitlines()[0] == (
        "  auth         jwt: a Bearer token signed with the HS256 shared secret")
    assert public.splitlines()[0] == (
        "  auth         jwt: a Bearer token signed with the RS256/ES256 public key")
    for text in (secret, public):
        assert "anyone" not in text and "NONE" not in text


def test_the_banner_names_cors_and_the_rate_limit():
    default = who_may_upload(load({}))
    assert "  CORS         none (same origin only)\n" in default
    assert "  rate limit   30/min per client IP, burst 10\n" in default
    custom = who_may_upload(load({"UPLOADS_CORS_ORIGINS": "https://a.test, ,https://b.test",
                                  "UPLOADS_RATE_LIMIT": "5", "UPLOADS_RATE_BURST": "2",
                                  "UPLOADS_TRUSTED_PROXIES": "10.0.0.1"}))
    assert "  CORS         https://a.test, https://b.test\n" in custom
    assert ("  rate limit   5/min per client IP, burst 2 "
            "(X-Forwarded-For believed from 10.0.0.1)\n") in custom
    assert "  rate limit   off\n" in who_may_upload(load({"UPLOADS_RATE_LIMIT": "0"}))


def test_a_bad_setting_is_one_line_naming_each_problem():
    with pytest.raises(ConfigError) as refused:
        load({"UPLOADS_PORT": "abc", "UPLOADS_PROT": "1"})
    line = one_line(refused.value)
    assert "\n" not in line and line.startswith("invalid configuration: ")
    assert "UPLOADS_PORT='abc': expected a whole number from 1 to 65535" in line
    assert "UPLOADS_PROT is not a setting" in line


def test_a_stack_refuses_a_bad_setting_before_making_anything(tmp_path):
    with pytest.raises(ConfigError) as refused:
        Stack(root=tmp_path / "root", env={"UPLOADS_READ_TIMEOUT": "1"})
    assert refused.value.detail == ("invalid configuration: UPLOADS_READ_TIMEOUT='1': "
                                    "expected a whole number from 2 to 360")
    assert list(tmp_path.iterdir()) == []


def test_a_busy_edge_port_is_one_line_naming_the_setting(tmp_path):
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        stack = Stack(root=tmp_path / "root", port=port, env={})
        with pytest.raises(RuntimeError) as refused:
            stack.start()
    assert str(refused.value) == (f"port {port} is already in use by another program: stop it, "
                                  "or set UPLOADS_PORT to a free port")
    assert stack.procs == {} and not (tmp_path / "root").exists()
