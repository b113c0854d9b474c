"""The scale-out deployment (docker-compose.s3.yml) on a real engine: a running single-host
deployment moved onto it with clients uploading and reading throughout, then every way of
losing a replica or the store, each checked against every URL handed out so far.

The tests share one deployment and run in file order. ALL holds every path answered 201, with
the bytes first served; after each step they are all served again, byte for byte, and the
bucket holds each of them with the same digest.
"""

import collections
import json
import threading
import time

import pytest
import requests
from harness import REPO, S3_PROJECT, Deployment, remove_leftovers, run, wait_until
from traffic import Traffic, digests, small_image

from devstack import free_port

pytestmark = [pytest.mark.docker, pytest.mark.timeout(1200)]

ALL: dict[str, bytes] = {}
BEFORE: dict[str, bytes] = {}  # served by the single-host deployment before the move
BUCKET_DIGESTS = """
import hashlib, json, os, sys
import boto3
s3 = boto3.client("s3", endpoint_url=os.environ["UPLOADS_S3_ENDPOINT"],
                  region_name=os.environ["UPLOADS_S3_REGION"],
                  aws_access_key_id=os.environ["UPLOADS_S3_ACCESS_KEY_ID"],
                  aws_secret_access_key=os.environ["UPLOADS_S3_SECRET_ACCESS_KEY"])
out = {}
for path in sys.stdin.read().split():
    body = s3.get_object(Bucket=os.environ["UPLOADS_S3_BUCKET"], Key=path[1:])["Body"].read()
    out[path] = hashlib.sha256(body).hexdigest()
print(json.dumps(out))
"""


@pytest.fixture(scope="module")
def stack(standins, tmp_path_factory):
    remove_leftovers()
    deploy = Deployment(tmp_path_factory.mktemp("scale"), free_port(), S3_PROJECT,
                        UPLOADS_CLIENT_SLOTS="8")
    deploy.compose("build", "app", timeout=900)
    deploy.up()
    yield deploy
    deploy.compose("down", "-v", "--remove-orphans", "--timeout", "10", check=False)
    remove_leftovers()


def replicas(stack) -> list[str]:
    return stack.compose("ps", "-q", "app").stdout.split()


def app_exec(stack, *args, **kwargs):
    """A command in one app replica (compose picks a running one, whatever its number)."""
    return stack.compose("exec", "-T", "app", *args, **kwargs)


def healthy(container: str) -> bool:
    status = ("docker", "inspect", "-f", "{{.State.Health.Status}}", container)
    return wait_until(lambda: run(*status).stdout.strip() == "healthy", 90)


def upload(stack, name: str, data: bytes) -> str:
    path = stack.upload(name, data)["path"]
    served = stack.get(path)
    assert served.status_code == 200, (path, served.status_code)
    ALL[path] = served.content
    return path


def assert_all_served(stack, in_bucket=True):
    """Every URL handed out so far: 200 through the edge with the same bytes, and (once the
    move is done) the same object in the bucket."""
    assert ALL, "nothing uploaded"
    wrong = {}
    for path, content in ALL.items():
        answer = stack.get(path)
        if answer.status_code != 200 or answer.content != content:
            wrong[path] = answer.status_code
    assert not wrong, f"{len(wrong)} of {len(ALL)} not served as before: {wrong}"
    if in_bucket:
        out = app_exec(stack, "python", "-c", BUCKET_DIGESTS, input="\n".join(ALL)).stdout
        assert json.loads(out) == digests(ALL)


def assert_clean(traffic, allowed=()):
    """No failure but the `allowed` kinds ("upload 502", "read ConnectionError"...)."""
    unexpected = [f for f in traffic.failures if f"{f[0]} {f[1]}" not in allowed]
    assert not unexpected, (traffic.counts, unexpected[:5])
    assert traffic.counts["upload 201"] > 0 or not traffic.uploaders
    unread = [path for path, content in traffic.stored.items() if content is None]
    assert not unread, f"answered 201, never served: {unread[:5]}"
    ALL.update(traffic.stored)


def test_a_single_host_deployment_serves_files_from_its_volume(stack, phone_files):
    for n in range(24):
        upload(stack, *small_image(n))
    for phone in phone_files.values():
        upload(stack, phone.name, phone.data)
    BEFORE.update(ALL)
    assert_all_served(stack, in_bucket=False)


