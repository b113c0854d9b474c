"""Who may upload: nobody is asked (`UPLOADS_AUTH=none`, the old route's behaviour) or a Bearer
JWT from the gateway is verified (`jwt`).

The token is checked before the body is read, so an anonymous client cannot make the app decode
anything. Only the subject is kept, for the log line; the token itself is never logged.
"""

import jwt

from .errors import Unauthorized

HMAC_ALGORITHMS = ["HS256"]
KEY_ALGORITHMS = ["RS256", "ES256"]


def _challenge(error: str, detail: str) -> Unauthorized:
    exc = Unauthorized(detail)
    exc.headers["WWW-Authenticate"] = f'Bearer realm="uploads", error="{error}"'
    return exc


def authenticate(config, authorization: str | None) -> str | None:
    """The token's subject, None when auth is off; raise Unauthorized otherwise."""
    if config["AUTH"] == "none":
        return None
    scheme, _, token = (authorization or "").partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        exc = _challenge("invalid_request", "no bearer token")
        exc.headers["WWW-Authenticate"] = 'Bearer realm="uploads"'
        raise exc
    if config["JWT_SECRET"]:
        key, algorithms = config["JWT_SECRET"], HMAC_ALGORITHMS
    else:
        key, algorithms = config["JWT_PUBLIC_KEY"], KEY_ALGORITHMS
    try:
        claims = jwt.decode(
            token.strip(), key, algorithms=algorithms,
            audience=config["JWT_AUDIENCE"] or None, issuer=config["JWT_ISSUER"] or None,
            leeway=config["JWT_LEEWAY"],
            options={"require": ["exp"], "verify_aud": bool(config["JWT_AUDIENCE"])},
        )
    except jwt.PyJWTError as exc:
        raise _challenge("invalid_token", f"{type(exc).__name__}: {exc}") from exc
    return str(claims.get("sub", ""))
