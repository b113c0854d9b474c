"""WSGI entry point: `gunicorn -c gunicorn.conf.py app:app`, `flask --app app <command>`."""

from uploads import create_app

app = create_app()
