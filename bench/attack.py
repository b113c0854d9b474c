"""A hostile neighbour through the real stack, with the default settings: one IP sends the
costliest inputs the budget accepts at its full rate limit (the burst at once, then one every
60/rate seconds), while another IP uploads a small photo every half second. What the victim
sees (latency, status) and what each gunicorn worker's memory reached are the numbers (each
victim upload comes from an address of its own, as many users would, so that the victims' own
rate limit never answers for them); the
targets are every victim upload answered 201 within 2 s and <= 250 MB per worker.
"""

import threading
import time

from devstack import Stack, children
from devstack.client import multipart, post_from

from . import servers
from .report import Table, percentile

VICTIM_EVERY = 0.5


def _post(url: str, source: str, data: bytes, name: str) -> tuple[int, float]:
    body, content_type = multipart([("avatar", name, "application/octet-stream", data)])
    started = time.monotonic()
    try:
        status = post_from(url, source, body, content_type)[0]
    except OSError:
        status = 0
    return status, time.monotonic() - started


def attack(worst: dict[str, tuple[str, str]], victim_image: str, table: Table,
           seconds: float) -> dict[str, float]:
    """Run the attack on a stack of its own; one table section; the victim's p50 per input
    (for the cost table)."""
    env = servers.bench_env(RATE_LIMIT=30, CLIENT_SLOTS=2)  # the defaults: limits on
    accepted = {n: v for n, v in worst.items() if not n.endswith("@cap")}
    with open(victim_image, "rb") as src:
        victim_data = src.read()
    per_input, rows = {}, []
    with Stack(env=env) as stack:
        workers = children(stack.procs["gunicorn"].pid)
        for number, (name, (label, path)) in enumerate(accepted.items()):
            for pid in workers:
                servers.reset_peak(pid)
            with open(path, "rb") as src:
                data = src.read()
            # A fresh attacker address per input: its rate-limit bucket starts full.
            result = _one_attack(stack.url, f"127.0.1.{number + 1}", data, victim_data, seconds)
            peaks = [servers.status_kb(pid, "VmHWM") / 1024 for pid in workers]
            lat = result["victim"]
            per_input[name] = percentile(lat, 50) * 1000 if lat else float("nan")
            rows.append((label, result, peaks))
        if children(stack.procs["gunicorn"].pid) != workers:
            raise RuntimeError("gunicorn workers changed during the attack")
    table.section(f"Attack: one IP posts each costly accepted input at 30/min, burst 10, for "
                  f"{seconds:.0f} s; another IP uploads a 1 MP JPEG every {VICTIM_EVERY} s")
    worst_ms, worst_peak, all_ok = 0.0, 0.0, True
    for label, result, peaks in rows:
        lat = result["victim"]
        bad = [s for s in result["victim_status"] if s != 201]
        all_ok &= not bad
        worst_ms = max(worst_ms, max(lat, default=0) * 1000)
        worst_peak = max(worst_peak, *peaks)
        table.measure(f"victim during: {label}", None, percentile(lat, 50) * 1000,
                      percentile(lat, 99) * 1000,
                      f"max {max(lat, default=0) * 1000:.0f} ms; {len(lat)} uploads, "
                      f"{len(bad)} not 201; attacker {_tally(result['attacker'])}; "
                      f"peak RSS per worker {', '.join(f'{p:.0f}' for p in peaks)} MB")
    table.check("slowest victim upload during an attack", f"{worst_ms:.0f} ms"
                + ("" if all_ok else " (some not 201)"), "<= 2000 ms", worst_ms <= 2000 and all_ok)
    table.check("peak RSS per gunicorn worker, worst inputs", f"{worst_peak:.0f} MB",
                "<= 250 MB", worst_peak <= 250)
    return per_input


def _one_attack(url: str, attacker_ip: str, data: bytes, victim_data: bytes,
                seconds: float) -> dict:
    stop = time.monotonic() + seconds
    attacker, victim, victim_status = [], [], []
    lock = threading.Lock()

    def send_attack():
        status, _ = _post(url, attacker_ip, data, "worst.img")
        with lock:
            attacker.append(status)

    threads = [threading.Thread(target=send_attack) for _ in range(10)]  # the burst
    for thread in threads:
        thread.start()
    next_attack = time.monotonic() + 2.0
    while time.monotonic() < stop:
        if time.monotonic() >= next_attack:
            thread = threading.Thread(target=send_attack)
            thread.start()
            threads.append(thread)
            next_attack += 2.0
        status, took = _post(url, f"127.0.2.{len(victim) % 250 + 1}", victim_data, "victim.jpg")
        victim.append(took)
        victim_status.append(status)
        time.sleep(max(0.0, VICTIM_EVERY - took))
    for thread in threads:
        thread.join(60)
    return {"attacker": attacker, "victim": victim, "victim_status": victim_status}


def _tally(statuses: list[int]) -> str:
    counts: dict[int, int] = {}
    for status in statuses:
        counts[status] = counts.get(status, 0) + 1
    return " ".join(f"{n}x{status}" for status, n in sorted(counts.items()))
