"""Shared fixtures: the in-process app on a temporary root, and images made in memory."""

import pytest

from devstack.client import clean_env, multipart
from uploads import create_app


@pytest.fixture
def root(tmp_path):
    return tmp_path / "root"


@pytest.fixture
def app(root):
    return create_app({"ROOT": str(root), "ALLOW_EPHEMERAL": True, "MIN_FREE_BYTES": 0,
                       "ATTACHMENTS": True})


@pytest.fixture
def client(app):
    return app.test_client()


@pytest.fixture
def upload(client):
    """POST one file part (field `avatar` unless told) the way the web client does."""

    def post(data, filename="avatar.jpg", field="avatar", content_type="image/jpeg", **kwargs):
        body, mimetype = multipart([(field, filename, content_type, data)])
        return client.post("/api/upload/avatar", data=body, content_type=mimetype, **kwargs)

    return post


@pytest.fixture
def gunicorn(tmp_path):
    """Start the real gunicorn (`gunicorn -c gunicorn.conf.py app:app`) on a free loopback port:
    `start(root=None, **settings)` with settings named without the UPLOADS_ prefix. Every server
    started is stopped with SIGTERM afterwards, and no master or worker may be left running."""
    from server.process import Gunicorn

    started = []

    def start(root=None, **settings):
        workdir = tmp_path / f"gunicorn-{len(started)}"
        server = Gunicorn(root or tmp_path / "root", workdir, **settings)
        started.append(server)
        return server.start()

    yield start
    for server in started:
        server.stop()


# Settings of the shared stack: one worker thread (so anything holding it would show), a short
# read timeout at the edge, and a rate limit high enough never to trip by accident.
STACK_SETTINGS = {"WORKERS": 1, "THREADS": 1, "RATE_LIMIT": 100000, "RATE_BURST": 10000,
                  "MAX_CONCURRENT": 1000, "MIN_FREE_BYTES": 0, "READ_TIMEOUT": 5,
                  "ATTACHMENTS": "true"}


@pytest.fixture(scope="session")
def stack_local(tmp_path_factory):
    """The real local stack (Traefik in front of nginx and gunicorn, `devstack.Stack`) on free
    loopback ports with a temporary storage root, shared by the `stack` tests."""
    from devstack import Stack

    root = tmp_path_factory.mktemp("stack") / "root"
    with Stack(root=root, env=clean_env(**STACK_SETTINGS)) as running:
        yield running


@pytest.fixture(scope="session")
def stack(stack_local):
    """The shared stack on the local volume (a module may override `stack` with `image_stack`)."""
    return stack_local


@pytest.fixture(scope="session")
def stack_s3(tmp_path_factory):
    """The same stack with UPLOADS_STORAGE=s3: a SeaweedFS started by the stack (loopback,
    identities, no telemetry), nginx reading the bucket through its cache."""
    from devstack import Stack

    root = tmp_path_factory.mktemp("stack-s3") / "root"
    with Stack(root=root, env=clean_env(STORAGE="s3", **STACK_SETTINGS)) as running:
        yield running


@pytest.fixture(scope="session", params=["local", "s3"])
def image_stack(request):
    """The shared stack in each storage mode, for the tests whose answers must not depend on
    where the images are (the contract, hostile paths, the static headers)."""
    return request.getfixturevalue(f"stack_{request.param}")


@pytest.fixture
def make_stack(tmp_path):
    """Start a stack of one's own: `make_stack(**settings)`, settings named
    without the prefix. Every stack started is stopped afterwards, all three processes."""
    from devstack import Stack

    started = []

    def start(**settings):
        root = tmp_path / f"stack-{len(started)}" / "root"
        started.append(Stack(root=root, env=clean_env(**settings)))
        return started[-1].start()

    yield start
    for running in started:
        running.stop()
