"""The upload page in a real browser, through Traefik, nginx and gunicorn.

A success means what a person would see: the stored image decoded by chromium at its natural
size from the URL the API returned, and the file on disk. A refusal means the server's own
message on screen and nothing at all written under the storage root.
"""

import re
import time

import jwt
import pytest

from devstack.images import encode, noise, photo
from helpers import stored_files
from uploads import naming, owners

from .conftest import JWT_SECRET, PHONE, upload_requests

pytestmark = pytest.mark.browser

MIB = 1024 * 1024
TOO_LARGE = "La taille de l'image ne doit pas dépasser 5MB"
NOT_AN_IMAGE = "Format d'image non supporté (acceptés : JPEG, PNG, WebP)"
STORED = "Image enregistrée."
NETWORK = ("La connexion a été coupée ou refusée avant la réponse du serveur "
           "(réseau ou CORS).")
DELETED = "Image supprimée du serveur, avec ses variantes."
UNAUTHORIZED = "Authentification requise : jeton Bearer absent, expiré ou invalide"


def picture(fmt, size, dense=False) -> bytes:
    """A photo (or, for size, random noise that no codec can shrink) encoded by Pillow."""
    return encode(noise(size) if dense else photo(size), fmt, quality=95)


def files_under(root) -> set[str]:
    """Every file below the storage root, temp folder included, relative to it."""
    return set(stored_files(root))


def shown_bytes(text: str) -> int:
    """The byte count the page shows: `1,8 Ko (1 829 octets)` or `512 o`."""
    exact = re.search(r"\(([^)]*)\)", text)
    return int(re.sub(r"\D", "", exact.group(1) if exact else text))


def assert_stored_and_displayed(page, stack, before, size, mime, owner=None):
    """The page shows the stored image, decoded at `size`, and that one file is on disk
    (with its owner's record when a token named one: uploads/owners.py)."""
    assert not page.visible("#error"), page.text("#error")
    assert page.text("#status") == STORED
    img = page.image("#result-img")
    assert img["decoded"] and img["complete"], img
    assert (img["width"], img["height"]) == size
    assert img["src"].startswith(stack.url + "/i/p/"), img["src"]
    assert img["alt"]
    path = img["src"][len(stack.url) + 1:]
    links = page.tab.eval_on_selector_all("#result-variants a", "links => links.map(a => a.href)")
    variants = {link[len(stack.url) + 1:] for link in links}
    assert all(naming.main_stem(v) == path.rpartition(".")[0] for v in variants), variants
    assert len(variants) == len([box for box in (512, 256, 128, 64) if box < max(size)])
    record = {owners.record_name(owners.owner_id(owner), path)} if owner else set()
    assert files_under(stack.root) - before == {path} | variants | record
    markup = page.text("#result-srcset")
    assert markup.startswith(f'<img src="{img["src"]}"') and all(link in markup for link in links)
    on_disk = (stack.root / path).stat().st_size
    assert shown_bytes(page.text("#result-size")) == on_disk
    assert page.text("#result-dimensions") == f"{size[0]} × {size[1]} px"
    assert page.text("#result-type") == mime
    assert page.text("#result-url") == img["src"]
    assert not page.errors


def assert_refused(page, stack, before, message, detail=None):
    """The page shows the refusal (`detail`: `HTTP <status> · <code>`), no result, no script
    error, and nothing was written under the storage root."""
    assert page.text("#error-message") == message
    assert detail is None or page.text("#error-detail") == detail
    assert not page.visible("#result")
    assert files_under(stack.root) == before
    assert not page.errors


