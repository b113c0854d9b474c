"""The app's Prometheus metrics, in process: what each upload answer adds, what a scrape shows,
and how a dead worker's files are folded into the archive without a count lost or doubled."""

import glob
import os
import threading

import pytest
from prometheus_client.mmap_dict import MmapedDict, mmap_key
from prometheus_client.multiprocess import MultiProcessCollector
from prometheus_client.parser import text_string_to_metric_families

from devstack.client import multipart
from devstack.images import make_image
from uploads import create_app, metrics
from uploads.admission import Admission
from uploads.errors import Busy, StorageUnavailable
from uploads.settings import ConfigError, load


def scrape(client) -> list:
    answer = client.get("/metrics")
    assert answer.status_code == 200
    return [s for family in text_string_to_metric_families(answer.get_data(as_text=True))
            for s in family.samples]


def value(samples, name: str, **labels) -> float:
    """The sum of `name`'s samples whose labels include `labels` (0 when there is none)."""
    return sum(s.value for s in samples
               if s.name == name and labels.items() <= s.labels.items())


def delta(client, act, *wanted):
    """How much each (name, labels) of `wanted` grew while `act()` ran."""
    before = scrape(client)
    act()
    after = scrape(client)
    return [value(after, n, **ls) - value(before, n, **ls) for n, ls in wanted]


@pytest.mark.parametrize("fmt", ["JPEG", "PNG", "WEBP"])
def test_a_stored_upload_counts_its_format_bytes_and_time(client, upload, fmt):
    label = fmt.lower()
    answers = []
    grown = delta(client, lambda: answers.append(upload(make_image(fmt))),
                  ("uploads_total", {"code": "created", "format": label}),
                  ("uploads_total", {}),
                  ("uploads_stored_bytes_total", {"format": label}),
                  ("uploads_processing_seconds_count", {"format": label}),
                  ("uploads_decode_queue_wait_seconds_count", {}))
    assert answers[0].status_code == 201
    assert grown == [1, 1, answers[0].json["data"]["size"], 1, 1]


REFUSALS = {
    "no_file": (lambda up: up(make_image(), field="photo"), "no_file", "unknown"),
    "gif": (lambda up: up(make_image("GIF", mode="P")), "unsupported_format", "other"),
    "truncated-png": (lambda up: up(make_image("PNG")[:60]), "invalid_image", "png"),
    "empty": (lambda up: up(b""), "empty_file", "unknown"),
}


@pytest.mark.parametrize("kind", sorted(REFUSALS))
def test_a_refusal_counts_its_code_and_the_format_seen(client, upload, kind):
    send, code, fmt = REFUSALS[kind]
    grown = delta(client, lambda: send(upload), ("uploads_total", {"code": code, "format": fmt}),
                  ("uploads_total", {}), ("uploads_stored_bytes_total", {}),
                  ("uploads_processing_seconds_count", {}))
    assert grown == [1, 1, 0, 0]


def test_too_large_and_not_multipart_are_counted_before_the_content_is_seen(root):
    client = create_app({"ROOT": str(root), "ALLOW_EPHEMERAL": True, "MIN_FREE_BYTES": 0,
                         "MAX_BYTES": 1000}).test_client()

    def send():
        body, mimetype = multipart([("avatar", "a.jpg", "image/jpeg", b"\xff\xd8\xff" * 500)])
        assert client.post("/api/upload/avatar", data=body, content_type=mimetype
                           ).status_code == 413
        assert client.post("/api/upload/avatar", data=b"x", content_type="text/plain"
                           ).status_code == 400

    grown = delta(client, send,
                  ("uploads_total", {"code": "file_too_large", "format": "unknown"}),
                  ("uploads_total", {"code": "not_multipart", "format": "unknown"}))
    assert grown == [1, 1]


def test_other_requests_are_no_uploads(client):
    def send():
        for path in ("/metrics", "/healthz", "/api/upload/avatar", "/i/p/x.jpg", "/nope"):
            client.get(path)

    assert delta(client, send, ("uploads_total", {})) == [0]


def test_the_decode_queue_wait_counts_those_that_gave_up():
    def waits():
        samples = list(metrics.QUEUE_WAIT.collect()[0].samples)
        return [value(samples, f"uploads_decode_queue_wait_seconds_{n}") for n in ("count", "sum")]

    admission, refused = Admission(slots=1, per_client=1, wait_seconds=1), []

    def second():
        try:
            with admission.slot("b"):
                pass
        except Busy as error:
            refused.append(error)

    before = waits()
    with admission.slot("a"):
        waiter = threading.Thread(target=second)
        waiter.start()
        waiter.join()
    count, seconds = (now - then for now, then in zip(waits(), before, strict=True))
    assert len(refused) == 1 and count == 2 and seconds >= 1


