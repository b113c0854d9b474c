"""The upload page as people use it: on a phone, in their language, with a camera's photo, on a
slow or failing uplink, with the keyboard only; and web/uploader.js, the module it is built on,
as another web app would call it.
"""

import io
import json
import os
import re
import signal
import socket
import struct
import threading
import urllib.request
from urllib.parse import urlsplit

import pytest
from PIL import Image, ImageChops, ImageOps, ImageStat
from stack.net import upload

from devstack.images import encode, photo
from uploads.messages import message

from .conftest import ARTIFACTS, PHONE, WEB_DIR, upload_requests
from .test_upload_page import (
    MIB,
    STORED,
    TOO_LARGE,
    assert_stored_and_displayed,
    files_under,
    picture,
)

pytestmark = pytest.mark.browser

CANCELLED = "Envoi annulé."
EN_CANCELLED = "Upload cancelled."
STALLED = "L'envoi n'avance plus depuis 2 s : la connexion semble perdue."
LOST = "La connexion a été coupée ou refusée avant la réponse du serveur (réseau ou CORS)."
NO_REPLY = "The server did not answer within 1 s; trying again is safe."

# Calls the module from the page, as a web app would: `upload` of a blob of `size` zero bytes.
MODULE_UPLOAD = """async ([size, options, module]) => {
  const { upload } = await import(module || "/uploads/uploader.js");
  const blob = new Blob([new Uint8Array(size)], { type: "image/jpeg" });
  try {
    return { data: await upload(blob, { name: "bloc.jpg", ...options }) };
  } catch (err) {
    return { error: { name: err.name, kind: err.kind, status: err.status, code: err.code,
                      message: err.message, retryAfter: err.retryAfter } };
  }
}"""


def contrast(rgb, against=(255, 255, 255)) -> float:
    """WCAG 2 contrast ratio of two sRGB colours."""
    def luminance(color):
        c = [v / 255 for v in color]
        c = [v / 12.92 if v <= 0.04045 else ((v + 0.055) / 1.055) ** 2.4 for v in c]
        return 0.2126 * c[0] + 0.7152 * c[1] + 0.0722 * c[2]
    high, low = sorted((luminance(rgb), luminance(against)), reverse=True)
    return (high + 0.05) / (low + 0.05)


def api_refusal(stack, data, name, mime, accept_language) -> tuple[dict, str]:
    """The API's own answer to an upload of `data`, asked directly in a language."""
    boundary = "----sans-navigateur"
    body = (f"--{boundary}\r\nContent-Disposition: form-data; name=\"avatar\"; "
            f"filename=\"{name}\"\r\nContent-Type: {mime}\r\n\r\n").encode() + data + \
        f"\r\n--{boundary}--\r\n".encode()
    request = urllib.request.Request(stack.url + "/api/upload/avatar", data=body, headers={
        "Content-Type": f"multipart/form-data; boundary={boundary}",
        "Accept-Language": accept_language})
    try:
        urllib.request.urlopen(request, timeout=10)  # noqa: S310 (the local stack)
    except urllib.error.HTTPError as error:
        return json.loads(error.read()), error.headers["Content-Language"]
    raise AssertionError("the API accepted a file it should refuse")


def wait_requests(page, stack, count):
    """Until the edge has logged `count` upload requests (it logs one when it ends)."""
    for _ in range(100):
        if len(upload_requests(stack)) >= count:
            break
        page.tab.wait_for_timeout(100)
    return upload_requests(stack)


@pytest.mark.parametrize("device", [PHONE], ids=["phone"])
def test_phone_outcome_is_brought_into_view_and_focused(page, page_stack):
    """At 390 x 844 the result, then an error, appear below the fold: each is scrolled to and
    focused, and a refusal leaves an empty bar, not a full one. The touch screen is not asked
    to drop anything."""
    page.open(page_stack.url + "/uploads/")
    assert page.visible("#drop-zone .for-touch") and not page.visible("#drop-zone .for-pointer")
    assert page.text("#drop-zone label").startswith("Choisissez une image\n")
    assert "déposez" not in page.text("#drop-zone label")
    page.choose("téléphone.jpg", picture("JPEG", (900, 1200)))
    page.send()
    assert page.text("#status") == STORED
    assert page.focused() == "result" and page.in_view("#result")
    assert page.in_view("#result-title")
    ARTIFACTS.mkdir(parents=True, exist_ok=True)  # the result; the test's own shows the error
    page.tab.screenshot(path=str(ARTIFACTS / "test_phone_outcome_is_brought_into_view-result.png"))
    page.choose("pas-une-image.png", b"du texte, pas des pixels\n" * 30)
    assert not page.visible("#result") and page.text("#status") == ""
    page.send()
    assert page.focused() == "error" and page.in_view("#error")
    assert page.text("#error-message").startswith("Format d'image non supporté")
    assert page.tab.get_attribute("#progress", "value") == "0"
    assert page.text("#progress-text") == "0 %"
    assert not page.errors


