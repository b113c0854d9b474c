"""The whole service on one machine without Docker: Traefik, nginx and gunicorn on loopback.

`python -m devstack` (what `make run` does) runs it in the foreground; the integration tests
and the benchmark use `Stack` the same way with free ports and a temporary storage root, and the
helpers in `tools`.
"""

from .stack import NAMES, Stack
from .tools import children, free_port, http_get, nginx_binary, port_in_use, venv_tool

__all__ = ["NAMES", "Stack", "children", "free_port", "http_get", "nginx_binary", "port_in_use",
           "venv_tool"]
