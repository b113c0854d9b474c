"""The settings table: defaults, fail-fast validation, the README table."""

import pathlib
import re

import pytest

from uploads import create_app, settings
from uploads.settings import ConfigError


def test_defaults_are_the_documented_ones():
    config = settings.load({})
    assert config["MAX_BYTES"] == 5 * 1024 * 1024
    assert config["LANGUAGE"] == "fr" and config["ALLOW_EPHEMERAL"] is False
    assert config["MAX_SIDE"] == 2048 and config["AUTH"] == "none"


@pytest.mark.parametrize("name, value", [
    ("LANGUAGE", "de"), ("MAX_BYTES", "5MB"), ("MAX_BYTES", "0"), ("ALLOW_EPHEMERAL", "maybe"),
    ("PUBLIC_BASE_URL", "example.com"), ("PUBLIC_BASE_URL", "ftp://x"),
    ("PUBLIC_BASE_URL", "https://x/?q=1"), ("MAX_SIDE", "__import__('os')"), ("WORKERS", "-1"),
    ("AUTH", "basic"), ("CORS_ORIGINS", "*"), ("CORS_ORIGINS", "https://a.com/path"),
    ("JPEG_QUALITY", "100"), ("RATE_LIMIT", "ten"), ("TRUSTED_PROXIES", "10.0.0.0/33"),
    ("TRUSTED_PROXIES", "lb.example.com"), ("DECODE_SLOTS", "0"),
])
def test_a_bad_value_stops_start_up_naming_the_variable(name, value):
    with pytest.raises(ConfigError) as error:
        settings.load({f"UPLOADS_{name}": value})
    assert f"UPLOADS_{name}" in str(error.value)


@pytest.mark.parametrize("env, needle", [
    ({"UPLOADS_AUTH": "jwt"}, "UPLOADS_JWT_SECRET or UPLOADS_JWT_PUBLIC_KEY"),
    ({"UPLOADS_AUTH": "jwt", "UPLOADS_JWT_SECRET": "short"}, "at least 32"),
    ({"UPLOADS_JWT_SECRET": "s" * 40, "UPLOADS_JWT_PUBLIC_KEY": "k"}, "not both"),
    ({"UPLOADS_TRUSTED_HOPS": "1"}, "needs UPLOADS_TRUSTED_PROXIES"),
    ({"UPLOADS_HTTPS": "true", "UPLOADS_DOMAIN": "example.com"}, "needs UPLOADS_DOMAIN and"),
    ({"UPLOADS_AUTH": "jwt", "UPLOADS_JWT_PUBLIC_KEY": "-----BEGIN PUBLIC KEY-----\nnope"},
     "not a PEM RSA or EC public key"),
])
def test_cross_checks(env, needle):
    with pytest.raises(ConfigError, match=needle):
        settings.load(env)


def test_every_problem_is_reported_at_once():
    with pytest.raises(ConfigError) as error:
        settings.load({"UPLOADS_LANGUAGE": "de", "UPLOADS_WORKERS": "many"})
    assert "UPLOADS_LANGUAGE" in str(error.value) and "UPLOADS_WORKERS" in str(error.value)


def test_base_url_loses_its_trailing_slash():
    assert settings.load({"UPLOADS_PUBLIC_BASE_URL": "https://cdn.example.com/"})[
        "PUBLIC_BASE_URL"] == "https://cdn.example.com"


def test_the_readme_shows_the_current_table():
    readme = (pathlib.Path(__file__).parent.parent / "README.md").read_text()
    assert settings.markdown_table() in readme, "run: make readme"


def test_storage_that_is_not_a_mount_is_refused(tmp_path):
    with pytest.raises(ConfigError, match="UPLOADS_ALLOW_EPHEMERAL"):
        create_app({"ROOT": str(tmp_path)})
    with pytest.raises(ConfigError, match="does not exist"):
        create_app({"ROOT": str(tmp_path / "missing")})


def test_trusted_proxies_take_addresses_and_networks():
    config = settings.load({"UPLOADS_TRUSTED_PROXIES": "10.0.0.0/8, 192.168.1.7,::1",
                            "UPLOADS_TRUSTED_HOPS": "1"})
    assert config["TRUSTED_HOPS"] == 1 and "10.0.0.0/8" in config["TRUSTED_PROXIES"]


def test_a_bad_number_says_what_is_expected():
    with pytest.raises(ConfigError, match="expected a whole number from 1 to 64"):
        settings.load({"UPLOADS_WORKERS": "lots"})


@pytest.mark.parametrize("typo, closest", [
    ("UPLOADS_MAX_BYTE", "UPLOADS_MAX_BYTES"),
    ("UPLOADS_RATELIMIT", "UPLOADS_RATE_LIMIT"),
    ("UPLOADS_JWT_SECRETS", "UPLOADS_JWT_SECRET"),
])
def test_an_unknown_variable_stops_the_start_naming_the_closest_setting(typo, closest):
    with pytest.raises(ConfigError) as refused:
        settings.load({typo: "1"})
    assert f"{typo} is not a setting; did you mean {closest}?" in refused.value.detail