@pytest.mark.parametrize("locale", ["en-US", "fr-FR"])
def test_messages_come_from_the_api_in_the_browsers_language(page, page_stack, locale):
    """The browser's own Accept-Language picks the words: the refusal shown is the API's answer
    to that same request, and the limit in the hint is the one the limits route wrote."""
    data = b"<svg xmlns='http://www.w3.org/2000/svg'/>" * 20
    page.open(page_stack.url + "/uploads/")
    page.tab.wait_for_selector("#accepted:has-text('5MB')")
    sent_language = []
    page.tab.on("request", lambda r: r.method == "POST" and sent_language.append(
        r.headers.get("accept-language")))
    page.choose("dessin.png", data)
    page.send()
    expected, language = api_refusal(page_stack, data, "dessin.png", "image/png",
                                     sent_language[0])
    assert language == locale[:2]
    assert page.text("#error-message") == expected["error"]
    assert page.text("#error-detail") == f"HTTP 415 · {expected['code']}"
    hint = page.text("#accepted")
    if locale == "en-US":
        assert page.text("#send") == "Upload"
        assert expected["error"] == "Unsupported image format (accepted: JPEG, PNG, WebP)"
        assert hint.startswith("JPEG, PNG or WebP, 5MB at most; ")
    else:
        assert expected["error"] == "Format d'image non supporté (acceptés : JPEG, PNG, WebP)"
        assert hint.startswith("JPEG, PNG ou WebP, 5MB au plus ; ")
    assert not page.errors


def test_eight_megabyte_phone_photo_is_shrunk_and_accepted(page, page_stack):
    """A 12 MP camera JPEG of about 8 MB, stored sideways with EXIF orientation 6 as phones do:
    the page decodes it upright, sends at most 2048 px on the long side under 5 MiB, and says so
    before sending; the server stores it as it was seen."""
    exif = Image.Exif()
    exif[0x0112] = 6  # rotate 90° clockwise to display
    original = photo((4032, 3024), grain=0.8)
    data = encode(original, "JPEG", quality=95, exif=exif.tobytes())
    assert len(data) > 7.5 * MIB
    before = files_under(page_stack.root)
    page.open(page_stack.url + "/uploads/")
    page.choose("IMG_2041.jpg", data)
    plan = page.text("#plan")
    assert plan.startswith("Réduite avant l'envoi : 1536 × 2048 px, image/jpeg, "), plan
    assert "; l'original : 3024 × 4032 px, 7,8MB (" in plan
    sent, original_size = (int(re.sub(r"\D", "", n)) for n in re.findall(r"\(([^()]+) octets\)",
                                                                            plan))
    assert original_size == len(data) and sent <= 5 * MIB
    assert page.image("#preview-img")["width"] == 1536
    page.send()
    assert_stored_and_displayed(page, page_stack, before, (1536, 2048), "image/jpeg")
    assert upload_requests(page_stack)[-1]["DownstreamStatus"] == 201
    stored = Image.open(page_stack.root / page.text("#result-url").split("/", 3)[3])
    upright = ImageOps.exif_transpose(Image.open(io.BytesIO(data)))
    small = (48, 64)

    def distance(a, b):
        diff = ImageChops.difference(a.convert("RGB").resize(small), b.convert("RGB").resize(small))
        return sum(ImageStat.Stat(diff).mean) / 3

    assert distance(stored, upright) < 6 < distance(stored, upright.rotate(180))


