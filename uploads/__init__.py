"""uploads: persistent user images behind Traefik.

`create_app()` reads and validates every setting, refuses storage that would not survive the
container (unless told ephemeral storage is fine) or that is not the volume `UPLOADS_VOLUME_ID`
names, logs which volume it is and how many files it holds, clears temp leftovers of earlier
crashes, and wires the upload route, the probes, the JSON errors and the operator commands.
"""

import io
import logging
import os

from flask import Flask, Request
from PIL import Image
from werkzeug.exceptions import RequestEntityTooLarge
from werkzeug.middleware.proxy_fix import ProxyFix
from werkzeug.utils import cached_property
from werkzeug.wsgi import LimitedStream, get_input_stream

from . import (
    api,
    attachments,
    commands,
    deletion,
    errors,
    links,
    logs,
    metrics,
    requestid,
    settings,
    storage,
    transport,
)
from .admission import Admission
from .images import Limits
from .readiness import Readiness
from .storage import identity

MAX_FORM_PARTS = 8
# Non-file fields (the client sends none). werkzeug also bounds its parser's buffer with this,
# and that buffer takes 64 KiB reads on top of what it holds: keep it well above one read.
MAX_FORM_MEMORY = 512 * 1024
# The body may hold a file of exactly MAX_BYTES plus every text field allowed, plus framing:
# whatever the multipart overhead, only the file's own size decides a 413.
MULTIPART_OVERHEAD = MAX_FORM_MEMORY + 64 * 1024
# What the edge's buffering accepts beyond MAX_BYTES (traefik/dynamic/uploads.yml).
EDGE_SLACK = 1024 * 1024


class UploadRequest(Request):
    """Keeps the file part in memory (it is at most MAX_BYTES): no temp file on disk to leak
    when a client disconnects, and no second copy before Pillow reads it. Reads the body to
    exactly its Content-Length: gunicorn ends the input itself, so werkzeug would otherwise
    take a body cut short by a vanished client as complete. A route that takes large files
    (attachments) sets `file_stream_factory` first: its parts then go where it says (the
    volume's temp folder), never into memory."""

    file_stream_factory = None  # per request: filename -> a writable file for one part

    def make_form_data_parser(self):
        parser = super().make_form_data_parser()
        parser.silent = False  # a body werkzeug cannot parse is a malformed form, not "no file"
        return parser

    @cached_property
    def stream(self):
        length = self.content_length
        if length is None:
            return get_input_stream(self.environ, max_content_length=self.max_content_length)
        if self.max_content_length is not None and length > self.max_content_length:
            raise RequestEntityTooLarge()
        return LimitedStream(self.environ["wsgi.input"], length)  # early EOF: disconnected

    def _get_file_stream(self, total_content_length, content_type, filename=None,
                         content_length=None):
        if self.file_stream_factory is not None:
            return self.file_stream_factory(filename)
        return io.BytesIO()


