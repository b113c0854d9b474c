"""The value parsers of the settings table: each takes the raw text of a variable and returns
its value, or raises ValueError with what was expected (the table names the variable)."""

import ipaddress
import re
from urllib.parse import urlsplit


def boolean(raw: str) -> bool:
    value = raw.strip().lower()
    if value in ("1", "true", "yes", "on"):
        return True
    if value in ("0", "false", "no", "off"):
        return False
    raise ValueError("expected true or false")


def whole(low: int, high: int | None = None):
    def parse(raw: str) -> int:
        try:
            value = int(raw.strip().replace("_", ""))
        except ValueError:
            raise ValueError(f"expected a whole number from {low} to {high or 'up'}") from None
        if value < low or (high is not None and value > high):
            raise ValueError(f"expected a whole number from {low} to {high or 'up'}")
        return value

    return parse


def choice(*options: str):
    def parse(raw: str) -> str:
        value = raw.strip().lower()
        if value not in options:
            raise ValueError(f"expected one of: {', '.join(options)}")
        return value

    return parse


def base_url(raw: str) -> str:
    value = raw.strip().rstrip("/")
    parts = urlsplit(value)
    if parts.scheme not in ("http", "https") or not parts.netloc or parts.query or parts.fragment:
        raise ValueError("expected an absolute http(s) URL such as https://example.com")
    return value


def text(raw: str) -> str:
    return raw.strip()


def endpoint(raw: str) -> str:
    return base_url(raw) if raw.strip() else ""


def sizes(low: int, high: int):
    """A comma-separated set of pixel sizes, sorted from the largest; empty for none."""
    def parse(raw: str) -> tuple[int, ...]:
        expected = f"expected comma-separated sizes from {low} to {high} px, or nothing"
        try:
            values = {int(item) for item in items(raw)}
        except ValueError:
            raise ValueError(expected) from None
        if any(value < low or value > high for value in values):
            raise ValueError(expected)
        return tuple(sorted(values, reverse=True))

    return parse


def items(raw: str) -> tuple[str, ...]:
    """A comma-separated list: blanks dropped, spaces trimmed."""
    return tuple(item.strip() for item in raw.split(",") if item.strip())


def origins(raw: str) -> tuple[str, ...]:
    for origin in items(raw):
        if not re.fullmatch(r"https?://[A-Za-z0-9.\-]+(:\d+)?", origin):
            raise ValueError(f"{origin!r} is not an origin such as https://app.example.com")
    return items(raw)


def networks(raw: str) -> tuple[str, ...]:
    for item in items(raw):
        try:
            ipaddress.ip_network(item, strict=False)
        except ValueError:
            raise ValueError(f"{item!r} is not an address or CIDR such as 10.0.0.0/8") from None
    return items(raw)


def is_public_key(pem: str) -> bool:
    from cryptography.hazmat.primitives.asymmetric import ec, rsa
    from cryptography.hazmat.primitives.serialization import load_pem_public_key

    try:
        key = load_pem_public_key(pem.encode())
    except (ValueError, TypeError):
        return False
    return isinstance(key, rsa.RSAPublicKey | ec.EllipticCurvePublicKey)


def is_link_secret(value: str) -> bool:
    """At least 32 characters of the base64url alphabet: long enough that it cannot be
    guessed, and nothing that could end a string in nginx's configuration or a compose file."""
    return re.fullmatch(r"[A-Za-z0-9_-]{32,512}", value) is not None