def test_slow_upload_can_be_cancelled_and_retried(page, page_stack):
    """On a 64 KB/s uplink the bar follows the bytes sent; Cancel stops the request and empties
    the bar; Try again sends it once more. The edge saw exactly one request per press."""
    data = picture("PNG", (600, 600), dense=True)  # about 1 MB, sent as it is
    page.open(page_stack.url + "/uploads/")
    page.choose("lente.png", data)
    sent = len(upload_requests(page_stack))
    page.throttle(64 * 1024)
    page.tab.click("#send")
    page.wait_until("document.getElementById('progress').value >= 10")
    assert page.text("#status") == "Envoi en cours…"
    assert re.fullmatch(r"[\d,]+KB sur 1[\d,]*MB", page.text("#progress-bytes"))
    page.tab.click("#cancel")
    page.wait_outcome()
    assert page.text("#status") == CANCELLED
    assert page.tab.get_attribute("#progress", "value") == "0"
    assert page.focused() == "retry" and not page.visible("#cancel")
    assert not page.visible("#result") and page.text("#error") == ""
    assert len(wait_requests(page, page_stack, sent + 1)) == sent + 1
    page.throttle()
    page.tab.click("#retry")
    page.wait_outcome()
    assert page.text("#status") == STORED and page.focused() == "result"
    requests = upload_requests(page_stack)[sent:]
    assert [r["DownstreamStatus"] for r in requests][-1] == 201 and len(requests) == 2, requests
    assert not page.errors


def test_lost_connection_says_so_and_offers_a_retry(page, page_stack):
    """The edge goes away mid-upload (killed: its connections are reset): a message of the
    page's own, since no answer came, an empty bar, focus on the message, and Try again works
    once the edge is back. (Chromium's emulated "offline" leaves a started upload running.)"""
    page.open(page_stack.url + "/uploads/")
    page.choose("coupée.png", picture("PNG", (600, 600), dense=True))
    page.throttle(64 * 1024)
    page.tab.click("#send")
    page.wait_until("document.getElementById('progress').value >= 10")
    os.killpg(page_stack.procs["traefik"].pid, signal.SIGKILL)
    try:
        page.wait_outcome()
        assert page.text("#error-message") == LOST
        assert page.focused() == "error" and page.visible("#retry")
        assert page.tab.get_attribute("#progress", "value") == "0"
    finally:
        page_stack.restart("traefik")
    page.throttle()
    page.tab.click("#retry")
    page.wait_outcome()
    assert page.text("#status") == STORED and not page.visible("#retry")
    assert page.text("#error") == ""


def test_choosing_another_file_mid_upload_leaves_no_stale_result(page, page_stack):
    """The first upload is abandoned when another file is chosen: its result never shows under
    the second file's preview."""
    page.open(page_stack.url + "/uploads/")
    page.choose("première.png", picture("PNG", (600, 600), dense=True))
    page.throttle(64 * 1024)
    page.tab.click("#send")
    page.wait_until("document.getElementById('progress').value >= 5")
    page.choose("seconde.jpg", picture("JPEG", (300, 200)))
    page.throttle()
    assert page.tab.get_attribute("#progress", "value") == "0"
    assert not page.visible("#cancel") and page.text("#status") == ""
    page.tab.wait_for_timeout(1000)  # time for a stale answer to arrive, if one could
    assert not page.visible("#result") and page.text("#error") == ""
    page.send()
    assert page.text("#result-dimensions") == "300 × 200 px"
    assert not page.errors


def test_keyboard_only_upload_lands_focus_on_the_result(page, page_stack):
    """Tab, Space and Enter only: the file chooser opens from the keyboard, the focus ring is
    visible at 3:1 or more, and after sending the focus is on the result, not on <body>."""
    # Listening from the start has Playwright intercept file choosers before any key is
    # pressed (expect_file_chooser alone turns that on without waiting: a race).
    page.tab.on("filechooser", lambda chooser: None)
    page.open(page_stack.url + "/uploads/")
    page.tab.keyboard.press("Tab")
    assert page.focused() == "file"
    with page.tab.expect_file_chooser() as chooser:
        page.tab.keyboard.press("Space")
    chooser.value.set_files(page.write("clavier.webp", picture("WEBP", (320, 200))))
    page.wait_prepared()
    page.tab.keyboard.press("Tab")  # the settings' summary
    page.tab.keyboard.press("Tab")
    assert page.focused() == "send"
    ring = page.tab.evaluate("""() => {
      const style = getComputedStyle(document.activeElement);
      return [style.outlineStyle, style.outlineWidth, style.outlineColor];
    }""")
    assert ring[0] == "solid" and ring[1] == "3px", ring
    color = tuple(int(v) for v in re.findall(r"\d+", ring[2])[:3])
    assert contrast(color) >= 3, (ring, contrast(color))
    page.tab.keyboard.press("Enter")
    page.wait_outcome()
    assert page.text("#status") == STORED
    assert page.focused() == "result" and page.in_view("#result")
    assert page.text("#result-dimensions") == "320 × 200 px"