def test_moving_it_to_the_scale_out_deployment_never_404s(stack):
    """docs/deploy.md, "Scale out", step by step, while one client uploads and another reads
    every old URL in a loop: no read ever 404s or gets other bytes, and every upload that got
    a 201 (to the volume before the switch, to the bucket after) is served."""
    stack.scale_out(replicas=2)
    with Traffic(stack.base, uploaders=1, readers=BEFORE) as traffic:
        stack.compose("up", "-d", "--no-deps", "--wait", "seaweedfs")
        copied = stack.compose("run", "--rm", "--no-deps", "-T", "app", "flask", "--app", "app",
                               "migrate", "--from", "/data").stdout
        assert copied.startswith("ok: imported "), copied
        # The switch, one service at a time so that the edge keeps answering: nginx on the
        # bucket (then the volume), then the replicas on the bucket.
        stack.compose("up", "-d", "--no-deps", "--wait", "static-cache", "static")
        stack.compose("up", "-d", "--no-deps", "--wait", "app")
        time.sleep(3)
    # What reached the volume during the switch is copied now; a rerun copies nothing.
    app_exec(stack, "flask", "--app", "app", "migrate", "--from", "/data")
    again = app_exec(stack, "flask", "--app", "app", "migrate", "--from", "/data").stdout
    assert again.startswith("ok: imported 0 "), again
    wrong = [f for f in traffic.failures if f[1] in (404, "other bytes")]
    assert not wrong, (traffic.counts, wrong)
    print("during the move:", dict(traffic.counts))
    # nginx and the app are recreated once each: refused connections and 502s for the
    # seconds that takes, never a 404.
    assert_clean(traffic, allowed={"read ConnectionError", "read 502", "read 504",
                                   "upload ConnectionError", "upload 502", "upload 503",
                                   "read-own 502", "read-own ConnectionError"})
    assert len(replicas(stack)) == 2
    assert_all_served(stack)
    done = app_exec(stack, "flask", "--app", "app", "verify", "--urls", "-",
                    input="\n".join(stack.base + p for p in ALL))
    assert done.returncode == 0, done.stdout


def test_the_edge_is_recreated_last_and_its_start_up_404s_are_traefiks_own(stack):
    """Step 5 of the move: Traefik takes its replica settings. Like any Traefik start, it
    answers its own plain 404 to everything until its file provider's routes are loaded
    (Traefik issues #7347, #10458): measured here with one reader in a tight loop, so that
    docs/deploy.md can say how long; no other 404, and every file served afterwards."""
    path, content = next(iter(BEFORE.items()))
    seen, stop = [], threading.Event()

    def read():
        while not stop.is_set():
            try:
                answer = requests.get(stack.base + path, timeout=5,
                                      headers={"Connection": "close"})
                seen.append((time.monotonic(), answer.status_code, answer.text[:40]
                             if answer.status_code != 200 else answer.content == content))
            except requests.RequestException as exc:
                seen.append((time.monotonic(), type(exc).__name__, ""))
                time.sleep(0.01)

    reader = threading.Thread(target=read)
    reader.start()
    try:
        stack.compose("up", "-d", "--no-deps", "--wait", "edge-replicas", "traefik")
        time.sleep(1)
    finally:
        stop.set()
        reader.join()
    not_found = [at for at, status, _ in seen if status == 404]
    assert all(detail == "404 page not found\n" for _, status, detail in seen
               if status == 404), [s for s in seen if s[1] == 404][:3]
    assert all(detail is True for _, status, detail in seen if status == 200)
    window = max(not_found) - min(not_found) if not_found else 0.0
    print(f"edge recreated: {len(seen)} reads, {len(not_found)} of Traefik's own 404s "
          f"over {window * 1000:.0f} ms",
          collections.Counter(status for _, status, _ in seen))
    assert seen[-1][1] == 200
    assert_all_served(stack)


def test_uploads_spread_over_the_replicas(stack):
    paths = [upload(stack, *small_image(100 + n)) for n in range(24)]
    served = {}
    for container in replicas(stack):
        logs = run("docker", "logs", container).stderr
        served[container[:12]] = sum(f'"path": "{path}"' in logs for path in paths)
    assert sum(served.values()) == len(paths), served
    assert all(count > 0 for count in served.values()), served


def test_phone_photos_of_each_format_through_the_replicas(stack, phone_files):
    for phone in phone_files.values():
        data = stack.upload(phone.name, phone.data)
        assert {key: data[key] for key in phone.answer} == phone.answer, phone.name
        served = stack.get(data["path"])
        assert served.content == phone.stored, phone.name
        ALL[data["path"]] = served.content


