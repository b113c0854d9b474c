"""The browser tier: Debian's chromium, driven by Playwright, against the real local stack.

The page is the one nginx serves at `/uploads/` through Traefik. Two more loopback origins serve
the same files, one on the edge's CORS allowlist and one not, so a cross-origin client can be
tried both ways. Every test leaves a screenshot in `artifacts/browser/` for people to look at.
Without chromium (or Playwright) the tier skips and says why; `make browser-deps` installs it.
"""

import base64
import functools
import http.server
import json
import os
import re
import shutil
import threading
import time
from pathlib import Path

import pytest

from devstack.client import clean_env

REPO = Path(__file__).resolve().parents[2]
WEB_DIR = REPO / "web"
ARTIFACTS = REPO / "artifacts" / "browser"
CHROMIUM = "/usr/bin/chromium"
# Headless and quiet: no GPU, no QUIC, no first-run, update, sync or other background traffic.
CHROMIUM_ARGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
]


def chromium_path() -> str | None:
    if os.access(CHROMIUM, os.X_OK):
        return CHROMIUM
    return shutil.which("chromium")


@pytest.fixture(scope="module")
def browser():
    """One headless chromium per module (Playwright gives it a fresh profile folder); the
    stacks below are module-scoped too, so nothing of this tier outlives its tests."""
    path = chromium_path()
    if path is None:
        pytest.skip("no chromium: `make browser-deps` installs Debian's (needs root and apt-get)")
    try:
        from playwright.sync_api import Error, sync_playwright
    except ImportError as exc:
        pytest.skip(f"Playwright is missing ({exc}): pip install -r requirements-dev.txt")
    with sync_playwright() as playwright:
        try:
            chromium = playwright.chromium.launch(executable_path=path, args=CHROMIUM_ARGS)
        except Error as exc:
            pytest.skip(f"{path} did not start: {exc.message.splitlines()[0]}")
        yield chromium
        chromium.close()


class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, format, *args):
        pass


class Origin:
    """web/ served by a plain HTTP server on its own loopback port: another origin."""

    def __init__(self):
        handler = functools.partial(_QuietHandler, directory=str(WEB_DIR))
        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def close(self):
        self.server.shutdown()
        self.server.server_close()
        self.thread.join(5)


@pytest.fixture(scope="module")
def origins():
    """(allowed, other): the page from two more origins; only the first is on the allowlist."""
    allowed, other = Origin(), Origin()
    yield allowed, other
    allowed.close()
    other.close()


@pytest.fixture
def locale():
    """The browser's language; a test parametrizes `locale` to try another."""
    return "fr-FR"


@pytest.fixture
def device():
    """The browser context's screen; a test parametrizes `device` (e.g. PHONE) to try another."""
    return {"viewport": {"width": 900, "height": 1000}}


# A phone held upright: 390 x 844 CSS pixels, a touch screen and no mouse.
PHONE = {"viewport": {"width": 390, "height": 844}, "device_scale_factor": 3,
         "is_mobile": True, "has_touch": True}


@pytest.fixture
def page(browser, locale, device, request, tmp_path):
    """A fresh browser context; a screenshot is saved when the test ends: the whole page, or on
    a phone what its screen shows (where the outcome must be)."""
    context = browser.new_context(locale=locale, **device)
    page = UploadPage(context.new_page(), tmp_path)
    yield page
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    name = re.sub(r"[^A-Za-z0-9_.-]+", "-", request.node.name).strip("-")
    page.tab.screenshot(path=str(ARTIFACTS / f"{name}.png"),
                        full_page=not device.get("is_mobile"))
    context.close()