def test_page_has_one_live_region_an_alert_from_the_start_and_a_favicon(page, page_stack):
    missing = []
    page.tab.on("response", lambda r: r.status >= 400 and missing.append(r.url))
    page.open(page_stack.url + "/uploads/")
    regions = page.tab.evaluate("""() => ({
      live: [...document.querySelectorAll("[aria-live], output, [role=status], [role=log]")]
        .map((el) => el.id),
      alerts: [...document.querySelectorAll("[role=alert]")].map((el) => [el.id, el.innerText])
    })""")
    assert regions == {"live": ["status"], "alerts": [["error", ""]]}
    icon = page.tab.get_attribute("link[rel=icon]", "href")
    response = page.tab.request.get(f"{page_stack.url}/uploads/{icon}")
    assert response.status == 200 and response.headers["content-type"] == "image/png"
    assert Image.open(io.BytesIO(response.body())).size == (32, 32)
    assert missing == []


@pytest.mark.parametrize(("extra", "who"), [(1024, "app"), (2 * MIB, "edge")])
def test_module_refusals_carry_the_servers_status_code_and_words(page, page_stack, extra, who):
    """uploader.js called directly, as another web app would: a body over the limit (the app's
    refusal just over it, the edge's far over it) rejects with the server's own message."""
    page.open(page_stack.url + "/uploads/")
    outcome = page.tab.evaluate(MODULE_UPLOAD, [5 * MIB + extra, {}])
    assert outcome["error"] == {"name": "UploadError", "kind": "refused", "status": 413,
                                "code": "file_too_large", "message": TOO_LARGE,
                                "retryAfter": None}, who


def test_module_gives_up_on_a_stalled_upload_and_can_be_cancelled(page, page_stack):
    """No progress for `stallTimeout` ms is a "timeout" (not a fixed total: a slow uplink that
    moves is never cut); an aborted signal is "aborted"; both in the language asked for."""
    page.open(page_stack.url + "/uploads/")
    page.throttle(1)  # one byte a second: the first buffer goes, then nothing moves
    stalled = page.tab.evaluate("""async () => {
      const { upload } = await import("/uploads/uploader.js");
      const started = Date.now();
      try {
        await upload(new Blob([new Uint8Array(300000)]), { stallTimeout: 1500 });
      } catch (err) {
        return [err.kind, err.message, Date.now() - started];
      }
    }""")
    assert stalled[:2] == ["timeout", STALLED], stalled
    assert 1500 <= stalled[2] < 5000, stalled
    cancelled = page.tab.evaluate("""async () => {
      const { upload } = await import("/uploads/uploader.js");
      const controller = new AbortController();
      setTimeout(() => controller.abort(), 300);
      try {
        await upload(new Blob([new Uint8Array(300000)]), { signal: controller.signal,
                                                           language: "en" });
      } catch (err) {
        return [err.kind, err.message];
      }
    }""")
    assert cancelled == ["aborted", EN_CANCELLED]