def test_a_replica_killed_in_a_burst_loses_no_accepted_upload(stack):
    """SIGKILL of a replica's gunicorn (a crash: Docker restarts it). The uploads it held at
    that moment had been sent to it whole, so the edge cannot send them again: those, and
    only those, fail, with a JSON 502 with Retry-After, or, for one whose answer was being
    sent, Traefik's plain 500 (its proxy aborts the request); nothing else fails and every
    201 is served."""
    victim = replicas(stack)[0]
    with Traffic(stack.base, uploaders=3, readers=ALL) as traffic:
        time.sleep(2)
        pid = run("docker", "inspect", "-f", "{{.State.Pid}}", victim).stdout.strip()
        run("kill", "-9", pid)
        time.sleep(8)
    print("replica killed:", dict(traffic.counts))
    lost = traffic.counts["upload 502"] + traffic.counts["upload 500"]
    assert lost <= 3, traffic.failures  # at most one per uploader
    assert all('"code": "service_unavailable"' in f[2] if f[1] == 502
               else f[2] == "Internal Server Error\n" for f in traffic.failures), \
        traffic.failures  # the edge's JSON 502, or Traefik's abort
    assert_clean(traffic, allowed={"upload 502", "upload 500"})
    restarts = run("docker", "inspect", "-f", "{{.RestartCount}}", victim).stdout.strip()
    assert restarts == "1"
    assert healthy(victim)
    assert_all_served(stack)


def test_a_hung_replica_is_taken_out_and_the_others_take_the_uploads(stack):
    """SIGSTOP of a whole replica (a hung process): its /readyz check times out (5 s) and it
    gets no new upload until it answers again; the clients that were waiting on it get their
    answers when it resumes. Each replica is its own server at the edge (traefik/replicas.py):
    under one name, one hung replica stalled every upload for as long as it hung."""
    victim = replicas(stack)[0]
    with Traffic(stack.base, uploaders=3, readers=ALL) as waiting:
        time.sleep(2)
        run("docker", "pause", victim)
        try:
            time.sleep(7)  # the check's timeout and a little: taken out by then
            with Traffic(stack.base, uploaders=3) as newcomers:
                time.sleep(8)
        finally:
            run("docker", "unpause", victim)
        time.sleep(3)
    print("replica hung:", dict(waiting.counts), "clients arriving meanwhile:",
          dict(newcomers.counts))
    assert newcomers.counts["upload 201"] >= 10, newcomers.counts
    assert_clean(newcomers)
    assert_clean(waiting)
    assert_all_served(stack)


def test_a_replica_cut_off_from_the_store_is_taken_out(stack):
    """The replica's link to the store lost (its network detached, so even the store's name no
    longer resolves): its probe write fails or hangs, /readyz says so within STALE_AFTER, and
    the edge stops sending it uploads; clients arriving then are all served by the others.
    The uploads it was given before get its JSON 503 (what no retry covers: it answered)."""
    victim = replicas(stack)[0]
    network = f"{stack.project}_store"
    with Traffic(stack.base, uploaders=3, readers=ALL) as waiting:
        time.sleep(2)
        run("docker", "network", "disconnect", network, victim)
        try:
            time.sleep(10)  # a probe unanswered 4 s, the next check: taken out by then
            with Traffic(stack.base, uploaders=3) as newcomers:
                time.sleep(8)
        finally:
            run("docker", "network", "connect", network, victim)
        time.sleep(4)
    print("replica cut off from the store:", dict(waiting.counts), "clients arriving then:",
          dict(newcomers.counts))
    assert newcomers.counts["upload 201"] >= 10, newcomers.counts
    assert_clean(newcomers)
    assert waiting.counts["upload 503"] <= 12, waiting.failures
    assert all('"code": "service_unavailable"' in f[2] for f in waiting.failures)
    assert_clean(waiting, allowed={"upload 503"})
    assert healthy(victim)
    assert_all_served(stack)


