#!/bin/sh
# SeaweedFS for docker-compose.s3.yml: one `weed mini` (master, volume, filer and S3 gateway in
# one process, ~3 s to stop) with none of its unsafe defaults.
#
#   - S3 identities, written at each start into /tmp (a tmpfs, mode 0600) from the app's key
#     pair (UPLOADS_S3_ACCESS_KEY_ID / UPLOADS_S3_SECRET_ACCESS_KEY, or their _FILE variants for
#     a secret mount): the app may read, write and list the bucket; anyone may read objects under
#     `i/` (how nginx fetches images), nothing else, not even a listing. Without identities
#     SeaweedFS accepts any request.
#   - Telemetry, WebDAV, the admin UI and the Iceberg/Lance ports are off.
#   - The filer's and volume server's HTTP ports need a token signed with keys made fresh at
#     each start (WEED_JWT_*), and the master's HTTP API takes writes from this container only:
#     the S3 port is the way in. The gRPC ports have no authentication without mTLS
#     certificates (docs/deploy.md, "Scale out"): the `store` network, which holds only the
#     app, nginx and this container, is their fence.
set -eu

die() { echo "seaweedfs: $*" >&2; exit 1; }

# secret NAME VALUE FILE: VALUE, or the content of FILE (a secret mount); exactly one of them.
secret() {
    name=$1 value=$2 file=$3
    if [ -n "$value" ] && [ -n "$file" ]; then die "set $name or ${name}_FILE, not both"; fi
    if [ -n "$file" ]; then
        [ -r "$file" ] || die "${name}_FILE=$file cannot be read"
        value=$(cat "$file")
    fi
    [ -n "$value" ] || die "$name is not set (.env, or ${name}_FILE for a secret)"
    # Written into JSON below: only the characters keys are made of.
    case $value in *[!A-Za-z0-9._~+/=-]*) die "$name holds a character other than A-Z a-z 0-9 . _ ~ + / = -" ;; esac
    printf '%s' "$value"
}

key_id=$(secret UPLOADS_S3_ACCESS_KEY_ID "${UPLOADS_S3_ACCESS_KEY_ID:-}" \
    "${UPLOADS_S3_ACCESS_KEY_ID_FILE:-}")
secret_key=$(secret UPLOADS_S3_SECRET_ACCESS_KEY "${UPLOADS_S3_SECRET_ACCESS_KEY:-}" \
    "${UPLOADS_S3_SECRET_ACCESS_KEY_FILE:-}")
# A guessable secret opens the bucket to anyone who reaches the store: refuse a short one.
[ ${#secret_key} -ge 16 ] || die "UPLOADS_S3_SECRET_ACCESS_KEY has ${#secret_key} characters, 16 at least: make one with \`openssl rand -base64 30\`"
bucket=${UPLOADS_S3_BUCKET:-uploads}
case $bucket in *[!a-z0-9.-]*|'') die "UPLOADS_S3_BUCKET=$bucket is not a bucket name" ;; esac

umask 077
config=${SEAWEEDFS_CONFIG_DIR:-/tmp}/s3.json
cat >"$config" <<JSON
{"identities": [
  {"name": "anonymous", "actions": ["Read:$bucket/i/*", "Read:$bucket/f/*"]},
  {"name": "uploads-app",
   "credentials": [{"accessKey": "$key_id", "secretKey": "$secret_key"}],
   "actions": ["Read:$bucket", "Write:$bucket", "List:$bucket"]}
]}
JSON

key() { od -An -N24 -tx1 /dev/urandom | tr -d ' \n'; }
WEED_JWT_SIGNING_KEY=$(key)
WEED_JWT_SIGNING_READ_KEY=$(key)
WEED_JWT_FILER_SIGNING_KEY=$(key)
WEED_JWT_FILER_SIGNING_READ_KEY=$(key)
export WEED_JWT_SIGNING_KEY WEED_JWT_SIGNING_READ_KEY WEED_JWT_FILER_SIGNING_KEY \
    WEED_JWT_FILER_SIGNING_READ_KEY
unset UPLOADS_S3_SECRET_ACCESS_KEY UPLOADS_S3_ACCESS_KEY_ID

# -ip: the address the parts give each other (all in this process); -ip.bind: every port
# listens on the container's addresses, the S3 one for the app and nginx. The white list
# (loopback, and `@` for the in-process gRPC calls) keeps the master's writes to this container.
exec "${WEED:-weed}" -logtostderr=true mini -dir="${SEAWEEDFS_DATA_DIR:-/data}" \
    -ip=127.0.0.1 -ip.bind=0.0.0.0 -whiteList=127.0.0.1,@ \
    -master.telemetry=false -webdav=false -admin.ui=false \
    -s3.port=8333 -s3.port.iceberg=0 -s3.port.lance=0 -s3.config="$config" \
    -bucket="$bucket" -filer.disableDirListing -filer.exposeDirectoryData=false
