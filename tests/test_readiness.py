"""/readyz asks a store across the network in the background: its answer never waits on a
slow store, turns "not ready" once a probe has had no answer for STALE_AFTER, and costs the
store one probe write per
PROBE_EVERY however often it is asked. The real store, hung, is in tests/s3/test_s3_app.py."""

import threading
import time

import pytest

from uploads import readiness
from uploads.errors import StorageUnavailable


class Store:
    """A store whose probe writes can be made slow or failing."""

    remote = True

    def __init__(self):
        self.probes = 0
        self.delay = 0.0
        self.failure = None
        self.release = threading.Event()
        self.release.set()

    def where(self):
        return "s3://bucket"

    def check_writable(self):
        self.probes += 1
        self.release.wait()
        time.sleep(self.delay)
        if self.failure:
            raise StorageUnavailable(self.failure)


@pytest.fixture
def store(monkeypatch):
    monkeypatch.setattr(readiness, "PROBE_EVERY", 0.2)
    monkeypatch.setattr(readiness, "STALE_AFTER", 1.0)
    monkeypatch.setattr(readiness, "WAIT", 0.5)
    store = Store()
    yield store
    store.release.set()  # let a hung probe thread end


def timed(check):
    started = time.monotonic()
    try:
        check()
        return time.monotonic() - started, None
    except StorageUnavailable as exc:
        return time.monotonic() - started, exc.detail


def test_the_first_answer_waits_for_the_first_probe(store):
    store.delay = 0.1
    took, failure = timed(readiness.Readiness(store).check)
    assert failure is None and 0.1 <= took < 0.5 and store.probes == 1


def test_a_slow_probe_does_not_slow_the_answer(store):
    ready = readiness.Readiness(store)
    ready.check()
    time.sleep(0.25)
    store.delay = 0.6  # the next probe takes longer than a health check would wait
    for _ in range(5):
        took, failure = timed(ready.check)
        assert failure is None and took < 0.05, (took, failure)


def test_a_probe_unanswered_past_the_limit_means_not_ready(store):
    ready = readiness.Readiness(store)
    ready.check()
    time.sleep(0.25)
    store.release.clear()  # the store stops answering
    ready.check()  # starts the probe that hangs; the last result is still fresh
    time.sleep(1.1)
    took, failure = timed(ready.check)
    assert took < 0.05 and "has had no answer for 1 s (limit 1 s)" in failure
    store.release.set()
    time.sleep(0.05)
    assert timed(ready.check)[1] is None


def test_a_failed_probe_is_not_ready_until_one_succeeds(store):
    ready = readiness.Readiness(store)
    store.failure = "s3://bucket: the endpoint refused the connection"
    assert timed(ready.check)[1] == store.failure
    store.failure = None
    assert timed(ready.check)[1] == "s3://bucket: the endpoint refused the connection"
    time.sleep(0.25)
    store.release.clear()
    refused = timed(ready.check)  # starts a new probe, answers the last one meanwhile
    assert refused[0] < 0.05 and "refused the connection" in refused[1]
    store.release.set()
    time.sleep(0.05)
    assert timed(ready.check)[1] is None


def test_the_store_gets_one_probe_per_interval_however_often_asked(store):
    ready = readiness.Readiness(store)
    threads = [threading.Thread(target=lambda: [ready.check() for _ in range(50)])
               for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert store.probes == 1
    time.sleep(0.25)
    ready.check()
    assert store.probes == 2


def test_after_a_quiet_while_the_answer_never_waits_and_the_next_is_fresh(store):
    ready = readiness.Readiness(store)
    ready.check()
    store.failure = "s3://bucket: credentials are refused"
    store.delay = 0.3
    time.sleep(1.1)  # nobody asked meanwhile
    took, failure = timed(ready.check)  # the last result, and a new probe started
    assert failure is None and took < 0.05
    time.sleep(0.4)
    assert timed(ready.check)[1] == store.failure


def test_a_local_volume_is_probed_on_every_answer(store):
    store.remote = False
    ready = readiness.Readiness(store)
    for _ in range(3):
        ready.check()
    assert store.probes == 3


def test_a_process_that_just_checked_the_store_at_start_answers_at_once(store):
    """create_app's start-up check wrote to the store a moment ago: a replica restarted under
    load answers the edge's first check from it instead of waiting for a new probe."""
    ready = readiness.Readiness(store, checked=True)
    store.release.clear()
    took, failure = timed(ready.check)
    assert failure is None and took < 0.05 and store.probes == 1  # the probe runs meanwhile
    store.release.set()
