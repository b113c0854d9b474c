"""WSGI entry point: `gunicorn -c gunicorn.conf.py app:app`, `flask --app app <command>`.

A configuration the app refuses (bad setting, storage that would not persist) ends the process
with one line naming the problem, not a traceback.
"""

import sys

from uploads import create_app
from uploads.errors import ConfigError

try:
    app = create_app()
except ConfigError as error:
    sys.exit(f"uploads: {error.detail}")
