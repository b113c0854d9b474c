"""The decode slots: a per-client cap, a bounded wait, and the next slot to the client served
least recently."""

import threading
import time

import pytest

from uploads.admission import Admission
from uploads.errors import Busy


def hold(admission, client, entered, release, order):
    with admission.slot(client):
        order.append(client)
        entered.set()
        release.wait(10)


def start_holder(admission, client, order):
    entered, release = threading.Event(), threading.Event()
    thread = threading.Thread(target=hold, args=(admission, client, entered, release, order))
    thread.start()
    return thread, entered, release


def wait_until(predicate, seconds=5.0):
    deadline = time.monotonic() + seconds
    while not predicate():
        assert time.monotonic() < deadline, "condition not reached"
        time.sleep(0.01)


def test_one_client_beyond_its_share_is_busy_at_once():
    admission = Admission(slots=1, per_client=2, wait_seconds=10)
    order = []
    first, entered, release = start_holder(admission, "attacker", order)
    entered.wait(5)
    second, _, release2 = start_holder(admission, "attacker", order)
    wait_until(lambda: len(admission._waiting) == 1)
    started = time.monotonic()
    with pytest.raises(Busy) as refused, admission.slot("attacker"):
        pass
    assert time.monotonic() - started < 1  # not after the 10 s wait: at once
    assert refused.value.headers["Retry-After"] == "10"
    release.set()
    release2.set()
    first.join(5)
    second.join(5)
    assert order == ["attacker", "attacker"]


def test_a_newcomer_goes_before_a_client_already_served():
    admission = Admission(slots=1, per_client=3, wait_seconds=10)
    order = []
    first, entered, release = start_holder(admission, "attacker", order)
    entered.wait(5)
    queued, _, release_queued = start_holder(admission, "attacker", order)
    wait_until(lambda: len(admission._waiting) == 1)
    victim, _, release_victim = start_holder(admission, "victim", order)
    wait_until(lambda: len(admission._waiting) == 2)
    release.set()  # the attacker's first decode ends: the victim, who arrived later, is next
    wait_until(lambda: len(order) == 2)
    assert order == ["attacker", "victim"]
    release_victim.set()
    release_queued.set()
    for thread in (first, queued, victim):
        thread.join(5)
    assert order == ["attacker", "victim", "attacker"]


def test_nobody_waits_longer_than_the_bound():
    admission = Admission(slots=1, per_client=2, wait_seconds=1)
    order = []
    holder, entered, release = start_holder(admission, "a", order)
    entered.wait(5)
    started = time.monotonic()
    with pytest.raises(Busy) as refused, admission.slot("b"):
        pass
    assert 0.9 <= time.monotonic() - started < 5
    assert refused.value.status == 503 and refused.value.code == "busy"
    release.set()
    holder.join(5)
    with admission.slot("b"):  # the slot and the counts were given back
        pass
    assert admission._holding == {} and admission._waiting == []
