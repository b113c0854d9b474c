"""Variants: what writing them costs an upload, and what they save a client.

Two stacks at once, the same but for UPLOADS_VARIANTS (empty on one), measured in alternation
upload by upload (one client on the load core, `alternate`), so that drift and neighbours' load
fall on both alike: the app's own time per 1 MP JPEG upload (its log's ms=). Twice: with the
servers on every core, as deployed (the server time a client waits for, the target), and
pinned to the server core (the CPU an upload costs, which is what a saturated server pays:
reported, no target). Then the sizes a client gets: the 128 px copy of that typical photo, and
the list-size (64 px) copy of a 12 MP phone photo against its stored main file.
"""

import contextlib
import json
import os
import urllib.request

from devstack import Stack
from devstack.client import multipart

from .phases import Plan, alternate, upload
from .report import Table, median
from .servers import LogCursor, bench_env

TARGETS = {"cost": 1.25, "card_bytes": 8 * 1024, "list_ratio": 50}
ALTERNATIONS = {True: 60, False: 300}  # upload pairs per measure (quick run, full run)


def _post(stack, path: str) -> dict:
    """One upload, the answer's data."""
    with open(path, "rb") as image:
        body, mimetype = multipart([("avatar", os.path.basename(path), "image/jpeg",
                                     image.read())])
    request = urllib.request.Request(f"{stack.url}/api/upload/avatar", data=body,
                                     headers={"Content-Type": mimetype})
    with urllib.request.urlopen(request, timeout=60) as answer:  # noqa: S310 - loopback
        return json.load(answer)["data"]


def _size(url: str) -> int:
    with urllib.request.urlopen(url, timeout=30) as answer:  # noqa: S310 - loopback
        return len(answer.read())


@contextlib.contextmanager
def _cores(cores: set[int]):
    """Servers started inside run on `cores` (they inherit this process's affinity)."""
    before = os.sched_getaffinity(0)
    os.sched_setaffinity(0, cores)
    try:
        yield
    finally:
        os.sched_setaffinity(0, before)


def _server_times(plan: Plan, photo: str, cores: set[int], measured: list) -> dict:
    """Median server ms per upload of `photo`, without and with variants, on `cores`. The
    stack with variants also uploads each of `measured` (paths), replaced by its answer's data
    with each variant's served size in bytes."""
    with contextlib.ExitStack() as running:
        with _cores(cores):
            stacks = {name: running.enter_context(Stack(env=bench_env(MIN_FREE_BYTES=0, **extra)))
                      for name, extra in (("without", {"VARIANTS": ""}), ("with", {}))}
        cursors = {name: LogCursor(stack.log_path("gunicorn")) for name, stack in stacks.items()}
        size = os.path.getsize(photo)
        for stack in stacks.values():  # warm: each worker's first upload pays for its imports
            upload(plan, stack.port, photo, seconds=0, max_requests=3, min_requests=3)
        for cursor in cursors.values():
            cursor.take()
        alternate(plan, [stacks[name].port for name in ("without", "with")], photo,
                  ALTERNATIONS[plan.quick])
        server = {name: [ms for ms, _ in cursors[name].take(size)] for name in stacks}
        for i, path in enumerate(measured):
            measured[i] = _post(stacks["with"], path)
            for variant in measured[i]["variants"]:
                variant["bytes"] = _size(variant["url"])
    return {name: median(times) for name, times in server.items()}


def compare(plan: Plan, photo_1mp: str, phone_12mp: str, table: Table, server_core: int) -> None:
    answers = [photo_1mp, phone_12mp]
    deployed = _server_times(plan, photo_1mp, set(range(os.cpu_count() or 1)), answers)
    pinned = _server_times(plan, photo_1mp, {server_core}, [])
    card = next(v for v in answers[0]["variants"]
                if max(v["width"], v["height"]) <= 128 < 2 * max(v["width"], v["height"]))
    phone = answers[1]
    listed = min(phone["variants"], key=lambda v: v["width"])
    card_bytes, list_bytes = card["bytes"], listed["bytes"]
    table.section(f"Variants: the app's time per 1 MP JPEG upload with UPLOADS_VARIANTS "
                  f"(64,128,256,512) and without, {ALTERNATIONS[plan.quick]} uploads each, "
                  f"alternating one by one, on "
                  f"every core as deployed, then on one core (its CPU cost); the sizes a "
                  "client gets")
    for label, times in (("every core", deployed), ("one core", pinned)):
        table.measure(f"1 MP JPEG upload without variants, {label}",
                      other=f"server {times['without']:.1f} ms")
        table.measure(f"1 MP JPEG upload with variants, {label}",
                      other=f"server {times['with']:.1f} ms")
    cost = deployed["with"] / deployed["without"]
    table.ratio("variants: server time with / without, every core", cost,
                f"<= {TARGETS['cost']}x", cost <= TARGETS["cost"])
    table.ratio("variants: server time with / without, one core (its CPU cost: what a "
                "saturated server pays)",
                pinned["with"] / pinned["without"], "reported", None)
    table.check(f"variants: 128 px copy of the 1 MP photo ({card['width']} x "
                f"{card['height']})", f"{card_bytes:,} bytes",
                f"<= {TARGETS['card_bytes']:,}", card_bytes <= TARGETS["card_bytes"])
    ratio = phone["size"] / list_bytes
    table.ratio(f"variants: 12 MP phone photo, stored main ({phone['size']:,} bytes) / list "
                f"copy ({listed['width']} x {listed['height']}, {list_bytes:,} bytes)", ratio,
                f">= {TARGETS['list_ratio']}x", ratio >= TARGETS["list_ratio"])
