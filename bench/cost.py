"""The cost table: each worst input of `bench/worst.py` and the normal photos, through
`uploads.images.normalise`, each in a fresh process on the server core.

A fresh process per input, because peak RSS never goes down: the child imports the app's
modules, sets the workers' malloc options (`gunicorn.conf.py`), reads its own peak
(`VmHWM`) as the baseline, processes the file once, and reports the new peak minus the
baseline and the absolute peak. It then runs the same file again `repeats` times for the time
(median and best). A refused file reports its refusal and the time the refusal took.
"""

import io
import json
import os
import subprocess
import sys

from . import worst
from .report import Table

REPEATS = 5


def child(path: str, repeats: int) -> dict:
    import ctypes
    import dataclasses
    import time

    import uploads  # noqa: F401  (the worker's imports: Flask, Pillow, the app)
    from uploads import errors, images, settings

    libc = ctypes.CDLL("libc.so.6")
    for option, value in ((-8, 2), (-3, 8 << 20), (-1, 32 << 20)):  # as gunicorn.conf.py
        libc.mallopt(option, value)
    config = settings.load({})
    limits = images.Limits(**{f.name: config[f.name.upper()]
                              for f in dataclasses.fields(images.Limits)})  # as create_app
    with open(path, "rb") as src:
        data = src.read()
    base = _hwm_mb()
    times, outcome = [], ""
    for _ in range(1 + repeats):
        t0 = time.perf_counter()
        try:
            result = images.normalise(data, limits)
            outcome = f"{result.width}x{result.height}, {len(result.data) / 1000:,.0f} KB"
        except errors.UploadsError as exc:
            outcome = f"{exc.status} {exc.code}, estimated {exc.detail.rpartition(') ')[2]}"
        times.append((time.perf_counter() - t0) * 1000)
        if len(times) == 1:
            peak = _hwm_mb()
    rest = sorted(times[1:]) or times
    return {"first_ms": times[0], "median_ms": rest[len(rest) // 2], "best_ms": rest[0],
            "peak_mb": peak, "over_base_mb": peak - base, "base_mb": base, "outcome": outcome}


def _hwm_mb() -> float:
    """This process's peak RSS (VmHWM): unlike ru_maxrss, it does not start at the parent's
    peak after fork and exec."""
    with open("/proc/self/status") as status:
        line = next(x for x in status if x.startswith("VmHWM:"))
    return int(line.split()[1]) / 1024


def measure(path: str, core: int | None = None, repeats: int = REPEATS) -> dict:
    argv = [sys.executable, "-m", "bench.cost", path, str(repeats)]
    if core is not None:
        argv = ["taskset", "-c", str(core)] + argv
    proc = subprocess.run(argv, capture_output=True, text=True, timeout=600, check=True)
    return json.loads(proc.stdout)


def worst_files(folder: str, limits) -> dict[str, tuple[str, str]]:
    """Each worst input at the pixel cap and, when the budget refuses it, at the largest size
    the budget accepts (found from the pixels the refusal names, less 2% until accepted),
    written once to `folder`: name -> (label, path)."""
    from uploads import errors, images

    os.makedirs(folder, exist_ok=True)
    made = {}
    for name, (label, make) in worst.catalogue().items():
        size = worst.CAMERA if name == "jpeg_camera" else worst.SIZE
        for attempt in range(12):
            tag = f"{name}-{size[0]}x{size[1]}-{worst.RECIPE}"
            path = os.path.join(folder, tag + ".bin")
            if not os.path.exists(path):
                with open(path + ".part", "wb") as out:
                    out.write(make(size))
                os.replace(path + ".part", path)
            with open(path, "rb") as src:
                data = src.read()
            try:
                images.normalise(data, limits)
            except errors.ImageTooLarge as exc:
                if not attempt:
                    made[f"{name}@cap"] = (f"{label}, {_size(data)}, refused", path)
                allowed = int(exc.params["pixels"].replace(" ", ""))
                scale = min((allowed / (size[0] * size[1])) ** 0.5, 0.98) * 0.98 ** attempt
                size = (max(16, int(size[0] * scale)), max(16, int(size[1] * scale)))
                continue
            except errors.InvalidImage:  # a container of countless pieces: refused as such
                made[f"{name}@cap"] = (f"{label}, {_size(data)}, refused as malformed", path)
                break
            made[name] = (f"{label}, {_size(data)}", path)
            break
    return made


def _size(data: bytes) -> str:
    from PIL import Image

    with Image.open(io.BytesIO(data)) as im:
        return f"{im.width}x{im.height}"


def cost_table(photos: dict[str, tuple[str, str]], worst_inputs: dict[str, tuple[str, str]],
               table: Table, core: int | None, repeats: int = REPEATS,
               victims: dict[str, float] | None = None) -> None:
    """One row per input: outcome, server time (median and best), peak RSS over the idle
    baseline and absolute."""
    table.section(f"Cost per input, `images.normalise` in a fresh process on the server core: "
                  f"median (best) of {repeats} after a first run; peak RSS of the first run "
                  "over an idle process with the same imports (absolute in brackets)")
    for group in (photos, worst_inputs):
        for name, (label, path) in group.items():
            got = measure(path, core, repeats)
            victim = (victims or {}).get(name)
            table.measure(f"{label}, {os.path.getsize(path) / 1000:,.0f} KB", None,
                          got["median_ms"], None,
                          f"best {got['best_ms']:.0f} ms; peak +{got['over_base_mb']:.0f} MB "
                          f"({got['peak_mb']:.0f} MB); {got['outcome']}"
                          + (f"; victim p50 during its attack {victim:.0f} ms" if victim else ""))


if __name__ == "__main__":
    print(json.dumps(child(sys.argv[1], int(sys.argv[2]) if len(sys.argv) > 2 else REPEATS)))
