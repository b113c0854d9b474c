"""A bounded upload client: N kept-alive connections POSTing one image as the web client does.

wrk can only stop on time, and an upload of a large PNG takes seconds; this client stops on a
request count or a time cap, whichever comes first, and reports every latency and status.
`python -m bench.client` runs it in its own process, which the caller pins to the load core.
"""

import http.client
import json
import os
import sys
import threading
import time

from devstack.client import multipart

TYPES = {"jpg": "image/jpeg", "png": "image/png", "webp": "image/webp"}


def run(port: int, path: str, image: str, connections: int, max_requests: int,
        min_requests: int, seconds: float, hard_seconds: float) -> dict:
    """Upload until max_requests, or until `seconds` passed and min_requests are done."""
    name = os.path.basename(image)
    with open(image, "rb") as src:
        body, content_type = multipart([("avatar", name, TYPES.get(
            name.rsplit(".", 1)[-1], "application/octet-stream"), src.read())])
    headers = {"Content-Type": content_type}
    lock = threading.Lock()
    started = time.monotonic()
    state = {"issued": 0, "latencies": [], "statuses": {}, "errors": 0}

    def take() -> bool:
        with lock:
            elapsed = time.monotonic() - started
            done = sum(state["statuses"].values()) + state["errors"]
            if (state["issued"] >= max_requests or elapsed >= hard_seconds
                    or (elapsed >= seconds and done >= min_requests)):
                return False
            state["issued"] += 1
            return True

    def worker():
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=hard_seconds)
        while take():
            t0 = time.perf_counter()
            try:
                conn.request("POST", path, body=body, headers=headers)
                answer = conn.getresponse()
                answer.read()
                status = answer.status
            except (OSError, http.client.HTTPException):
                conn.close()
                conn = http.client.HTTPConnection("127.0.0.1", port, timeout=hard_seconds)
                with lock:
                    state["errors"] += 1
                continue
            latency = (time.perf_counter() - t0) * 1000
            with lock:
                if status == 201:  # failures are counted by status, never timed
                    state["latencies"].append(latency)
                state["statuses"][str(status)] = state["statuses"].get(str(status), 0) + 1
        conn.close()

    threads = [threading.Thread(target=worker) for _ in range(connections)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    state["elapsed"] = time.monotonic() - started
    del state["issued"]
    return state


def alternate(ports: list[int], path: str, image: str, count: int, hard_seconds: float) -> dict:
    """One upload to each port in turn, `count` turns, one kept-alive connection each: two
    servers compared request by request, so that whatever else the cores do in the meantime
    falls on both alike. Statuses by port."""
    name = os.path.basename(image)
    with open(image, "rb") as src:
        body, content_type = multipart([("avatar", name, TYPES.get(
            name.rsplit(".", 1)[-1], "application/octet-stream"), src.read())])
    conns = {port: http.client.HTTPConnection("127.0.0.1", port, timeout=30) for port in ports}
    statuses: dict[str, dict[str, int]] = {str(port): {} for port in ports}
    started = time.monotonic()
    for _ in range(count):
        if time.monotonic() - started > hard_seconds:
            break
        for port, conn in conns.items():
            conn.request("POST", path, body=body, headers={"Content-Type": content_type})
            answer = conn.getresponse()
            answer.read()
            got = statuses[str(port)]
            got[str(answer.status)] = got.get(str(answer.status), 0) + 1
    for conn in conns.values():
        conn.close()
    return {"statuses": statuses, "elapsed": time.monotonic() - started}


if __name__ == "__main__":
    args = json.loads(sys.argv[1])
    json.dump(alternate(**args["alternate"]) if "alternate" in args else run(**args), sys.stdout)