class ResettingServer:
    """A keep-alive HTTP/1.1 server for the module and an empty page, which resets the
    connection of its first `resets` POSTs before any answer byte, as a server that dies or a
    kept-alive connection dropped by the other end does. Records, for each POST, how many
    requests its connection had carried before it."""

    PAGE = b"<!doctype html><title>vide</title>"

    def __init__(self, resets):
        self.resets = resets
        self.posts: list[int] = []
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.url = f"http://127.0.0.1:{self.listener.getsockname()[1]}"
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self):
        while True:
            try:
                conn, _ = self.listener.accept()
            except OSError:
                return
            threading.Thread(target=self._serve, args=(conn,), daemon=True).start()

    def _serve(self, conn):
        with conn, conn.makefile("rb") as reader:
            self._requests(conn, reader)

    def _requests(self, conn, reader):
        served = 0
        while line := reader.readline():
            method, path = line.decode().split()[:2]
            headers = {}
            while (header := reader.readline().decode().strip()):
                name, _, value = header.partition(":")
                headers[name.lower()] = value.strip()
            if method == "POST":
                self.posts.append(served)
                if len(self.posts) <= self.resets:
                    conn.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
                    conn.close()  # RST, nothing answered
                    return
                reader.read(int(headers["content-length"]))
                body, kind = b'{"success": true, "data": {"url": "/i/p/x.jpg"}}', "application/json"
            elif path == "/uploader.js":
                body, kind = (WEB_DIR / "uploader.js").read_bytes(), "text/javascript"
            else:
                body, kind = self.PAGE, "text/html"
            conn.sendall(f"HTTP/1.1 {201 if method == 'POST' else 200} OK\r\nContent-Type: {kind}"
                         f"\r\nContent-Length: {len(body)}\r\n\r\n".encode() + body)
            served += 1

    def close(self):
        self.listener.close()


@pytest.mark.parametrize("resets", [1, 99], ids=["reset-once", "reset-always"])
def test_chromium_resends_a_reset_post_the_module_never(browser, resets):
    """What the page cannot prevent, pinned down: a POST sent on a kept-alive connection that is
    reset before any answer byte is sent again by Chromium itself, unseen by the page, on
    another connection (with one reset the upload simply succeeds); again if that one had sat
    idle in its pool too; 3 attempts at most. The module adds no attempt of its own."""
    server = ResettingServer(resets)
    context = browser.new_context(locale="fr-FR")
    try:
        tab = context.new_page()
        tab.goto(server.url + "/")
        outcome = tab.evaluate(MODULE_UPLOAD, [200_000, {"url": "/up"}, "/uploader.js"])
        tab.wait_for_timeout(1000)  # time for any further attempt to arrive
    finally:
        context.close()
        server.close()
    posts = server.posts  # per attempt: how many requests its connection had carried before
    # Chromium re-sends only what it sent on a connection that had sat in its pool (the page's
    # own requests usually leave one; not always): a reset on a fresh one reaches the page.
    reused = posts[0] > 0
    if resets == 1 and reused:
        assert len(posts) == 2 and outcome == {"data": {"url": "/i/p/x.jpg"}}, posts
    else:
        assert 1 <= len(posts) <= (3 if reused else 1), posts
        assert outcome["error"]["kind"] == "network" and outcome["error"]["status"] == 0


def test_module_keeps_transparency_when_it_shrinks(page, page_stack):
    """A picture with transparent parts is re-encoded as WebP (JPEG would turn them black), an
    opaque one as JPEG; one that fits both limits is the very file chosen."""
    page.open(page_stack.url + "/uploads/")
    made = page.tab.evaluate("""async () => {
      const { getLimits, prepare } = await import("/uploads/uploader.js");
      const limits = await getLimits("");
      const png = async (width, height, alpha) => {
        const canvas = new OffscreenCanvas(width, height);
        const context = canvas.getContext("2d");
        context.fillStyle = "rgba(200, 30, 30, " + alpha + ")";
        context.fillRect(0, 0, width, height / 2);
        if (alpha === 1) {
          context.fillStyle = "#fff";
          context.fillRect(0, height / 2, width, height);
        }
        const blob = await canvas.convertToBlob({ type: "image/png" });
        return new File([blob], "dessin.png", { type: "image/png" });
      };
      const describe = async (file) => {
        const p = await prepare(file, limits);
        const bitmap = await createImageBitmap(p.blob);
        const canvas = new OffscreenCanvas(1, 1);
        const context = canvas.getContext("2d");
        context.drawImage(bitmap, 0, bitmap.height - 1, 1, 1, 0, 0, 1, 1);
        return { name: p.name, type: p.blob.type, width: p.width, height: p.height,
                 shrunk: p.shrunk, same: p.blob === file,
                 bottomAlpha: context.getImageData(0, 0, 1, 1).data[3] };
      };
      return [await describe(await png(3000, 1000, 0.5)), await describe(await png(3000, 1000, 1)),
              await describe(await png(300, 100, 0.5))];
    }""")
    assert made == [
        {"name": "dessin.webp", "type": "image/webp", "width": 2048, "height": 683,
         "shrunk": True, "same": False, "bottomAlpha": 0},
        {"name": "dessin.jpg", "type": "image/jpeg", "width": 2048, "height": 683,
         "shrunk": True, "same": False, "bottomAlpha": 255},
        {"name": "dessin.png", "type": "image/png", "width": 300, "height": 100,
         "shrunk": False, "same": True, "bottomAlpha": 0},
    ]


