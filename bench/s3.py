"""S3 mode beside local: GETs through Traefik with nginx's cache warm and cold, and the upload
p50, each mode on a stack of its own (S3: a local SeaweedFS the stack starts, on the same
machine, so the numbers leave out a network hop to a remote store).

Warm: wrk on one 60 KB image already in nginx's cache (S3) or the page cache (local). Cold:
one GET each of objects never asked for before, one connection, so every S3 request is a miss
that nginx fetches from the store (the local volume has no such cache to miss).
"""

import contextlib
import http.client
import time

from devstack import Stack

from . import wrk
from .phases import Plan, failures, upload
from .report import Table, median, percentile
from .servers import bench_env

WARM_KEY = "i/p/2025/06/avatar_1748736000000_s3warm.jpg"
COLD_COUNT = 200


def _cold(port: int, paths: list[str]) -> list[float]:
    """Latency of one GET per path, in ms, on one kept-alive connection."""
    conn, took = http.client.HTTPConnection("127.0.0.1", port, timeout=10), []
    try:
        for path in paths:
            t0 = time.perf_counter()
            conn.request("GET", path)
            answer = conn.getresponse()
            answer.read()
            if answer.status != 200:
                raise RuntimeError(f"cold GET {path}: {answer.status}")
            took.append((time.perf_counter() - t0) * 1000)
    finally:
        conn.close()
    return took


def prepare(stack, image: bytes) -> list[str]:
    """The warm object and the cold ones, stored through the stack's own storage."""
    store = stack.storage
    store.put(WARM_KEY, image, "image/jpeg")
    cold = [f"i/p/2025/07/avatar_17487360{n:05d}_s3cold.jpg" for n in range(COLD_COUNT)]
    for key in cold:
        store.put(key, image, "image/jpeg")
    wrk.run(f"{stack.url}/{WARM_KEY}", 1, 4, 0)  # warms nginx's cache (and the page cache)
    return ["/" + key for key in cold]


def measure(plan: Plan, stacks: dict, image: bytes, upload_image: str) -> dict:
    """Both modes up at once, measured in alternation round by round, so that drift and
    neighbours' load fall on both alike."""
    cold = {mode: prepare(stack, image) for mode, stack in stacks.items()}
    got = {mode: {"runs": [], "up": []} for mode in stacks}
    for _ in range(plan.rounds):
        for mode, stack in stacks.items():
            got[mode]["runs"].append(wrk.run(f"{stack.url}/{WARM_KEY}", plan.get_seconds,
                                             plan.get_connections, plan.load_core))
    for _ in range(plan.upload_rounds):
        for mode, stack in stacks.items():
            got[mode]["up"].append(upload(plan, stack.port, upload_image))
    for mode, stack in stacks.items():
        runs, ups = got[mode]["runs"], got[mode]["up"]
        if any(r.errors for r in runs):
            raise RuntimeError(f"{mode} warm GET: errors")
        got[mode] = {"rps": median(r.rps for r in runs), "p50": median(r.p50_ms for r in runs),
                     "p99": median(r.p99_ms for r in runs), "cold": _cold(stack.port, cold[mode]),
                     "up": [ms for up in ups for ms in up["latencies"]], "failed": failures(ups)}
    return got


def compare(plan: Plan, image: bytes, upload_image: str, table: Table) -> None:
    with contextlib.ExitStack() as running:
        stacks = {mode: running.enter_context(Stack(env=bench_env(STORAGE=mode,
                                                                  MIN_FREE_BYTES=0)))
                  for mode in ("local", "s3")}
        got = measure(plan, stacks, image, upload_image)
    table.section(f"Storage modes: GET 60 KB through Traefik (wrk, {plan.get_connections} "
                  f"connections, {plan.rounds} x {plan.get_seconds} s), cold GETs "
                  f"({COLD_COUNT} objects never read, 1 connection), 1 MP upload p50")
    for mode, r in got.items():
        table.measure(f"{mode}: GET warm", r["rps"], r["p50"], r["p99"])
        cold = r["cold"]
        table.measure(f"{mode}: GET cold", 1000 / (sum(cold) / len(cold)),
                      percentile(cold, 50), percentile(cold, 99))
        table.measure(f"{mode}: upload", None, percentile(r["up"], 50), percentile(r["up"], 99),
                      f"FAILED: {r['failed']}" if r["failed"] else "")
    warm = got["s3"]["rps"] / got["local"]["rps"]
    table.ratio("S3 / local: GET warm (req/s)", warm, ">= 0.8x", warm >= 0.8)
    extra = percentile(got["s3"]["up"], 50) - percentile(got["local"]["up"], 50)
    table.check("S3 - local: upload p50", f"{extra:+.1f} ms", "<= +10 ms", extra <= 10)
