"""WSGI entry point: `gunicorn -c gunicorn.conf.py app:app`, `flask --app app <command>`.

A configuration the app refuses (bad setting, storage that would not persist) ends the process
with one line naming the problem, not a traceback. Operator commands (`flask --app app ...`)
leave the volume as it is; those that write to it check its persistence themselves.
"""

import os
import sys

from uploads import create_app
from uploads.settings import ConfigError

# The flask CLI (operator commands) sets this before importing us: it must not clean anything.
SERVING = os.environ.get("FLASK_RUN_FROM_CLI") != "true"

try:
    app = create_app(serving=SERVING)
except ConfigError as error:
    sys.exit(f"uploads: {error.detail}")
