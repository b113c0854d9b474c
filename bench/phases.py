"""The four measurements. Each alternates the things it compares, round after round, and
records medians; every load is bounded in time (wrk's duration, the client's caps)."""

import json
import os
import subprocess
import sys
import time
from dataclasses import dataclass

from devstack import children

from . import servers, wrk
from .floor import Floor
from .report import Table, median, percentile
from .scale import Fixture


@dataclass(frozen=True)
class Plan:
    quick: bool
    load_core: int
    rounds: int
    upload_rounds: int
    upload_min: int  # uploads per kind and round, at least (the time cap may allow more)
    get_seconds: int
    get_connections: int
    upload_seconds: float
    floor_pairs: int
    burst_requests: int
    scale_levels: tuple[int, ...]
    scale_seconds: int
    scale_recheck: bool  # measure the smallest level again after the largest (drift check)


def upload(plan: Plan, port: int, image: str, connections: int = 1, seconds=None,
           max_requests: int = 300, min_requests: int = 2) -> dict:
    """The bounded client in its own process on the load core."""
    seconds = plan.upload_seconds if seconds is None else seconds
    args = dict(port=port, path="/api/upload/avatar", image=image, connections=connections,
                max_requests=max_requests, min_requests=min_requests, seconds=seconds,
                hard_seconds=seconds + 20)
    proc = subprocess.run(
        ["taskset", "-c", str(plan.load_core), sys.executable, "-m", "bench.client",
         json.dumps(args)], capture_output=True, text=True, timeout=seconds + 40, check=True)
    return json.loads(proc.stdout)


def alternate(plan: Plan, ports: list[int], image: str, count: int) -> dict:
    """`count` turns of one upload to each port (bench/client.py `alternate`), on the load
    core; every answer must be a 201."""
    args = {"alternate": dict(ports=ports, path="/api/upload/avatar", image=image, count=count,
                              hard_seconds=count * 2.0)}
    proc = subprocess.run(
        ["taskset", "-c", str(plan.load_core), sys.executable, "-m", "bench.client",
         json.dumps(args)], capture_output=True, text=True, timeout=count * 2.0 + 60, check=True)
    result = json.loads(proc.stdout)
    wrong = {port: got for port, got in result["statuses"].items() if set(got) != {"201"}}
    if wrong:
        raise RuntimeError(f"uploads not all 201: {wrong}")
    return result


def failures(results: list[dict]) -> str:
    """'413 x76, 502 x36' for answers other than 201 (and connection errors), '' if none."""
    counts: dict[str, int] = {}
    for result in results:
        for status, n in result["statuses"].items():
            if status != "201":
                counts[status] = counts.get(status, 0) + n
        if result["errors"]:
            counts["conn. error"] = counts.get("conn. error", 0) + result["errors"]
    return ", ".join(f"{k} x{v}" for k, v in sorted(counts.items()))


def serving(plan: Plan, targets: dict[str, str], files: dict[str, tuple[str, str]],
            table: Table, tmp: str) -> None:
    """GET each size through each target; targets: label -> base URL, files: label -> path."""
    lists = {}
    for size, (_, url_path) in files.items():
        lists[size] = os.path.join(tmp, f"paths-{len(lists)}")
        with open(lists[size], "w") as out:
            out.write(url_path + "\n")
    names = list(targets)
    for base in targets.values():  # warm up: connections, caches, Go and Python code paths
        wrk.run(base, 1, plan.get_connections, plan.load_core, paths_file=lists[next(iter(files))])
    runs = {(size, name): [] for size in files for name in names}
    for r in range(plan.rounds):
        for size in files:
            for name in names[r % len(names):] + names[:r % len(names)]:
                runs[size, name].append(wrk.run(targets[name], plan.get_seconds,
                                                plan.get_connections, plan.load_core,
                                                paths_file=lists[size]))
    product, direct, flask = names
    goals = {"60 KB": (0.2, 6.0), "1 MB": (0.45, 2.0)}
    for size in files:
        table.section(f"GET {size}: wrk 1 thread, {plan.get_connections} connections, "
                      f"{plan.rounds} rounds x {plan.get_seconds} s")
        for name in names:
            rs = runs[size, name]
            errors = sum(x.errors for x in rs)
            table.measure(name, median(x.rps for x in rs), median(x.p50_ms for x in rs),
                          median(x.p99_ms for x in rs), f"{errors} errors" if errors else "")
        by_round = list(zip(runs[size, product], runs[size, direct], runs[size, flask],
                            strict=True))
        vs_direct = median(p.rps / d.rps for p, d, _ in by_round)
        vs_flask = median(p.rps / f.rps for p, _, f in by_round)
        low, high = goals.get(size, (None, None))
        table.ratio(f"{size}: product / nginx direct (req/s)", vs_direct,
                    f">= {low}x" if low else "", vs_direct >= low if low else None)
        table.ratio(f"{size}: product / Flask send_from_directory (req/s)", vs_flask,
                    f">= {high}x" if high else "", vs_flask >= high if high else None)