def test_an_unknown_variable_with_nothing_close_points_to_the_table():
    with pytest.raises(ConfigError) as refused:
        settings.load({"UPLOADS_ZZZZZZZZ": "1"})
    assert "UPLOADS_ZZZZZZZZ is not a setting (README, Configuration)" in refused.value.detail


def test_lists_are_parsed_once_into_tuples():
    config = settings.load({"UPLOADS_CORS_ORIGINS": " https://a.example , ,https://b.example",
                            "UPLOADS_TRUSTED_PROXIES": "10.0.0.0/8,"})
    assert config["CORS_ORIGINS"] == ("https://a.example", "https://b.example")
    assert config["TRUSTED_PROXIES"] == ("10.0.0.0/8",)


def test_every_variable_the_deployment_reads_is_a_setting():
    repo = pathlib.Path(__file__).parent.parent
    known = {settings.PREFIX + s.name for s in settings.SETTINGS}
    for path in ("docker-compose.traefik.yml", "traefik/dynamic/uploads.yml", ".env.example",
                 "docker/engine.sh", "docker/standins/build.sh"):
        used = set(re.findall(r"\b(UPLOADS_[A-Z][A-Z0-9_]*[A-Z0-9])\b", (repo / path).read_text()))
        assert used <= known, (path, used - known)


def test_the_edge_templates_default_to_the_tables_values():
    """Traefik's templates carry their own `| default`: each must be the table's default."""
    text = (pathlib.Path(__file__).parent.parent / "traefik/dynamic/uploads.yml").read_text()
    defaults = re.findall(r'env "UPLOADS_(\w+)" \| default "([^"]*)"', text)
    assert len(defaults) >= 8
    table = {s.name: s.default for s in settings.SETTINGS}
    for name, default in defaults:
        assert default == table[name], name


def test_s3_settings_and_their_secret_files(tmp_path):
    assert settings.load({})["STORAGE"] == "local"
    secret = tmp_path / "secret"
    secret.write_text("s3cr3t\n")
    config = settings.load({"UPLOADS_STORAGE": "s3", "UPLOADS_S3_BUCKET": "b",
                            "UPLOADS_S3_ENDPOINT": "http://127.0.0.1:8333/",
                            "UPLOADS_S3_ACCESS_KEY_ID": "AK",
                            "UPLOADS_S3_SECRET_ACCESS_KEY_FILE": str(secret)})
    assert config["S3_SECRET_ACCESS_KEY"] == "s3cr3t"
    assert config["S3_ENDPOINT"] == "http://127.0.0.1:8333"


@pytest.mark.parametrize("env, needle", [
    ({"UPLOADS_STORAGE": "s3"}, "needs UPLOADS_S3_BUCKET"),
    ({"UPLOADS_STORAGE": "gcs"}, "UPLOADS_STORAGE"),
    ({"UPLOADS_S3_ENDPOINT": "127.0.0.1:8333"}, "UPLOADS_S3_ENDPOINT"),
    ({"UPLOADS_S3_ACCESS_KEY_ID": "AK"}, "go together"),
    ({"UPLOADS_S3_SECRET_ACCESS_KEY_FILE": "/nonexistent/secret"}, "_FILE"),
    ({"UPLOADS_S3_ACCESS_KEY_ID": "AK", "UPLOADS_S3_ACCESS_KEY_ID_FILE": "/etc/hostname"},
     "not both"),
])
def test_s3_settings_that_stop_the_start_up(env, needle):
    with pytest.raises(ConfigError) as refused:
        settings.load(env)
    assert needle in refused.value.detail


def test_a_redirect_to_https_needs_https():
    with pytest.raises(ConfigError, match="UPLOADS_REDIRECT_LISTEN redirects to HTTPS"):
        settings.load({"UPLOADS_REDIRECT_LISTEN": "80"})
    https = {"UPLOADS_HTTPS": "true", "UPLOADS_DOMAIN": "example.com",
             "UPLOADS_ACME_EMAIL": "ops@example.com"}
    assert settings.load({**https, "UPLOADS_REDIRECT_LISTEN": "80"})["REDIRECT_LISTEN"] == "80"


@pytest.mark.parametrize("value, ok", [("0", True), ("31536000", True), ("63072000", True),
                                       ("63072001", False), ("-1", False), ("1y", False)])
def test_hsts_seconds_is_checked_at_start(value, ok):
    if ok:
        assert settings.load({"UPLOADS_HSTS_SECONDS": value})["HSTS_SECONDS"] == int(value)
    else:
        with pytest.raises(ConfigError, match="UPLOADS_HSTS_SECONDS"):
            settings.load({"UPLOADS_HSTS_SECONDS": value})


def test_the_volume_settings_default_to_any_store_and_the_fixed_name():
    config = settings.load({"UPLOADS_VOLUME_ID": "  3f0c6d1e-0000-4000-8000-000000000000\n"})
    assert config["VOLUME_ID"] == "3f0c6d1e-0000-4000-8000-000000000000"
    defaults = settings.load({})
    assert (defaults["VOLUME_ID"], defaults["VOLUME"]) == ("", "uploads_data")
