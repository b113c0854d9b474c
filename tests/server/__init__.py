"""Tests against a real gunicorn over loopback, with real files (and, where allowed, mounts)."""
