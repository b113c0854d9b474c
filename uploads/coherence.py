"""What the settings table cannot say row by row: secrets read from files, and settings that
are each valid but wrong together (S3 without a bucket, JWT without a key, HTTPS without a
domain). Each problem is one clause of the start-up's one-line refusal."""

from .values import is_link_secret, is_public_key


def secret_files(config: dict) -> list[str]:
    """`X_FILE` settings: X is read from that file (a Docker or Kubernetes secret mount)."""
    problems = []
    for name in ("S3_ACCESS_KEY_ID", "S3_SECRET_ACCESS_KEY", "LINK_SECRET", "DELETE_SECRET"):
        path = config[name + "_FILE"]
        if not path:
            continue
        if config[name]:
            problems.append(f"set UPLOADS_{name} or UPLOADS_{name}_FILE, not both")
            continue
        try:
            with open(path, encoding="utf-8") as f:
                config[name] = f.read().strip()
        except OSError as exc:
            problems.append(f"UPLOADS_{name}_FILE={path!r}: {exc.strerror or exc}")
    return problems


def cross_checks(config: dict) -> list[str]:
    """Settings that are each valid but not together."""
    problems = []
    if config["STORAGE"] == "s3" and not config["S3_BUCKET"]:
        problems.append("UPLOADS_STORAGE=s3 needs UPLOADS_S3_BUCKET")
    if bool(config["S3_ACCESS_KEY_ID"]) != bool(config["S3_SECRET_ACCESS_KEY"]):
        problems.append("UPLOADS_S3_ACCESS_KEY_ID and UPLOADS_S3_SECRET_ACCESS_KEY go together")
    if config["AUTH"] == "jwt" and not (config["JWT_SECRET"] or config["JWT_PUBLIC_KEY"]):
        problems.append("UPLOADS_AUTH=jwt needs UPLOADS_JWT_SECRET or UPLOADS_JWT_PUBLIC_KEY")
    if config["JWT_SECRET"] and config["JWT_PUBLIC_KEY"]:
        problems.append("set UPLOADS_JWT_SECRET or UPLOADS_JWT_PUBLIC_KEY, not both")
    if config["HTTPS"] and not (config["DOMAIN"] and config["ACME_EMAIL"]):
        problems.append("UPLOADS_HTTPS=true needs UPLOADS_DOMAIN and UPLOADS_ACME_EMAIL "
                        "(without them Traefik serves its own default certificate)")
    if config["ATTACHMENT_IMAGE_MAX_BYTES"] > config["ATTACHMENT_MAX_BYTES"]:
        problems.append("UPLOADS_ATTACHMENT_IMAGE_MAX_BYTES must not exceed "
                        "UPLOADS_ATTACHMENT_MAX_BYTES (which bounds a whole attachment upload)")
    if config["JWT_PUBLIC_KEY"] and not is_public_key(config["JWT_PUBLIC_KEY"]):
        problems.append("UPLOADS_JWT_PUBLIC_KEY is not a PEM RSA or EC public key")
    if config["JWT_SECRET"] and len(config["JWT_SECRET"]) < 32:
        problems.append("UPLOADS_JWT_SECRET must be at least 32 characters")
    if config["DELETE_SECRET"] and len(config["DELETE_SECRET"]) < 32:
        problems.append("UPLOADS_DELETE_SECRET must be at least 32 characters")
    if config["METRICS_PORT"] in (config["PORT"], 8080, 8081, 8082, 8084):
        problems.append("UPLOADS_METRICS_PORT must differ from UPLOADS_PORT, 8080-8082 and 8084 "
                        "(the edge's other ports in compose)")
    if config["REDIRECT_LISTEN"] and not config["HTTPS"]:
        problems.append("UPLOADS_REDIRECT_LISTEN redirects to HTTPS: it needs UPLOADS_HTTPS=true")
    if config["ATTACHMENTS_PRIVATE"] and not config["LINK_SECRET"]:
        problems.append("UPLOADS_ATTACHMENTS_PRIVATE=true needs UPLOADS_LINK_SECRET (or "
                        "UPLOADS_LINK_SECRET_FILE): the key nginx checks links with")
    if config["LINK_SECRET"] and not is_link_secret(config["LINK_SECRET"]):
        problems.append("UPLOADS_LINK_SECRET must be at least 32 characters, only A-Z a-z 0-9 "
                        "_ - (it is written into nginx's configuration)")
    if config["TRUSTED_HOPS"] and not config["TRUSTED_PROXIES"]:
        problems.append("UPLOADS_TRUSTED_HOPS needs UPLOADS_TRUSTED_PROXIES, whose header it reads")
    return problems
