"""`python -m bench.tuning`: Traefik settings tried on copies of the committed config.

One stack (nginx, gunicorn, Traefik as committed) plus one more Traefik per variant, each from
a copy of `traefik/` with one change, all in front of the same nginx. GETs of the 60 KB and
1 MB images go through each in alternation, round after round, beside nginx direct; the table
gives each variant's median req/s and its ratio to the committed config and to nginx direct.
Nothing under `traefik/` is changed: a variant that helps is a proposal, with its numbers.
"""

import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from devstack import Stack, free_port, http_get
from devstack.configs import TRAEFIK_DYNAMIC, traefik_static

from . import avatars, servers, wrk
from .__main__ import LOAD_CORE, REPO, SERVED, SERVER_CORE
from .report import Table, median


def no_access_log(static: str) -> str:
    return _sub(static, r"\naccessLog:\n(?:  .*\n)+", "\n")


def access_log_errors_only(static: str) -> str:
    return _sub(static, r"\naccessLog:\n", "\naccessLog:\n  filters:\n    statusCodes: "
                "[\"400-599\"]\n")


def access_log_buffered(static: str) -> str:
    return _sub(static, r"\naccessLog:\n", "\naccessLog:\n  bufferingSize: 256\n")


def images_router_no_access_log(dynamic: str) -> str:
    """Per-router observability (Traefik >= 3.1): the API keeps its access log, /i/ drops it
    (nginx logs every image request anyway)."""
    router = r"(\n    uploads-images:\n(?:      .*\n)*?      service: uploads-static\n)"
    return _sub(dynamic, router, r"\1      observability:\n        accessLogs: false\n")


def _sub(text: str, pattern: str, new: str) -> str:
    out, n = re.subn(pattern, new, text, count=1)
    if n != 1:
        raise RuntimeError(f"pattern {pattern!r} not found in the Traefik config")
    return out


# name -> (static config change, dynamic config change, extra environment)
VARIANTS = {
    "access log off": (no_access_log, None, {}),
    "/i/ router without access log": (None, images_router_no_access_log, {}),
    "access log: errors only": (access_log_errors_only, None, {}),
    "access log buffered (256 lines)": (access_log_buffered, None, {}),
    "GOGC=400": (None, None, {"GOGC": "400"}),
    "/i/ router without access log + GOGC=400": (None, images_router_no_access_log,
                                                 {"GOGC": "400"}),
}


def start_variant(name, change, dynamic_change, extra_env, stack, tmp):
    """One more Traefik from a changed copy of the config: (process, base URL, log file)."""
    folder = Path(tmp) / re.sub(r"\W+", "-", name)
    shutil.copytree(TRAEFIK_DYNAMIC, folder / "dynamic")
    if dynamic_change:
        routes = folder / "dynamic" / "uploads.yml"
        routes.write_text(dynamic_change(routes.read_text()))
    port = free_port()
    static = traefik_static(port).replace(str(TRAEFIK_DYNAMIC), str(folder / "dynamic"))
    (folder / "traefik.yml").write_text(change(static) if change else static)
    env = dict(servers.bench_env(), UPLOADS_APP_URL=stack.app_url,
               UPLOADS_STATIC_URL=stack.static_url, **extra_env)
    log = open(folder / "traefik.log", "ab")  # noqa: SIM115 (closed by the caller)
    proc = subprocess.Popen([str(Path(sys.executable).parent / "traefik"),
                             f"--configFile={folder / 'traefik.yml'}"], env=env, stdout=log,
                            stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                            start_new_session=True)
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 30
    while http_get(url + "/" + SERVED["60 KB"])[0] != 200:
        if proc.poll() is not None or time.monotonic() > deadline:
            raise RuntimeError(f"{name}: Traefik did not start: {(folder / 'traefik.log')}")
        time.sleep(0.1)
    return proc, url, log


def main() -> int:
    quick = os.environ.get("BENCH_QUICK", "") not in ("", "0")
    rounds, seconds, conns = (3, 1, 16) if quick else (3, 2, 16)
    servers.pin_self(SERVER_CORE)
    made = avatars.write_all(str(REPO / "var" / "bench" / "images"), avatars.SERVED)
    tmp = tempfile.mkdtemp(prefix="uploads-tuning-")
    procs, logs = [], []
    table = Table()
    try:
        with Stack(env=servers.bench_env()) as stack:
            for rel, kind in zip(SERVED.values(), avatars.SERVED, strict=True):
                (stack.root / rel).parent.mkdir(parents=True, exist_ok=True)
                shutil.copyfile(made[kind.name], stack.root / rel)
            targets = {"committed config": stack.url, "nginx direct": stack.static_url}
            for name, (change, dynamic_change, env) in VARIANTS.items():
                proc, url, log = start_variant(name, change, dynamic_change, env, stack, tmp)
                procs.append(proc)
                logs.append(log)
                targets[name] = url
            names = list(targets)
            for size, rel in SERVED.items():
                paths = os.path.join(tmp, f"paths-{size.replace(' ', '')}")
                Path(paths).write_text("/" + rel + "\n")
                for url in targets.values():
                    wrk.run(url, 1, conns, LOAD_CORE, paths_file=paths)
                runs = {n: [] for n in names}
                for r in range(rounds):
                    for name in names[r % len(names):] + names[:r % len(names)]:
                        runs[name].append(wrk.run(targets[name], seconds, conns, LOAD_CORE,
                                                  paths_file=paths))
                table.section(f"GET {size}, {rounds} rounds x {seconds} s, {conns} connections")
                for name in names:
                    rs = runs[name]
                    base = median(a.rps / b.rps for a, b in
                                  zip(rs, runs["committed config"], strict=True))
                    direct = median(a.rps / b.rps for a, b in
                                    zip(rs, runs["nginx direct"], strict=True))
                    table.measure(name, median(x.rps for x in rs), median(x.p50_ms for x in rs),
                                  median(x.p99_ms for x in rs),
                                  f"{base:.2f}x committed, {direct:.2f}x nginx direct")
    finally:
        for proc in procs:
            with_group_kill(proc)
        for log in logs:
            log.close()
        shutil.rmtree(tmp, ignore_errors=True)
    print(table.markdown())
    return 0


def with_group_kill(proc: subprocess.Popen) -> None:
    try:
        os.killpg(proc.pid, signal.SIGTERM)
        proc.wait(timeout=15)
    except (ProcessLookupError, subprocess.TimeoutExpired):
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()


if __name__ == "__main__":
    sys.exit(main())
