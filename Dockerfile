# The upload shim: gunicorn + Flask as a non-root user, writing only to the volume at /data.
#
# No VOLUME instruction on purpose: the app refuses to start unless /data is a mount point of
# its own, and an anonymous volume would quietly satisfy that check and lose files on the next
# `docker compose down`. Mount a named volume there (docker-compose.traefik.yml does).

FROM python:3.12-slim-bookworm AS build
ENV PIP_NO_CACHE_DIR=1 PIP_DISABLE_PIP_VERSION_CHECK=1
RUN python -m venv /opt/venv
COPY requirements.txt /tmp/requirements.txt
RUN /opt/venv/bin/pip install --no-compile -r /tmp/requirements.txt \
    && /opt/venv/bin/python -m compileall -q /opt/venv/lib

FROM python:3.12-slim-bookworm
LABEL org.opencontainers.image.title="uploads"
ENV PATH=/opt/venv/bin:$PATH \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    UPLOADS_ROOT=/data \
    UPLOADS_BIND=0.0.0.0:8000
# A fixed uid, and the mount point owned by it before USER: a new named volume takes the
# ownership and mode of the image's /data, so the app can write into it from the first start;
# the same for S3 mode's spool of attachments (docker-compose.s3.yml mounts a volume there),
# and for /run/uploads-link, where it writes nginx's include of the link secret.
RUN groupadd --system --gid 10001 uploads \
    && useradd --system --uid 10001 --gid 10001 --no-create-home --home-dir /nonexistent \
        --shell /usr/sbin/nologin uploads \
    && install -d -o 10001 -g 10001 -m 0755 /data \
    && install -d -o 10001 -g 10001 -m 0700 /var/spool/uploads \
    && install -d -o 10001 -g 10001 -m 0755 /run/uploads-link
COPY --from=build /opt/venv /opt/venv
WORKDIR /srv/app
COPY app.py gunicorn.conf.py ./
COPY uploads/ uploads/
RUN python -m compileall -q /srv/app
USER 10001:10001
EXPOSE 8000
HEALTHCHECK --interval=10s --timeout=5s --start-period=20s --retries=3 \
    CMD ["python", "-c", "import json, urllib.error, urllib.request\ntry:\n    urllib.request.urlopen('http://127.0.0.1:8000/readyz', timeout=4)\nexcept urllib.error.HTTPError as e:\n    if json.load(e).get('code') != 'storage_full':\n        raise"]
CMD ["gunicorn", "-c", "gunicorn.conf.py", "app:app"]
