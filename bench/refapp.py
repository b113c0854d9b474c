"""The reference: what a Flask app would do without a static server, `send_from_directory`.

Only for the benchmark, never part of the service. Run with gunicorn behind the same Traefik
(as its static upstream) so the comparison isolates who reads the file.
"""

import os

from flask import Flask, send_from_directory


def create_app(root: str | None = None) -> Flask:
    app = Flask(__name__)
    images = os.path.join(os.path.abspath(root or os.environ["BENCH_ROOT"]), "i")

    @app.get("/i/<path:name>")
    def image(name):
        response = send_from_directory(images, name, max_age=31536000)
        response.headers["X-Content-Type-Options"] = "nosniff"
        return response

    return app


def app(environ, start_response):
    """WSGI entry (`bench.refapp:app`): the Flask app is built on first use, from the env."""
    global _app
    if _app is None:
        _app = create_app()
    return _app(environ, start_response)


_app = None
