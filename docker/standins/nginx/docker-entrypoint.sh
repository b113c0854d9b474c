#!/bin/sh
# Like the official entrypoint, minus its optional configuration scripts: run the command.
exec "$@"
