"""Variants: what writing them costs an upload, and what they save a client.

Two stacks at once, the same but for UPLOADS_VARIANTS (empty on one), measured in alternation
round by round so that drift and neighbours' load fall on both alike: the app's own time per
1 MP JPEG upload (its log's ms=, on the pinned server core). Then the sizes a client gets: the
128 px copy of that typical photo, and the list-size (64 px) copy of a 12 MP phone photo
against its stored main file.
"""

import contextlib
import json
import os
import urllib.request

from devstack import Stack
from devstack.client import multipart

from .phases import Plan, upload
from .report import Table, median
from .servers import LogCursor, bench_env

TARGETS = {"cost": 1.25, "card_bytes": 8 * 1024, "list_ratio": 50}


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


def compare(plan: Plan, photo_1mp: str, phone_12mp: str, table: Table) -> None:
    with contextlib.ExitStack() as running:
        stacks = {name: running.enter_context(Stack(env=bench_env(MIN_FREE_BYTES=0, **extra)))
                  for name, extra in (("without", {"VARIANTS": ""}), ("with", {}))}
        cursors = {name: LogCursor(stack.log_path("gunicorn")) for name, stack in stacks.items()}
        server = {name: [] for name in stacks}
        size = os.path.getsize(photo_1mp)
        for _ in range(plan.upload_rounds):
            for name, stack in stacks.items():
                upload(plan, stack.port, photo_1mp, min_requests=plan.upload_min)
                server[name] += [ms for ms, _ in cursors[name].take(size)]
        card = next(v for v in _post(stacks["with"], photo_1mp)["variants"]
                    if max(v["width"], v["height"]) <= 128 < 2 * max(v["width"], v["height"]))
        phone = _post(stacks["with"], phone_12mp)
        listed = min(phone["variants"], key=lambda v: v["width"])
        card_bytes, list_bytes = _size(card["url"]), _size(listed["url"])
    without, with_ = median(server["without"]), median(server["with"])
    table.section(f"Variants: the app's time per 1 MP JPEG upload with UPLOADS_VARIANTS "
                  f"(64,128,256,512) and without, {plan.upload_rounds} rounds alternating; the "
                  "sizes a client gets")
    table.measure("1 MP JPEG upload without variants", other=f"server {without:.1f} ms")
    table.measure("1 MP JPEG upload with variants", other=f"server {with_:.1f} ms")
    cost = with_ / without
    table.ratio("variants: server time with / without", cost, f"<= {TARGETS['cost']}x",
                cost <= TARGETS["cost"])
    table.check(f"variants: 128 px copy of the 1 MP photo ({card['width']} x "
                f"{card['height']})", f"{card_bytes:,} bytes",
                f"<= {TARGETS['card_bytes']:,}", card_bytes <= TARGETS["card_bytes"])
    ratio = phone["size"] / list_bytes
    table.ratio(f"variants: 12 MP phone photo, stored main ({phone['size']:,} bytes) / list "
                f"copy ({listed['width']} x {listed['height']}, {list_bytes:,} bytes)", ratio,
                f">= {TARGETS['list_ratio']}x", ratio >= TARGETS["list_ratio"])
