"""`make bench`: where the service stands, measured side by side on loopback.

Serving through Traefik to nginx against nginx direct and against gunicorn + Flask
`send_from_directory` (the reference in `refapp.py`), uploads against the Pillow floor, worker
memory during a burst of large uploads, and latencies with 10^3 to 10^6 files in the volume.
"""
