"""Private attachments through the real edge: nginx serves a file only on the link the app
signed (Range, HEAD and 304 included, never cached past the link), and refuses a missing,
altered or expired signature with the JSON 403 in the client's language; POST
/api/upload/sign through Traefik gives links that work."""

import time
from urllib.parse import parse_qsl, urlencode, urlsplit

import pytest
import requests

import samples
from devstack.client import multipart
from devstack.images import make_image
from helpers import assert_json_error
from uploads import links

pytestmark = pytest.mark.stack

SECRET = "stack-" + "s" * 40
ROUTE = "/api/upload/attachment"


@pytest.fixture(scope="module", params=["local", "s3"])
def private(tmp_path_factory, request):
    """A private stack on each storage: the check is nginx's, in front of either."""
    from devstack import Stack
    from devstack.client import clean_env

    root = tmp_path_factory.mktemp("private") / "root"
    env = clean_env(WORKERS=1, THREADS=2, RATE_LIMIT=100000, RATE_BURST=10000,
                    MIN_FREE_BYTES=0, ATTACHMENTS="true", ATTACHMENTS_PRIVATE="true",
                    LINK_SECRET=SECRET, LINK_SECONDS=600, STORAGE=request.param)
    with Stack(root=root, env=env) as running:
        yield running


@pytest.fixture(scope="module")
def stored(private):
    body, mimetype = multipart([("file", "Résumé.pdf", "application/pdf", samples.pdf()),
                                ("file", "clip.mp4", "video/mp4", samples.mp4()),
                                ("file", "p.jpg", "image/jpeg",
                                 make_image("JPEG", size=(300, 200)))])
    answer = requests.post(private.url + ROUTE, data=body, timeout=60,
                           headers={"Content-Type": mimetype})
    assert answer.status_code == 201, answer.text
    return {item["kind"]: item for item in answer.json()["data"]["files"]}


def with_query(item, private, **changes) -> str:
    query = dict(parse_qsl(urlsplit(item["url"]).query))
    query.update(changes)
    return f"{private.url}{item['path']}?{urlencode(query)}"


def test_the_signed_url_is_served_privately(private, stored):
    item = stored["pdf"]
    assert item["url"].startswith(private.url + item["path"] + "?expires=")
    answer = requests.get(item["url"], timeout=10)
    assert answer.status_code == 200 and answer.content == samples.pdf()
    assert answer.headers["Cache-Control"] == "private, no-cache"
    assert answer.headers["Content-Disposition"].startswith("attachment;")
    assert answer.headers["X-Content-Type-Options"] == "nosniff"
    head = requests.head(item["url"], timeout=10)
    assert head.status_code == 200 and int(head.headers["Content-Length"]) == item["size"]
    again = requests.get(item["url"], timeout=10,
                         headers={"If-None-Match": answer.headers["ETag"]})
    assert again.status_code == 304
    assert again.headers["Cache-Control"] == "private, no-cache"


def test_a_range_with_the_signature_is_a_206_never_stored(private, stored):
    item = stored["video"]
    whole = requests.get(item["url"], timeout=10).content
    part = requests.get(item["url"], headers={"Range": "bytes=10-99"}, timeout=10)
    assert part.status_code == 206 and part.content == whole[10:100]
    assert part.headers["Cache-Control"] == "no-store"


def test_variants_have_links_of_their_own(private, stored):
    for variant in stored["image"]["variants"]:
        answer = requests.get(variant["url"], timeout=10)
        assert answer.status_code == 200 and answer.headers["Content-Type"] == "image/webp"


def forged(item, private):
    query = dict(parse_qsl(urlsplit(item["url"]).query))
    later = int(query["expires"]) + 86400
    other = item["path"].replace(".pdf", "x.pdf")
    return {
        "unsigned": private.url + item["path"],
        "no expiry": with_query(item, private, expires=""),
        "signature only": f"{private.url}{item['path']}?sig={query['sig']}",
        "altered signature": with_query(item, private, sig="A" + query["sig"][1:]
                                        if query["sig"][0] != "A" else "B" + query["sig"][1:]),
        "stretched expiry": with_query(item, private, expires=str(later)),
        "another path": f"{private.url}{other}?{urlsplit(item['url']).query}",
        "wrong secret": with_query(item, private, sig=links.signature(
            item["path"], int(query["expires"]), SECRET + "x")),
    }


@pytest.mark.parametrize("how", ["unsigned", "no expiry", "signature only", "altered signature",
                                 "stretched expiry", "another path", "wrong secret"])
@pytest.mark.parametrize("language", ["fr", "en"])
def test_a_missing_or_altered_signature_is_a_json_403(private, stored, how, language):
    url = forged(stored["pdf"], private)[how]
    answer = requests.get(url, timeout=10, headers={"Accept-Language": language})
    body = assert_json_error(answer, 403, "link_invalid")
    assert answer.headers["Content-Language"] == language
    assert ("signature" in body["error"]) and ("expires" in body["error"])


def test_an_expired_link_is_a_json_403_of_its_own(private, stored):
    item = stored["pdf"]
    past = int(time.time()) - 5
    sig = links.signature(item["path"], past, SECRET)
    url = f"{private.url}{item['path']}?expires={past}&sig={sig}"
    body = assert_json_error(requests.get(url, timeout=10, headers={"Accept-Language": "en"}),
                             403, "link_expired")
    assert "expires" in body["error"] and "new one" in body["error"]