def create_app(test_config=None, serving=True):
    """The app. `serving` (a server is about to take uploads) also refuses storage that would
    not persist and clears temp leftovers; the operator commands pass False so that reading
    the volume never changes it, and those that write check it themselves."""
    config = settings.load(os.environ, test_config)
    app = Flask(__name__)
    app.request_class = UploadRequest
    app.json.sort_keys = False  # keep `success` first, as the old route answered
    app.config.update(config)
    app.config.update(
        MAX_CONTENT_LENGTH=config["MAX_BYTES"] + MULTIPART_OVERHEAD,
        MAX_FORM_PARTS=MAX_FORM_PARTS,
        MAX_FORM_MEMORY_SIZE=MAX_FORM_MEMORY,
    )
    logs.configure(config["LOG_LEVEL"])

    store = storage.from_config(config)
    if serving:
        store.ensure_persistent(config["ALLOW_EPHEMERAL"])
        removed = store.remove_leftovers()
        if removed:
            logging.getLogger(__name__).warning("removed %d temp leftovers", removed)
        # Which volume this is, in the one line an operator reads first (storage/identity.py).
        volume = identity.claim(store, config["VOLUME_ID"])
        logging.getLogger(__name__).info(
            "volume %s: %s holds %d files", volume.id, store.where(), volume.files,
            extra={"volume_id": volume.id, "files": volume.files})
        app.extensions["uploads.volume"] = volume
        _write_link_include(config)
    # Delete links' key (deletion.py): made or read now, so that a store that cannot keep it
    # shows at start; a store down at start is asked again at the first upload.
    app.extensions["uploads.delete"] = deletion.DeleteKeys(store, config["DELETE_SECRET"])
    if serving:
        try:
            app.extensions["uploads.delete"].secret  # noqa: B018 (made or read once, cached)
        except errors.StorageUnavailable as exc:
            logging.getLogger(__name__).warning("delete links' key not read yet: %s",
                                                exc.detail)
    app.extensions["uploads.storage"] = store
    app.extensions["uploads.readiness"] = Readiness(store, checked=serving)  # for /readyz
    Image.MAX_IMAGE_PIXELS = config["MAX_PIXELS"]  # Pillow's own bomb check: the same cap
    Image.init()  # every format plugin loaded once, in gunicorn's master: no worker's first
    # upload pays for the imports (a 2 s first answer was measured without it)
    app.extensions["uploads.admission"] = Admission(
        config["DECODE_SLOTS"], config["CLIENT_SLOTS"], config["QUEUE_SECONDS"])
    app.extensions["uploads.limits"] = Limits(
        max_pixels=config["MAX_PIXELS"], max_input_side=config["MAX_INPUT_SIDE"],
        max_side=config["MAX_SIDE"], jpeg_quality=config["JPEG_QUALITY"],
        webp_quality=config["WEBP_QUALITY"], image_budget_ms=config["IMAGE_BUDGET_MS"],
        image_budget_mb=config["IMAGE_BUDGET_MB"], variants=config["VARIANTS"],
        variant_quality=config["VARIANT_QUALITY"],
    )

    errors.register(app)
    app.register_blueprint(api.bp)
    app.register_blueprint(attachments.bp)
    app.register_blueprint(links.bp)
    app.register_blueprint(deletion.bp)
    metrics.register(app)
    commands.register(app)
    if config["PROXY_COUNT"]:
        # Traefik appends the peer it saw; behind trusted load balancers it keeps their entries,
        # so the client sits that many places further left: TRUSTED_HOPS of them, where 0 reads
        # like 1 (the peer the load balancer saw), exactly as the edge's rate limit reads it.
        # Host and prefix are never trusted.
        count = config["PROXY_COUNT"]
        hops = max(1, config["TRUSTED_HOPS"]) if config["TRUSTED_PROXIES"] else 0
        app.wsgi_app = ProxyFix(app.wsgi_app, x_for=count + hops,
                                x_proto=count, x_host=0, x_port=0, x_prefix=0)
    # Every body is read to its end before the answer leaves, up to what the edge lets through
    # (its buffering limit is MAX_BYTES + 1 MiB, ATTACHMENT_MAX_BYTES + 1 MiB for attachments):
    # a refused client never breaks the connection Traefik hands the next client
    # (uploads/transport.py).
    app.wsgi_app = transport.DrainBody(
        app.wsgi_app, config["MAX_BYTES"] + EDGE_SLACK,
        {attachments.ROUTE: attachments.request_limit(config)})
    # Outermost: every answer gets its X-Request-Id, every log line of the request its id.
    app.wsgi_app = requestid.RequestId(app.wsgi_app)
    return app


def _write_link_include(config) -> None:
    """nginx's include of the link secret (UPLOADS_LINK_NGINX_CONF), written before serving:
    nginx reads the mode the app is in from it (uploads/links.py)."""
    path = config["LINK_NGINX_CONF"]
    if not path:
        return
    try:
        if links.write_nginx_include(config, path):
            logging.getLogger(__name__).info("wrote nginx's link include %s", path)
    except OSError as exc:
        raise settings.ConfigError(
            f"UPLOADS_LINK_NGINX_CONF={path!r}: cannot write it: {exc.strerror or exc}") from exc
