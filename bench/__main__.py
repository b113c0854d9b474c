"""`python -m bench` (what `make bench` runs): every measurement, then one table.

BENCH_QUICK=1 runs the same phases shorter (under a minute, 10^3 and 10^5 files only).
The table also goes to var/bench/last.md, next to the stack logs of the run.
"""

import os
import shutil
import sys
import tempfile
import time
from pathlib import Path

from devstack import Stack
from uploads import images, settings

from . import attack, avatars, cost, floor, phases, report, s3, servers, variants

REPO = Path(__file__).resolve().parent.parent
LOAD_CORE, SERVER_CORE = 0, 1
SERVED = {"60 KB": "i/p/2025/06/avatar_1748736000000_bnch60.jpg",
          "1 MB": "i/p/2025/06/avatar_1748736000001_bnch1m.jpg"}


def plan_from_env() -> phases.Plan:
    quick = os.environ.get("BENCH_QUICK", "") not in ("", "0")
    load = LOAD_CORE if (os.cpu_count() or 1) > 1 else SERVER_CORE
    if quick:
        return phases.Plan(True, load, rounds=3, upload_rounds=2, upload_min=1, get_seconds=1,
                           get_connections=16, upload_seconds=0.6, floor_pairs=1, burst_requests=16,
                           scale_levels=(1_000, 100_000), scale_seconds=1, scale_recheck=False)
    return phases.Plan(False, load, rounds=5, upload_rounds=3, upload_min=2, get_seconds=3,
                       get_connections=16, upload_seconds=2.5, floor_pairs=2, burst_requests=32,
                       scale_levels=(1_000, 100_000, 1_000_000), scale_seconds=3,
                       scale_recheck=True)


def step(message: str, started: float) -> None:
    print(f"[{time.monotonic() - started:6.1f} s] {message}", file=sys.stderr, flush=True)


def main() -> int:
    if not shutil.which("wrk"):
        print("wrk is not installed (make bench installs it)", file=sys.stderr)
        return 2
    plan = plan_from_env()
    started = time.monotonic()
    servers.pin_self(SERVER_CORE)  # servers started from here inherit the core
    # Variants off here: the floors compare the app with Pillow doing the same work; what the
    # variants add is measured in a phase of its own (bench/variants.py).
    env = servers.bench_env(VARIANTS="")
    config = settings.load(env)
    limits = images.Limits(config["MAX_PIXELS"], config["MAX_INPUT_SIDE"], config["MAX_SIDE"],
                           config["JPEG_QUALITY"], config["WEBP_QUALITY"],
                           config["IMAGE_BUDGET_MS"], config["IMAGE_BUDGET_MB"])
    load_before = report.load_average()
    tmp = tempfile.mkdtemp(prefix="uploads-bench-")
    table = report.Table()
    try:
        step("generating images", started)
        kinds = avatars.UPLOADS + (avatars.BURST, avatars.SCALE_SEED) + avatars.SERVED
        made = avatars.write_all(str(REPO / "var" / "bench" / "images"), kinds)
        uploads = {k.name: (k.label, made[k.name]) for k in avatars.UPLOADS}
        floors = floor.Floor(limits)
        with Stack(env=env) as stack:
            for (_, rel), kind in zip(SERVED.items(), avatars.SERVED, strict=True):
                target = stack.root / rel
                target.parent.mkdir(parents=True, exist_ok=True)
                shutil.copyfile(made[kind.name], target)
                target.chmod(0o644)
            probe = "/" + SERVED["60 KB"]
            with servers.ReferenceStack(root=stack.root, probe_path=probe, env=env) as ref:
                step("serving: product, nginx direct, Flask reference", started)
                targets = {"Traefik -> nginx (product)": stack.url,
                           "nginx direct": stack.static_url,
                           "Traefik -> gunicorn + Flask send_from_directory": ref.url}
                files = {size: ("", "/" + rel) for size, rel in SERVED.items()}
                phases.serving(plan, targets, files, table, tmp)
            step("uploading, alternating with the Pillow floor", started)
            phases.uploading(plan, stack, uploads, floors, table)
            step("memory burst", started)
            phases.memory(plan, stack, made[avatars.BURST.name], table)
            step(f"scale {', '.join(f'{n:,}' for n in plan.scale_levels)} files", started)
            with open(made[avatars.SCALE_SEED.name], "rb") as seed:
                phases.scale(plan, stack, seed.read(), made["jpeg_1mp"], table, tmp)
            step("cost of the worst inputs and of photos, one fresh process each", started)
            photos = {k.name: (k.label, made[k.name]) for k in avatars.UPLOADS}
            worst = cost.worst_files(str(REPO / "var" / "bench" / "worst"), limits)
            step("a hostile neighbour sending the worst accepted inputs", started)
            victims = attack.attack(worst, made["jpeg_1mp"], table, 8 if plan.quick else 20)
            cost.cost_table(photos, worst, table, SERVER_CORE, 2 if plan.quick else 5, victims)
            dead = stack.dead()
            if dead:
                raise RuntimeError(f"{dead} died during the run:\n{stack.tail(dead)}")
        step("storage modes: local and S3 (a local SeaweedFS), each on a stack of its own", started)
        with open(made[avatars.SERVED[0].name], "rb") as served:
            s3.compare(plan, served.read(), made["jpeg_1mp"], table)
        step("variants: the cost of writing them, the sizes clients get", started)
        variants.compare(plan, made["jpeg_1mp"], made["jpeg_12mp"], table, SERVER_CORE)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    elapsed = time.monotonic() - started
    text = "\n".join([
        f"# uploads benchmark ({'quick' if plan.quick else 'full'}, {elapsed:.0f} s)", "",
        report.machine(plan.load_core, SERVER_CORE),
        f"Load average before / after the run: {load_before} / {report.load_average()} "
        "(above ~0.1 before, other work shares the cores and the numbers are noisy).", "",
        table.markdown(), "",
        "Targets: " + ", ".join(f"{name} {'met' if ok else 'MISSED'}"
                                for name, _, ok in table.verdicts) + ".", ""])
    print(text)
    out = REPO / "var" / "bench"
    out.mkdir(parents=True, exist_ok=True)
    (out / "last.md").write_text(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