def test_a_replica_stopped_restarted_or_upgraded_one_at_a_time_loses_nothing(stack):
    first = replicas(stack)
    with Traffic(stack.base, uploaders=3, readers=ALL) as traffic:
        run("docker", "restart", "-t", "30", first[0])
        assert healthy(first[0])
        run("docker", "stop", "-t", "30", first[1])  # one down for a while
        time.sleep(3)
        run("docker", "start", first[1])
        assert healthy(first[1])
        rolled = run("python3", str(REPO / "devstack" / "rolling.py"), "--compose",
                     " ".join(stack.command()), timeout=600)
        assert "ok   2 replicas running" in rolled.stdout
    print("restart, stop, rolling upgrade:", dict(traffic.counts))
    # A stopping replica refuses new connections at once (gunicorn.conf.py), so the edge dials
    # another one: nothing fails. With one replica of two away, the other may find no decode
    # slot in time for an upload on a busy machine: its JSON 503 "busy" with Retry-After is
    # the service's answer to too much work (nothing is stored, the client is told when to
    # retry), not a loss, and stays rare.
    busy = [f for f in traffic.failures if f[:2] == ("upload", 503) and '"busy"' in f[2]]
    assert len(busy) <= 3, busy
    traffic.failures = [f for f in traffic.failures if f not in busy]
    assert_clean(traffic)
    after = replicas(stack)
    assert len(after) == 2 and not set(after) & set(first)
    assert_all_served(stack)


def test_the_store_down_uploads_get_503_and_reads_come_from_the_cache(stack):
    stack.compose("stop", "seaweedfs")
    try:
        time.sleep(4)  # the edge's health check (every 2 s) sees no replica ready

        answers = []

        def refused() -> bool:
            answers.append(stack.post("down.png", small_image(3)[1]))
            return answers[-1].status_code == 503

        started = time.monotonic()
        assert wait_until(refused, 30), [a.status_code for a in answers]
        print(f"store down: uploads refused after {time.monotonic() - started:.1f} s")
        answer = answers[-1]
        assert answer.headers["Retry-After"] == "5"
        assert answer.json()["code"] == "service_unavailable"
        assert_all_served(stack, in_bucket=False)  # every one was read before: cached
    finally:
        stack.compose("start", "seaweedfs")
    assert wait_until(lambda: stack.post("up.png", small_image(4)[1]).status_code == 201, 60)


def test_seaweedfs_restarted_recreated_or_on_a_new_address_keeps_every_file(stack):
    network = f"{S3_PROJECT}_store"
    for step in ("restart", "recreate", "new-address"):
        if step == "restart":
            stack.compose("restart", "seaweedfs")
        elif step == "recreate":
            stack.compose("up", "-d", "--no-deps", "--force-recreate", "--wait", "seaweedfs")
        else:  # its old address taken meanwhile: nginx must look the name up again
            old = address(stack, network)
            stack.compose("stop", "seaweedfs")
            squatter = run("docker", "run", "-d", "--rm", "--network", network, "--label",
                           f"com.docker.compose.project={S3_PROJECT}", "alpine:latest",
                           "sleep", "600").stdout.strip()
            try:
                stack.compose("up", "-d", "--no-deps", "--force-recreate", "--wait",
                              "seaweedfs")
                assert address(stack, network) != old
            finally:
                run("docker", "rm", "-f", squatter)
        assert wait_until(lambda: stack.post("probe.png", small_image(5)[1]).status_code == 201,
                          60), step
        # A new file is never cached: nginx must reach the store, at its new address too.
        path = stack.upload(*small_image(200 + len(ALL)))["path"]
        started = time.monotonic()
        answer = wait_until(lambda path=path: served(stack, path), 15, 0.2)
        print(f"seaweedfs {step}: a new file served after {time.monotonic() - started:.1f} s")
        assert answer is not None, step
        ALL[path] = answer.content
        assert_all_served(stack)


def served(stack, path: str):
    answer = stack.get(path)
    return answer if answer.status_code == 200 else None


def address(stack, network: str) -> str:
    container = stack.compose("ps", "-q", "seaweedfs").stdout.strip()
    template = f'{{{{(index .NetworkSettings.Networks "{network}").IPAddress}}}}'
    return run("docker", "inspect", "-f", template, container).stdout.strip()


def test_the_whole_stack_restarted_recreated_and_down_up_keeps_every_file(stack):
    stack.compose("restart")
    assert healthy(replicas(stack)[0]) and healthy(replicas(stack)[-1])
    assert wait_until(lambda: stack.get(next(iter(ALL))).status_code == 200, 30)
    assert_all_served(stack)
    stack.up("--force-recreate")
    assert_all_served(stack)
    stack.compose("down", "--timeout", "30")
    stack.up()
    assert_all_served(stack)
    volumes = run("docker", "volume", "ls", "-q").stdout.split()
    assert {f"{S3_PROJECT}_seaweedfs", f"{S3_PROJECT}_s3_cache", f"{S3_PROJECT}_data"} <= \
        set(volumes)
    assert requests.get(f"{stack.base}/i/p/2020/01/avatar_1_gone00.jpg", timeout=10) \
        .json()["code"] == "not_found"
