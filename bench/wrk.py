"""Run wrk on the load core and read the one JSON line its script prints."""

import json
import os
import subprocess
from dataclasses import dataclass

LUA = os.path.join(os.path.dirname(os.path.abspath(__file__)), "lua", "bench.lua")


@dataclass(frozen=True)
class Result:
    rps: float
    p50_ms: float
    p99_ms: float
    requests: int
    errors: int  # socket errors, timeouts and status >= 400


def run(url: str, seconds: float, connections: int, core: int, *, paths_file: str = "",
        upload: str = "", timeout_s: int = 20) -> Result:
    """wrk with one thread pinned to `core`; bounded by `seconds` (and a hard kill)."""
    env = dict(os.environ, BENCH_PATHS=paths_file, BENCH_UPLOAD=upload)
    if not paths_file:
        env.pop("BENCH_PATHS")
    if not upload:
        env.pop("BENCH_UPLOAD")
    duration = max(1, round(seconds))
    cmd = ["taskset", "-c", str(core), "wrk", "-t1", f"-c{connections}", f"-d{duration}s",
           f"--timeout={timeout_s}s", "-s", LUA, url]
    proc = subprocess.run(cmd, env=env, capture_output=True, text=True,
                          timeout=duration + timeout_s + 10, check=False)
    line = next((x for x in proc.stdout.splitlines() if x.startswith("BENCH ")), None)
    if proc.returncode != 0 or line is None:
        raise RuntimeError(f"wrk failed ({proc.returncode}): {proc.stderr.strip()[-500:]}")
    data = json.loads(line[6:])
    errors = sum(data[k] for k in ("connect", "read", "write", "status", "timeout"))
    seconds_run = data["duration_us"] / 1e6
    return Result(rps=data["requests"] / seconds_run, p50_ms=data["p50_us"] / 1000,
                  p99_ms=data["p99_us"] / 1000, requests=data["requests"], errors=errors)