def test_another_site_imports_the_module_and_uploads(page, page_stack, origins):
    """A web app on another origin (one on the edge's CORS allowlist) imports the module from
    /uploads/uploader.js and uploads with it, limits first, as the README shows."""
    allowed, _other = origins
    page.open(f"{allowed.url}/index.html")
    result = page.tab.evaluate("""async (api) => {
      const { getLimits, prepare, upload } = await import(api + "/uploads/uploader.js");
      const canvas = new OffscreenCanvas(2400, 1200);
      const context = canvas.getContext("2d");
      context.fillStyle = "#2a6"; context.fillRect(0, 0, 2400, 1200);
      const file = new File([await canvas.convertToBlob({ type: "image/jpeg" })], "large.jpg",
                            { type: "image/jpeg" });
      const limits = await getLimits(api);
      const ready = await prepare(file, limits);
      const seen = [];
      const data = await upload(ready.blob, { url: api + "/api/upload/avatar", name: ready.name,
                                              onProgress: (p) => seen.push(p.sent) });
      return { width: data.width, height: data.height, shrunk: ready.shrunk,
               finished: seen[seen.length - 1] };
    }""", page_stack.url)
    assert result == {"width": 2048, "height": 1024, "shrunk": True, "finished": True}


def test_another_site_deletes_what_it_uploaded_and_a_forged_link_is_refused(
        page, page_stack, origins):
    """`remove` from another origin on the edge's allowlist (a preflighted DELETE): the image
    and its variants leave the store, the same link used again is still a success, and a link
    whose capability was altered rejects with the server's 403, code and words."""
    allowed, _other = origins
    before = files_under(page_stack.root)
    page.open(f"{allowed.url}/index.html")
    outcome = page.tab.evaluate("""async (api) => {
      const { upload, remove } = await import(api + "/uploads/uploader.js");
      const canvas = new OffscreenCanvas(600, 400);
      const context = canvas.getContext("2d");
      context.fillStyle = "#a62"; context.fillRect(0, 0, 600, 400);
      const blob = await canvas.convertToBlob({ type: "image/png" });
      const data = await upload(blob, { url: api + "/api/upload/avatar", name: "x.png" });
      const settled = (p) => p.then(() => "gone", (err) => ({
        kind: err.kind, status: err.status, code: err.code, message: err.message }));
      const link = data.delete_url;
      const forged = link.replace(/\\/delete\\/(.)/,
                                  (_, c) => "/delete/" + (c === "A" ? "B" : "A"));
      return { variants: data.variants.length,
               forged: await settled(remove(forged, { language: "en" })),
               first: await settled(remove(link)), again: await settled(remove(link)) };
    }""", page_stack.url)
    assert outcome == {"variants": 4, "first": "gone", "again": "gone", "forged": {
        "kind": "refused", "status": 403, "code": "invalid_delete_link",
        "message": message("invalid_delete_link", "en")}}
    assert files_under(page_stack.root) == before


