#!/bin/sh
# The static binary's compiled-in paths are relative to its prefix: root them where the
# official image keeps its writable state, and read the configuration from /etc/nginx.
exec /usr/lib/nginx/nginx -p /var/cache/nginx/ -c /etc/nginx/nginx.conf "$@"