class UploadPage:
    """What a person does on the upload page, and what they see there."""

    def __init__(self, tab, folder):
        self.tab = tab
        self.folder = folder  # where chosen files are written, as a person's files would be
        self.tab.set_default_timeout(15_000)
        self.errors: list[str] = []  # uncaught exceptions in the page's script
        self.console: list[str] = []  # what chromium logged (a CORS refusal is written there)
        tab.on("pageerror", lambda exc: self.errors.append(str(exc)))
        tab.on("console", lambda msg: self.console.append(msg.text))

    def open(self, url):
        self.tab.goto(url)
        self.tab.wait_for_selector("body.ready", state="attached")

    def write(self, name, data) -> str:
        """A file on disk, as a person's would be; its path."""
        path = self.folder / name
        path.write_bytes(data)
        return str(path)

    def choose(self, name, data, ready=True):
        """Pick a file in the file input (chromium takes its type from the name's extension);
        with `ready`, wait until the page has prepared it (what it will send is shown)."""
        self.tab.set_input_files("#file", files=[self.write(name, data)])
        if ready:
            self.wait_prepared()

    def wait_prepared(self):
        self.tab.wait_for_selector("#send:enabled, #error.shown")

    def drop(self, name, mime, data):
        """Drag a file from outside the page and drop it on the drop zone."""
        self.tab.evaluate(DROP_SCRIPT, [name, mime, base64.b64encode(data).decode()])

    def send(self):
        """Press the button and wait until the page shows an outcome."""
        self.tab.click("#send")
        self.wait_outcome()

    def wait_outcome(self):
        """Until the page shows the stored image, an error, or a cancel (its retry button)."""
        self.tab.wait_for_selector(OUTCOME)

    def visible(self, selector) -> bool:
        return self.tab.is_visible(selector)

    def text(self, selector) -> str:
        return self.tab.inner_text(selector).strip()

    def image(self, selector) -> dict:
        """The <img>'s state once chromium has finished with it (decoded, or failed)."""
        return self.tab.evaluate(IMAGE_SCRIPT, selector)

    def wait_until(self, expression, timeout=15):
        """Until `expression` is true in the page. Polled from here: Playwright's own
        wait_for_function evaluates strings in the page, which its policy forbids."""
        deadline = time.monotonic() + timeout
        while not self.tab.evaluate(expression):
            assert time.monotonic() < deadline, f"still false after {timeout} s: {expression}"
            self.tab.wait_for_timeout(50)

    def focused(self) -> str:
        return self.tab.evaluate("document.activeElement.id")

    def in_view(self, selector) -> bool:
        """The element's top edge is on screen (its heading or first line can be read)."""
        return self.tab.evaluate(IN_VIEW_SCRIPT, selector)

    def throttle(self, upload_bytes_per_second=-1, offline=False, latency_ms=0):
        """Chromium's network emulation for this tab: an uplink this slow (-1: as fast as it
        goes), or no network at all, or `latency_ms` before each answer arrives."""
        if not hasattr(self, "devtools"):
            self.devtools = self.tab.context.new_cdp_session(self.tab)
            self.devtools.send("Network.enable")
        self.devtools.send("Network.emulateNetworkConditions", {
            "offline": offline, "latency": latency_ms, "downloadThroughput": -1,
            "uploadThroughput": upload_bytes_per_second})


IN_VIEW_SCRIPT = """(selector) => {
  const box = document.querySelector(selector).getBoundingClientRect();
  return box.height > 0 && box.top >= 0 && box.top < window.innerHeight;
}"""

OUTCOME = "#result:not([hidden]), #error.shown, #retry:not([hidden])"

DROP_SCRIPT = """([name, mime, b64]) => {
  const bytes = Uint8Array.from(atob(b64), (c) => c.charCodeAt(0));
  const transfer = new DataTransfer();
  transfer.items.add(new File([bytes], name, { type: mime }));
  const zone = document.getElementById("drop-zone");
  for (const type of ["dragenter", "dragover", "drop"]) {
    zone.dispatchEvent(new DragEvent(type, { dataTransfer: transfer, bubbles: true,
                                             cancelable: true }));
  }
}"""

IMAGE_SCRIPT = """async (selector) => {
  const img = document.querySelector(selector);
  let decoded = true;
  try { await img.decode(); } catch (err) { decoded = false; }
  return { decoded, complete: img.complete, width: img.naturalWidth,
           height: img.naturalHeight, src: img.currentSrc, alt: img.alt };
}"""


# Free space is not this tier's subject, and its uploads never trip the rate limit.
STACK_SETTINGS = {"MIN_FREE_BYTES": 0, "RATE_LIMIT": 100000, "RATE_BURST": 10000}


@pytest.fixture(scope="module")
def page_stack(browser, origins, tmp_path_factory):
    """The real local stack (`devstack.Stack`) for this tier, with the first extra origin on the
    edge's CORS allowlist. Started after chromium, so a missing browser costs no stack."""
    from devstack import Stack

    allowed, _other = origins
    root = tmp_path_factory.mktemp("browser-stack") / "root"
    with Stack(root=root, env=clean_env(**STACK_SETTINGS, CORS_ORIGINS=allowed.url)) as stack:
        yield stack


JWT_SECRET = "a shared secret for the browser tests only, 45+ chars"


@pytest.fixture(scope="module")
def jwt_stack(browser, tmp_path_factory):
    """A stack whose uploads need a Bearer token signed with JWT_SECRET (HS256)."""
    from devstack import Stack

    root = tmp_path_factory.mktemp("browser-jwt-stack") / "root"
    with Stack(root=root, env=clean_env(**STACK_SETTINGS, AUTH="jwt",
                                               JWT_SECRET=JWT_SECRET)) as stack:
        yield stack



def upload_requests(stack) -> list[dict]:
    """Every POST to the upload route in the edge's access log, oldest first: one line per
    request that reached Traefik, however it ended (a browser's own re-send is one more)."""
    lines = (json.loads(line) for line in stack.log("traefik").splitlines() if line.strip())
    return [r for r in lines if r.get("RequestMethod") == "POST"
            and r.get("RequestPath", "").startswith("/api/upload/avatar")]