def test_a_link_for_a_missing_file_says_no_more_than_a_forged_one(private, stored):
    path = stored["pdf"]["path"].replace(".pdf", "-gone.pdf")
    expires = int(time.time()) + 60
    signed = f"{private.url}{path}?expires={expires}&sig={links.signature(path, expires, SECRET)}"
    assert_json_error(requests.get(signed, timeout=10), 404, "not_found")
    assert_json_error(requests.get(private.url + path, timeout=10), 403, "link_invalid")


def test_sign_through_the_edge_gives_links_that_work(private, stored):
    paths = [stored["pdf"]["path"], stored["video"]["path"]]
    answer = requests.post(private.url + "/api/upload/sign", json={"paths": paths}, timeout=10)
    assert answer.status_code == 200, answer.text
    got = answer.json()["data"]["links"]
    assert [g["path"] for g in got] == paths
    for item in got:
        assert requests.get(item["url"], timeout=10).status_code == 200
    refused = requests.post(private.url + "/api/upload/sign", timeout=10,
                            json={"path": "/i/p/2026/12/avatar_1796000000000_abcdef.jpg"})
    assert_json_error(refused, 400, "not_attachment_path")


def test_public_mode_answers_as_before(stack):
    """The shared (public) stack: no signature needed, the image's immutable caching."""
    body, mimetype = multipart([("file", "a.pdf", "application/pdf", samples.pdf())])
    (item,) = requests.post(stack.url + ROUTE, data=body, timeout=60,
                            headers={"Content-Type": mimetype}).json()["data"]["files"]
    answer = requests.get(item["url"], timeout=10)
    assert answer.status_code == 200 and "expires" not in item
    assert answer.headers["Cache-Control"] == "public, max-age=31536000, immutable"
    junk = requests.get(item["url"] + "?expires=1&sig=junk", timeout=10)
    assert junk.status_code == 200
    assert_json_error(requests.post(stack.url + "/api/upload/sign", json={"path": item["path"]},
                                    timeout=10), 404, "not_found")


def test_the_access_log_keeps_no_signature(private, stored):
    item = stored["pdf"]
    sig = dict(parse_qsl(urlsplit(item["url"]).query))["sig"]
    sent = requests.get(item["url"], timeout=10).headers["X-Request-Id"]
    deadline = time.monotonic() + 10
    while sent not in private.log("nginx-access") and time.monotonic() < deadline:
        time.sleep(0.2)  # the log is written as the answer ends
    log = private.log("nginx-access")
    line = next(line for line in log.splitlines() if sent in line)
    assert f"{item['path']}?expires=" in line and "&sig=-" in line
    assert sig not in log


@pytest.mark.parametrize("query", ["EXPIRES={e}&SIG={s}", "expires={e}&sig={s}&sig=x",
                                   "expires={e}&Sig={s}", "expires={e}&expires={e}&sig={s}"],
                         ids=["upper case", "sig twice", "mixed case", "expires twice"])
def test_a_link_spelled_otherwise_is_refused_and_never_logged(private, stored, query):
    """nginx reads argument names in any case and takes the first of two: a link spelled so
    would open the file while the log showed another text. Refused, and logged without it."""
    item = stored["pdf"]
    link = dict(parse_qsl(urlsplit(item["url"]).query))
    url = f"{private.url}{item['path']}?" + query.format(e=link["expires"], s=link["sig"])
    answer = requests.get(url, timeout=10, headers={"Referer": item["url"]})
    assert_json_error(answer, 403, "link_invalid")
    sent = answer.headers["X-Request-Id"]
    deadline = time.monotonic() + 10
    while sent not in private.log("nginx-access") and time.monotonic() < deadline:
        time.sleep(0.2)
    assert sent in private.log("nginx-access")
    assert link["sig"] not in private.log("nginx-access")  # neither the URI nor the Referer


@pytest.mark.parametrize("condition", [{"If-Match": '"zz"'},
                                       {"If-Unmodified-Since": "Thu, 01 Jan 2015 00:00:00 GMT",
                                        "Range": "bytes=0-9"}],
                         ids=["If-Match", "If-Unmodified-Since with a range"])
def test_a_failed_precondition_on_a_signed_link_is_a_412(private, stored, condition):
    answer = requests.get(stored["video"]["url"], headers=condition, timeout=10)
    assert_json_error(answer, 412, "precondition_failed")


def test_a_file_still_on_the_volume_is_signed_as_it_is_served(private):
    """In S3 mode nginx serves a file not migrated yet from the volume: the sign route finds
    it there too (on the volume, that is simply the store)."""
    path = "/f/p/2025/10/att_1760877849690_k3x9qa0m2z/old-notes.txt"
    copy = private.root / path.lstrip("/")
    copy.parent.mkdir(parents=True, exist_ok=True)
    copy.write_bytes(samples.text())
    copy.chmod(0o644)
    for folder in list(copy.parents)[:5]:
        folder.chmod(0o755)
    answer = requests.post(private.url + "/api/upload/sign", json={"path": path}, timeout=10)
    assert answer.status_code == 200, answer.text
    served = requests.get(answer.json()["data"]["links"][0]["url"], timeout=10)
    assert served.status_code == 200 and served.content == samples.text()