def test_a_scrape_tells_free_space_and_the_reserve_now(root):
    app = create_app({"ROOT": str(root), "ALLOW_EPHEMERAL": True, "MIN_FREE_BYTES": 12345})
    answer = app.test_client().get("/metrics")
    assert answer.status_code == 200
    assert answer.headers["Content-Type"].startswith("text/plain; version=0.0.4")
    assert answer.headers["Cache-Control"] == "no-store"
    samples = scrape(app.test_client())
    free = app.extensions["uploads.storage"].free_bytes()
    assert abs(value(samples, "uploads_storage_free_bytes") - free) < 64 * 1024 * 1024
    assert value(samples, "uploads_storage_min_free_bytes") == 12345


def test_openmetrics_is_answered_to_who_asks_for_it(client):
    answer = client.get("/metrics", headers={"Accept": "application/openmetrics-text"})
    assert answer.headers["Content-Type"].startswith("application/openmetrics-text")
    assert answer.get_data(as_text=True).endswith("# EOF\n")


class Bucket:
    """A store with no free space to tell (S3), or one that cannot be read just now."""

    def __init__(self, error=None):
        self.error = error

    def free_bytes(self):
        if self.error:
            raise self.error
        return None


@pytest.mark.parametrize("store", [Bucket(), Bucket(StorageUnavailable("gone"))],
                         ids=["unbounded", "unreadable"])
def test_without_a_free_space_the_sample_is_left_out_and_the_rest_served(app, client, store):
    app.extensions["uploads.storage"] = store
    samples = scrape(client)
    assert not [s for s in samples if s.name == "uploads_storage_free_bytes"]
    assert [s for s in samples if s.name == "uploads_storage_min_free_bytes"]


@pytest.mark.parametrize("port", ["8080", "8081", "8082", "9000"])
def test_the_metrics_port_cannot_be_one_the_edge_already_uses(port):
    with pytest.raises(ConfigError, match="UPLOADS_METRICS_PORT must differ"):
        load({"UPLOADS_METRICS_PORT": port, "UPLOADS_PORT": "9000"})
    assert load({"UPLOADS_METRICS_PORT": "9100"})["METRICS_PORT"] == 9100


# -- gunicorn's workers: one folder of files, folded when a worker exits ------------------------

def key(code: str) -> str:
    return mmap_key("uploads", "uploads_total", ["code", "format"], [code, "jpeg"], "help")


def bucket_key(le: str) -> str:
    return mmap_key("t", "t_bucket", ["le"], [le], "help")


def write(folder, kind: str, pid: int, values: dict) -> None:
    mm = MmapedDict(os.path.join(folder, f"{kind}_{pid}.db"))
    for name, amount in values.items():
        mm.write_value(name, amount, 0.0)
    mm.close()


def totals(folder) -> dict:
    return {(s.name, tuple(sorted(s.labels.items()))): s.value
            for family in MultiProcessCollector(None, str(folder)).collect()
            for s in family.samples}


def test_a_dead_workers_counts_move_to_the_archive_once(tmp_path):
    write(tmp_path, "counter", 101, {key("created"): 3, key("busy"): 1})
    write(tmp_path, "counter", 102, {key("created"): 4})
    write(tmp_path, "histogram", 101, {bucket_key("1.0"): 2, bucket_key("+Inf"): 1})
    write(tmp_path, "histogram", 102, {bucket_key("+Inf"): 5})
    before = totals(tmp_path)
    assert before[("uploads_total", (("code", "created"), ("format", "jpeg")))] == 7

    metrics.worker_gone(101, str(tmp_path))
    assert totals(tmp_path) == before
    metrics.worker_gone(102, str(tmp_path))
    metrics.worker_gone(102, str(tmp_path))  # reported twice: nothing left to add
    assert totals(tmp_path) == before
    names = sorted(os.path.basename(p) for p in glob.glob(str(tmp_path / "*.db")))
    assert names == ["counter_archive.db", "histogram_archive.db"]

    write(tmp_path, "counter", 101, {key("created"): 1})  # the pid taken again, later
    metrics.worker_gone(101, str(tmp_path))
    assert totals(tmp_path)[("uploads_total", (("code", "created"), ("format", "jpeg")))] == 8


def test_a_fresh_start_forgets_an_earlier_runs_counts(tmp_path):
    write(tmp_path, "counter", 101, {key("created"): 3})
    write(tmp_path, "counter", 0, {key("created"): 3})
    metrics.start_fresh(str(tmp_path))
    assert totals(tmp_path) == {}