def uploading(plan: Plan, stack, images: dict[str, tuple[str, str]], floors: Floor,
              table: Table) -> dict:
    """Each kind through Traefik, one connection, alternating kinds, and after each its Pillow
    floor in-process on the server core; the server's time per image comes from its log."""
    cursor = servers.LogCursor(stack.log_path("gunicorn"))
    cursor.take()
    names = list(images)
    latencies = {n: [] for n in names}
    rates = {n: [] for n in names}
    server = {n: [] for n in names}
    results = {n: [] for n in names}
    for r in range(plan.upload_rounds):
        for name in names[r % len(names):] + names[:r % len(names)]:
            path = images[name][1]
            result = upload(plan, stack.port, path, min_requests=plan.upload_min)
            results[name].append(result)
            latencies[name] += result["latencies"]
            rates[name].append(len(result["latencies"]) / result["elapsed"])
            server[name] += cursor.take(os.path.getsize(path))
            with open(path, "rb") as src:
                floors.run(name, src.read(), plan.floor_pairs, min(1.0, plan.upload_seconds))
    table.section(f"Upload through Traefik: 1 connection, {plan.upload_rounds} rounds "
                  "alternating kinds and floors; p50/p99 over all rounds; server = the app's "
                  "ms= (image_ms=) median; floors in-process on the server core")
    for name in names:
        label, path = images[name]
        ms, image_ms = median(s[0] for s in server[name]), median(s[1] for s in server[name])
        floor = floors.medians(name)
        failed = failures(results[name])
        table.measure(f"{label}, {os.path.getsize(path) / 1000:,.0f} KB", median(rates[name]),
                      percentile(latencies[name], 50), percentile(latencies[name], 99),
                      (f"FAILED: {failed}; " if failed else "")
                      + f"server {ms:.1f} ms (image {image_ms:.1f}); floor normalise "
                      f"{floor['normalise']:.1f}, minimal {floor['minimal']:.1f} ms")
        first = name == names[0]
        if not server[name]:
            table.check(f"{label}: server time / minimal Pillow floor", "no upload stored",
                        "<= 1.15x" if first else "stored", False)
            continue
        ratio = ms / floor["minimal"]
        table.ratio(f"{label}: server time / minimal Pillow floor", ratio,
                    "<= 1.15x" if first else "", ratio <= 1.15 if first else None,
                    f"/ normalise floor {ms / floor['normalise']:.2f}x")
    first = names[0]
    label, path = images[first]
    result = upload(plan, stack.port, path, connections=4, max_requests=600)
    failed = failures([result])
    table.measure(f"{label}, 4 connections", len(result["latencies"]) / result["elapsed"],
                  percentile(result["latencies"], 50), percentile(result["latencies"], 99),
                  f"FAILED: {failed}" if failed else "")
    return {n: median(s[0] for s in server[n]) for n in names}


