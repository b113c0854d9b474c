#!/bin/sh
# Like the official entrypoint for what the deployment uses: run weed with the arguments.
exec /usr/bin/weed "$@"
