"""The whole service on one machine without Docker: Traefik, nginx and gunicorn on loopback.

`python -m devstack` (what `make run` does) runs it in the foreground; the integration tests
use `Stack` the same way with free ports and a temporary storage root.
"""

from .stack import NAMES, Stack, free_port

__all__ = ["NAMES", "Stack", "free_port"]