def memory(plan: Plan, stack, image: str, table: Table) -> None:
    """Peak RSS (VmHWM, reset first) of each gunicorn worker during a burst of 5 MiB uploads."""
    master = stack.procs["gunicorn"].pid
    workers = children(master)
    edge = stack.procs["traefik"].pid
    for pid in workers + [edge]:
        servers.reset_peak(pid)
    result = upload(plan, stack.port, image, connections=8, seconds=30,
                    max_requests=plan.burst_requests, min_requests=plan.burst_requests)
    after = children(master)
    if after != workers:
        raise RuntimeError(f"gunicorn workers changed during the burst: {workers} -> {after}")
    failed = failures([result])
    peaks = [servers.status_kb(pid, "VmHWM") / 1024 for pid in workers]
    edge_peak = servers.status_kb(edge, "VmHWM") / 1024
    table.section(f"Memory: burst of {plan.burst_requests} uploads of "
                  f"{os.path.getsize(image) / 2**20:.2f} MiB, 8 connections")
    table.measure("burst", len(result["latencies"]) / result["elapsed"],
                  percentile(result["latencies"], 50), percentile(result["latencies"], 99),
                  (f"FAILED: {failed}; " if failed else "")
                  + "peak RSS per worker " + ", ".join(f"{p:.0f}" for p in peaks)
                  + f" MB; Traefik {edge_peak:.0f} MB")
    table.check("peak RSS per gunicorn worker", f"{max(peaks):.0f} MB"
                + (" (uploads failed)" if failed else ""), "<= 200 MB",
                max(peaks) <= 200 and not failed)


def scale(plan: Plan, stack, seed_image: bytes, upload_image: str, table: Table,
          tmp: str) -> None:
    """GET of random existing files and upload latency as the volume fills to 10^6 files.

    Each level is flushed to disk (sync) before it is measured, so the fixture's own
    writeback does not land on the measurement. With `scale_recheck`, the smallest level is
    measured again after the rest is removed, and the ratios use the median of both."""
    fixture = Fixture(str(stack.root), seed_image)
    deadline = time.monotonic() + 120
    levels = list(plan.scale_levels)
    steps = [(f"{n:,} files", n) for n in levels]
    if plan.scale_recheck:
        steps.append((f"{levels[0]:,} files again, after removing the rest", levels[0]))
    seen = []
    try:
        for label, count in steps:
            built = (fixture.grow_to(count, deadline) if count >= fixture.count
                     else fixture.shrink_to(count))
            os.sync()
            paths = os.path.join(tmp, f"scale-{len(seen)}")
            with open(paths, "w") as out:
                out.write("\n".join(fixture.sample(1000)) + "\n")
            wrk.run(stack.url, 1, plan.get_connections, plan.load_core, paths_file=paths)
            got = wrk.run(stack.url, plan.scale_seconds, plan.get_connections, plan.load_core,
                          paths_file=paths)
            if got.errors:
                raise RuntimeError(f"scale GET at {count} files: {got.errors} errors")
            up = upload(plan, stack.port, upload_image, seconds=plan.scale_seconds)
            seen.append((label, built, got, percentile(up["latencies"], 50), failures([up])))
    finally:
        fixture.remove_all()
    table.section(f"Scale: GET of 1000 random existing files through Traefik "
                  f"({plan.get_connections} connections, {plan.scale_seconds} s) and 1 MP "
                  "upload p50, by files in the volume")
    for label, built, got, up50, failed in seen:
        table.measure(label, got.rps, got.p50_ms, got.p99_ms,
                      (f"upload FAILED: {failed}; " if failed else "")
                      + f"upload p50 {up50:.1f} ms; fixture made/removed in {built:.1f} s")
    # The smallest level measured before and after brackets the run's drift: its median is
    # the base (with one measurement, that one).
    lows = [seen[0]] + ([seen[-1]] if plan.scale_recheck else [])
    high = seen[len(levels) - 1]
    for what, index in (("GET p50", 0), ("GET p99", 1), ("upload p50", 2)):
        pick = (lambda r: r[2].p50_ms, lambda r: r[2].p99_ms, lambda r: r[3])[index]
        name = f"{what}: {levels[-1]:,} / {levels[0]:,} files"
        base = median(map(pick, lows))
        if not base or (index == 2 and any(r[4] for r in lows + [high])):
            table.check(name, "failed requests", "<= 1.10x", False)
            continue
        ratio = pick(high) / base
        table.ratio(name, ratio, "<= 1.10x", ratio <= 1.10)