def test_module_gives_up_on_a_delete_that_gets_no_answer(page, page_stack):
    """On a link where answers take 3 s (a stalled phone connection), `remove` gives up after
    its `timeout` with a "timeout" in the language asked for; on a sound link, the same call
    deletes."""
    before = files_under(page_stack.root)
    answer = upload(page_stack.url, picture("JPEG", (300, 200))).json()["data"]
    link = urlsplit(answer["delete_url"]).path
    page.open(page_stack.url + "/uploads/")
    call = """async ([link, options]) => {
      const { remove } = await import("/uploads/uploader.js");
      const started = Date.now();
      try {
        await remove(link, options);
        return ["gone", Date.now() - started];
      } catch (err) {
        return [err.kind, err.message, Date.now() - started];
      }
    }"""
    page.throttle(latency_ms=3000)  # sent at once, answered 3 s later: the server may act
    stalled = page.tab.evaluate(call, [link, {"timeout": 1000, "language": "en"}])
    assert stalled[:2] == ["timeout", NO_REPLY], stalled
    assert 1000 <= stalled[2] < 2500, stalled
    cancelled = page.tab.evaluate("""async (link) => {
      const { remove } = await import("/uploads/uploader.js");
      const controller = new AbortController();
      setTimeout(() => controller.abort(), 200);
      try {
        await remove(link, { signal: controller.signal, language: "en" });
      } catch (err) {
        return [err.kind, err.message];
      }
    }""", link)
    assert cancelled == ["aborted", "Deletion cancelled."]
    page.throttle()
    fresh = upload(page_stack.url, picture("JPEG", (300, 200))).json()["data"]
    assert files_under(page_stack.root) > before
    assert page.tab.evaluate(call, [urlsplit(fresh["delete_url"]).path, {"timeout": 1000}])[0] \
        == "gone"
    assert page.tab.evaluate(call, [link, {"timeout": 1000}])[0] == "gone"
    assert files_under(page_stack.root) == before


MODULE_PREPARE = """async ([b64, type, limits]) => {
  const { prepare, headerSize } = await import("/uploads/uploader.js");
  const bytes = Uint8Array.from(atob(b64), (c) => c.charCodeAt(0));
  const file = new File([bytes], "picture", { type });
  const size = await headerSize(file);
  const p = await prepare(file, limits);
  return { size, width: p.width, shrunk: p.shrunk, kept: p.blob === file };
}"""
LIMITS = {"max_bytes": 5 * MIB, "max_bytes_text": "5MB", "max_side": 2048,
          "max_pixels": 25_000_000, "content_types": ["image/jpeg", "image/png", "image/webp"]}


def _b64(im, fmt, **options) -> str:
    import base64
    out = io.BytesIO()
    im.save(out, fmt, **options)
    return base64.b64encode(out.getvalue()).decode()


@pytest.mark.parametrize(("fmt", "mode", "options"), [
    ("JPEG", "RGB", {}), ("JPEG", "RGB", {"progressive": True}), ("PNG", "RGBA", {}),
    ("WEBP", "RGB", {}), ("WEBP", "RGB", {"lossless": True}), ("WEBP", "RGBA", {}),
], ids=["jpeg", "progressive", "png", "webp", "webp-lossless", "webp-alpha"])
def test_module_reads_the_size_from_the_header_and_never_decodes_past_the_pixel_limit(
        page, page_stack, fmt, mode, options):
    """A picture over max_pixels is not decoded in the browser (a 144 MP photo took 11 s and
    2 GB there): it is sent as it is, for the server to say why it refuses it."""
    page.open(page_stack.url + "/uploads/")
    data = _b64(Image.new(mode, (300, 200), (200, 40, 40, 255)[:len(mode)]), fmt, **options)
    type_ = "image/" + fmt.lower()
    small = page.tab.evaluate(MODULE_PREPARE, [data, type_, {**LIMITS, "max_pixels": 50_000}])
    assert small == {"size": {"width": 300, "height": 200}, "width": None, "shrunk": False,
                     "kept": True}
    within = page.tab.evaluate(MODULE_PREPARE, [data, type_, LIMITS])
    assert within["width"] == 300 and within["kept"] is True


def test_module_keeps_an_original_smaller_than_its_copy(page, page_stack):
    """Over the stored side only, a PNG of sharp stripes stays as it is: its JPEG copy would be
    larger, and the server scales it down itself."""
    page.open(page_stack.url + "/uploads/")
    row = Image.frombytes("L", (3000, 1), bytes(([0] * 8 + [255] * 8) * 187 + [0] * 8))
    data = _b64(row.resize((3000, 4000), Image.Resampling.NEAREST), "PNG")
    result = page.tab.evaluate(MODULE_PREPARE, [data, "image/png", LIMITS])
    assert result["kept"] is True and result["shrunk"] is False and result["width"] == 3000
