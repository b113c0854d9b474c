"""The one table: medians, the ratios read from them, and each target beside its ratio."""

import os
import platform
import statistics
import subprocess
import sys

import PIL

COLUMNS = ("measurement", "rate /s", "p50 ms", "p99 ms", "other", "ratio", "target", "")


def percentile(values: list[float], pct: float) -> float:
    """Nearest-rank percentile; 0 for no values."""
    if not values:
        return 0.0
    ordered = sorted(values)
    rank = max(1, -(-len(ordered) * pct // 100))
    return ordered[int(rank) - 1]


def median(values) -> float:
    values = list(values)
    return statistics.median(values) if values else 0.0


def fmt(value: float | None, digits: int = 1) -> str:
    if value is None:
        return ""
    if abs(value) >= 100:
        return f"{value:,.0f}"
    return f"{value:.{digits}f}"


class Table:
    def __init__(self):
        self.rows: list[tuple[str, ...]] = []
        self.verdicts: list[tuple[str, str, bool]] = []

    def section(self, title: str) -> None:
        self.rows.append((f"**{title}**",) + ("",) * (len(COLUMNS) - 1))

    def measure(self, name: str, rate=None, p50=None, p99=None, other: str = "") -> None:
        self.rows.append((name, fmt(rate, 0 if rate and rate >= 10 else 1), fmt(p50, 2),
                          fmt(p99, 2), other, "", "", ""))

    def ratio(self, name: str, value: float, target: str, ok: bool | None,
              other: str = "") -> None:
        verdict = "" if ok is None else ("met" if ok else "**missed**")
        self.rows.append((name, "", "", "", other, f"{value:.2f}x", target, verdict))
        if ok is not None:
            self.verdicts.append((name, target, ok))

    def check(self, name: str, measured: str, target: str, ok: bool) -> None:
        self.rows.append((name, "", "", "", measured, "", target, "met" if ok else "**missed**"))
        self.verdicts.append((name, target, ok))

    def markdown(self) -> str:
        lines = ["| " + " | ".join(COLUMNS) + " |", "|" + "---|" * len(COLUMNS)]
        lines += ["| " + " | ".join(row) + " |" for row in self.rows]
        return "\n".join(lines)


def load_average() -> str:
    with open("/proc/loadavg") as avg:
        return " ".join(avg.read().split()[:3])


def machine(load_core: int, server_core: int) -> str:
    cpu = "unknown CPU"
    try:
        with open("/proc/cpuinfo") as info:
            cpu = next(line.split(":", 1)[1].strip() for line in info
                       if line.startswith("model name"))
    except (OSError, StopIteration):
        pass
    with open("/proc/meminfo") as info:
        mem_gib = int(info.readline().split()[1]) / 1024 / 1024
    traefik = _first_line([os.path.join(os.path.dirname(sys.executable), "traefik"), "version"],
                          "Version:")
    return (f"{cpu}, {os.cpu_count()} cores, {mem_gib:.0f} GiB, Linux {platform.release()}; "
            f"Python {platform.python_version()}, Pillow {PIL.__version__}, "
            f"Traefik {traefik}, {_nginx_version()}, wrk {_wrk_version()}. "
            f"Load tool pinned to core {load_core}; Traefik, nginx, gunicorn and the in-process "
            f"Pillow floor pinned to core {server_core} (taskset / sched_setaffinity).")


def _first_line(argv, prefix: str) -> str:
    try:
        out = subprocess.run(argv, capture_output=True, text=True, timeout=10).stdout
    except (OSError, subprocess.TimeoutExpired):
        return "?"
    for line in out.splitlines():
        if line.startswith(prefix):
            return line[len(prefix):].strip()
    return "?"


def _nginx_version() -> str:
    from devstack import nginx_binary

    try:
        out = subprocess.run([nginx_binary(), "-v"], capture_output=True, text=True, timeout=10)
    except (OSError, subprocess.TimeoutExpired):
        return "nginx ?"
    return out.stderr.strip().replace("nginx version: ", "").replace("/", " ")


def _wrk_version() -> str:
    out = subprocess.run(["wrk", "-v"], capture_output=True, text=True, timeout=10)
    words = (out.stdout + out.stderr).split()
    return words[1] if len(words) > 1 else "?"