@pytest.mark.parametrize(("fmt", "name", "mime", "size"), [
    ("JPEG", "photo.jpg", "image/jpeg", (320, 240)),
    ("PNG", "dessin.png", "image/png", (240, 320)),
    ("WEBP", "photo.webp", "image/webp", (300, 200)),
], ids=["jpeg", "png", "webp"])
def test_image_is_uploaded_and_displayed(page, page_stack, fmt, name, mime, size):
    before = files_under(page_stack.root)
    page.open(page_stack.url + "/uploads/")
    page.choose(name, picture(fmt, size))
    preview = page.image("#preview-img")
    assert preview["decoded"] and (preview["width"], preview["height"]) == size
    assert page.text("#plan").startswith(f"Envoyée telle quelle : {size[0]} × {size[1]} px")
    page.send()
    assert_stored_and_displayed(page, page_stack, before, size, mime)


def test_dropped_image_is_uploaded(page, page_stack):
    before = files_under(page_stack.root)
    page.open(page_stack.url + "/uploads/")
    page.drop("glissé.png", "image/png", picture("PNG", (128, 96)))
    assert page.text("#chosen").startswith("glissé.png")
    page.send()
    assert_stored_and_displayed(page, page_stack, before, (128, 96), "image/png")


def test_progress_follows_the_upload_to_100(page, page_stack):
    """The bar follows the request body as chromium sends it, up to 100 % once it is sent.
    Over loopback the body would be gone at once, so chromium's network emulation slows the
    upload to about two seconds: the bar must show values on the way, not only 0 and 100."""
    data = picture("PNG", (1024, 1024), dense=True)
    assert 2 * MIB < len(data) < 5 * MIB
    page.open(page_stack.url + "/uploads/")
    page.choose("bruit.png", data)
    devtools = page.tab.context.new_cdp_session(page.tab)
    devtools.send("Network.enable")
    devtools.send("Network.emulateNetworkConditions", {
        "offline": False, "latency": 0, "downloadThroughput": -1,
        "uploadThroughput": len(data) // 2})  # bytes per second
    page.tab.evaluate("""() => {
      const bar = document.getElementById("progress");
      window.seen = [];
      new MutationObserver(() => window.seen.push(bar.value))
        .observe(bar, { attributes: true, attributeFilter: ["value"] });
    }""")
    page.send()
    seen = page.tab.evaluate("window.seen")
    assert seen[0] == 0 and seen[-1] == 100, seen
    assert any(0 < value < 100 for value in seen), seen
    assert seen == sorted(seen), seen
    assert page.text("#progress-text") == "100 %"
    assert page.tab.get_attribute("#progress", "value") == "100"


def test_photo_sized_image_is_uploaded_and_displayed(page, page_stack):
    """A camera-like JPEG of about 1.3 MB: noise, so the codec cannot make it small."""
    data = picture("JPEG", (1200, 1200), dense=True)
    assert len(data) > MIB
    before = files_under(page_stack.root)
    page.open(page_stack.url + "/uploads/")
    page.choose("appareil.jpg", data)
    page.send()
    assert_stored_and_displayed(page, page_stack, before, (1200, 1200), "image/jpeg")


def test_heavy_file_of_a_small_image_is_reencoded_and_stored(page, page_stack):
    """Over 5 MiB though small in pixels (here padding; in life, metadata): the page decodes it
    and sends a fresh encoding instead of a file the server would refuse."""
    data = picture("JPEG", (64, 64))
    data += bytes(5 * MIB + 1024 - len(data))
    before = files_under(page_stack.root)
    page.open(page_stack.url + "/uploads/")
    page.choose("énorme.jpg", data)
    assert page.text("#plan").startswith("Réduite avant l'envoi : 64 × 64 px, image/jpeg")
    page.send()
    assert_stored_and_displayed(page, page_stack, before, (64, 64), "image/jpeg")


def test_undecodable_file_over_the_limit_is_refused_before_sending(page, page_stack):
    """A file the browser cannot decode cannot be shrunk: over the limit, no request could
    succeed, so none is sent; the words and the limit are the server's."""
    before = files_under(page_stack.root)
    sent = len(upload_requests(page_stack))
    page.open(page_stack.url + "/uploads/")
    page.tab.wait_for_selector("#accepted:has-text('5MB')")
    page.choose("énorme.jpg", bytes(5 * MIB + 1))
    assert_refused(page, page_stack, before, TOO_LARGE, "file_too_large")
    assert page.tab.is_disabled("#send")
    assert len(upload_requests(page_stack)) == sent


def test_non_image_is_refused_and_not_stored(page, page_stack):
    before = files_under(page_stack.root)
    page.open(page_stack.url + "/uploads/")
    page.choose("photo.jpg", b"Ceci n'est pas une image.\n" * 40)
    page.tab.wait_for_selector("#preview-img[hidden]", state="attached")
    assert "Aperçu impossible" in page.text("#chosen")
    page.send()
    assert_refused(page, page_stack, before, NOT_AN_IMAGE, "HTTP 415 · unsupported_format")


def test_upload_from_an_allowed_origin(page, page_stack, origins):
    allowed, _other = origins
    before = files_under(page_stack.root)
    page.open(f"{allowed.url}/index.html?api={page_stack.url}")
    assert page.text("#target") == f"Envoi vers {page_stack.url}/api/upload/avatar"
    page.choose("ailleurs.jpg", picture("JPEG", (200, 150)))
    page.send()
    assert_stored_and_displayed(page, page_stack, before, (200, 150), "image/jpeg")
    assert not [line for line in page.console if "CORS" in line]


def test_upload_from_another_origin_is_blocked_by_the_browser(page, page_stack, origins):
    """The progress listener makes the upload preflighted, so a refused origin sends nothing."""
    _allowed, other = origins
    before = files_under(page_stack.root)
    page.open(f"{other.url}/index.html?api={page_stack.url}")
    page.choose("ailleurs.jpg", picture("JPEG", (200, 150)))
    page.send()
    assert_refused(page, page_stack, before, NETWORK)
    assert any("blocked by CORS policy" in line for line in page.console), page.console


def test_token_field_sends_a_bearer_token(page, jwt_stack):
    """Refused without a token (the page then opens the token field), stored with one."""
    before = files_under(jwt_stack.root)
    page.open(jwt_stack.url + "/uploads/")
    page.choose("avatar.webp", picture("WEBP", (160, 120)))
    page.send()
    assert_refused(page, jwt_stack, before, UNAUTHORIZED, "HTTP 401 · unauthorized")
    assert page.tab.evaluate("document.activeElement.id") == "token"
    token = jwt.encode({"sub": "operateur", "exp": int(time.time()) + 300}, JWT_SECRET, "HS256")
    page.tab.keyboard.type(token)
    page.send()
    assert_stored_and_displayed(page, jwt_stack, before, (160, 120), "image/webp",
                                owner="operateur")


def test_stored_image_is_deleted_from_the_page(page, page_stack):
    """The delete button removes the image and every variant from the store, through the
    answer's delete_url as any client may, and the page says so where it can be seen."""
    before = files_under(page_stack.root)
    page.open(page_stack.url + "/uploads/")
    page.choose("supprimer.jpg", picture("JPEG", (300, 200)))
    page.send()
    assert_stored_and_displayed(page, page_stack, before, (300, 200), "image/jpeg")
    assert page.text("#delete") == "Supprimer cette image"
    page.tab.click("#delete")
    page.tab.wait_for_selector("#result", state="hidden")
    assert page.text("#status") == DELETED
    assert page.in_view("#status")
    assert page.focused() == "file"
    assert files_under(page_stack.root) == before
    assert not page.visible("#error")
    assert not page.errors


def test_delete_goes_to_the_address_the_page_uploaded_through(page, page_stack):
    """Opened under another name of the same site (localhost, where UPLOADS_PUBLIC_BASE_URL
    says 127.0.0.1), the page may reach only its own origin: the stored image is blocked (the
    page says so, naming the origin only), and the delete is sent to the page's own origin,
    where it works."""
    other_name = page_stack.url.replace("127.0.0.1", "localhost")
    before = files_under(page_stack.root)
    page.open(other_name + "/uploads/")
    page.choose("ailleurs.jpg", picture("JPEG", (300, 200)))
    page.send()
    page.tab.wait_for_selector("#error.shown")
    assert page.text("#error-message").startswith("La politique de sécurité de cette page")
    assert page.text("#error-detail") == page_stack.url  # an origin, never a path
    sent = []
    page.tab.on("request", lambda r: r.method == "DELETE" and sent.append(r.url))
    page.tab.click("#delete")
    page.tab.wait_for_selector("#result", state="hidden")
    assert page.text("#status") == DELETED
    assert len(sent) == 1 and sent[0].startswith(other_name + "/api/upload/delete/"), sent
    assert files_under(page_stack.root) == before
    assert not page.visible("#error")


@pytest.mark.parametrize("device", [PHONE], ids=["phone"])
def test_delete_on_a_weak_phone_link(page, page_stack):
    """While a delete waits for its answer, no other file may be chosen or sent and a second
    tap sends nothing; offline, it fails with the module's own words, and on a phone both the
    error and the button that tries again are on screen, the image still stored. Back online,
    the same button deletes it."""
    before = files_under(page_stack.root)
    page.open(page_stack.url + "/uploads/")
    page.choose("téléphone.jpg", picture("JPEG", (900, 1200)))
    page.send()
    page.throttle(offline=True)
    page.tab.click("#delete")
    page.tab.wait_for_selector("#error.shown")
    assert page.text("#error-message") == NETWORK
    assert page.in_view("#error") and page.in_view("#delete")
    assert page.tab.get_attribute("#delete", "aria-disabled") == "false"
    assert page.tab.is_enabled("#file") and files_under(page_stack.root) > before
    page.throttle(latency_ms=1500)
    sent = []
    page.tab.on("request", lambda r: r.method == "DELETE" and sent.append(r.url))
    page.tab.click("#delete")
    page.tab.click("#delete", force=True)  # a second tap (Playwright would wait: aria-disabled)
    assert page.text("#status") == "Suppression…"
    assert page.tab.get_attribute("#delete", "aria-disabled") == "true"
    assert page.focused() == "delete" and page.tab.get_attribute("#result", "aria-busy") == "true"
    assert not page.tab.is_enabled("#file") and not page.tab.is_enabled("#send")
    page.drop("autre.png", "image/png", picture("PNG", (64, 64)))
    assert page.text("#chosen").startswith("téléphone.jpg")
    page.tab.wait_for_selector("#result", state="hidden")
    assert len(sent) == 1, sent
    assert page.text("#status") == DELETED and page.tab.is_enabled("#file")
    assert files_under(page_stack.root) == before
    assert not page.errors


@pytest.mark.parametrize("locale", ["en-US"])
def test_page_speaks_english_when_the_browser_prefers_it(page, page_stack):
    page.open(page_stack.url + "/uploads/")
    assert page.tab.evaluate("document.documentElement.lang") == "en"
    assert page.text("h1") == "Image upload"
    assert page.text("#send") == "Upload"
    assert page.image("#preview-img")["alt"] == "Preview of the chosen image"


def test_controls_are_labelled_and_reachable_by_keyboard(page, page_stack):
    page.open(page_stack.url + "/uploads/")
    unlabelled = page.tab.evaluate("""() => [...document.querySelectorAll("input, progress")]
      .filter((el) => !el.labels || el.labels.length === 0).map((el) => el.id)""")
    assert unlabelled == []
    page.tab.keyboard.press("Tab")
    assert page.tab.evaluate("document.activeElement.id") == "file"
    page.choose("photo.jpg", picture("JPEG", (96, 64)))
    page.tab.keyboard.press("Tab")
    page.tab.keyboard.press("Tab")
    assert page.tab.evaluate("document.activeElement.id") == "send"
