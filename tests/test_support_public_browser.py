"""A charger's public page in headless Chromium at a phone's size, and the QR sheet read back
by a QR decoder from what the browser drew."""

import io
import uuid

import pytest
import zxingcpp
from PIL import Image

from stations.services import status
from support.models import Ticket, TicketAttachment
from support.services import charger_pages
from tests.conftest import run_server
from tests.factories import ConnectorFactory, SiteFactory, StationFactory
from tests.helpers import login, operator_user

pytestmark = [pytest.mark.browser, pytest.mark.usefixtures("live_db")]
SHOTS = "/tmp"  # noqa: S108  (screenshots to look at, nothing secret)
PHONE = {"width": 390, "height": 844}
PER_CHARGER = 3


@pytest.fixture(scope="module")
def server(django_db_setup, django_db_blocker):
    # Counters of this module only; the limit per charger is the one the tests reach.
    with run_server(
        CACHE_KEY_PREFIX=f"intake-browser-{uuid.uuid4().hex[:8]}",
        SUPPORT_REPORT_RATE_PER_ADDRESS="1000/h",
        SUPPORT_REPORT_RATE_PER_CHARGER=f"{PER_CHARGER}/h",
        PUBLIC_BASE_URL="",
    ) as running:
        yield running


def _charger(identity: str, *statuses: str):
    station = StationFactory(identity=identity, connected=True, site=SiteFactory(name=f"{identity} garage"))
    ConnectorFactory(station=station, connector_id=0)
    for number, value in enumerate(statuses, start=1):
        ConnectorFactory(
            station=station, connector_id=number, status=value,
            error_code="GroundFailure" if value == "Faulted" else "NoError",
            vendor_error_code="CX026" if value == "Faulted" else "",
        )  # fmt: skip
    return station, charger_pages.charger_page_create(station=station)


def _phone(browser):
    page = browser.new_page(viewport=PHONE, is_mobile=True, has_touch=True)
    errors = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    # A 400 or 429 page is the answer under test; the browser logs it as a failed resource.
    page.on(
        "console", lambda msg: errors.append(msg.text) if msg.type == "error" and "resource" not in msg.text else None
    )
    return page, errors


def test_driver_reports_a_problem_with_a_photo_on_a_phone(server, browser, tmp_path):
    station, charger = _charger("PHONE-QR", "Faulted", "Charging")
    page, errors = _phone(browser)
    page.goto(f"{server.http}/c/{charger.code}/")
    status_box = page.locator("#charger-status")
    assert "Out of order" in status_box.inner_text() and "In use" in status_box.inner_text()
    body = page.content()
    assert "GroundFailure" not in body and "CX026" not in body
    # Nothing free: the watch is offered; the form fits the phone's width.
    assert page.locator("text=Tell me when it's available").count() == 1
    assert page.evaluate("() => document.documentElement.scrollWidth <= window.innerWidth")
    box = page.locator("input[name=website]").bounding_box()
    assert box is None or box["x"] + box["width"] <= 0, "the honeypot is out of a person's sight"
    page.screenshot(path=f"{SHOTS}/support-charger-page-phone.png", full_page=True)

    photo = tmp_path / "cable.jpg"
    out = io.BytesIO()
    Image.new("RGB", (64, 48), (90, 90, 90)).save(out, format="JPEG")
    photo.write_bytes(out.getvalue())
    page.select_option("select[name=category]", "cable_stuck")
    page.select_option("select[name=connector]", "1")
    page.fill("textarea[name=description]", "Cable locked in, car cannot leave")
    page.fill("input[name=email]", "pat@example.test")
    page.set_input_files("input[name=photo]", str(photo))
    page.click("form[action$='/report/'] button[type=submit]")
    page.wait_for_selector(".reference")
    ticket = Ticket.objects.get(station=station)
    assert page.inner_text(".reference") == ticket.reference
    assert ticket.category == "cable_stuck" and ticket.connector.connector_id == 1
    assert TicketAttachment.objects.get(message__ticket=ticket).content_type == "image/jpeg"
    page.screenshot(path=f"{SHOTS}/support-charger-reported-phone.png", full_page=True)
    assert errors == []


def test_bad_input_keeps_what_was_typed_and_the_honeypot_files_nothing(server, browser):
    station, charger = _charger("PHONE-BAD", "Available")
    page, errors = _phone(browser)
    page.goto(f"{server.http}/c/{charger.code}/")
    page.select_option("select[name=category]", "payment")
    page.fill("textarea[name=description]", "Charged twice for one session")
    page.fill("input[name=name]", "Quinn")
    page.fill("input[name=email]", "quinn-at-example")
    page.fill("input[name=phone]", "ring me")
    response_status = []
    page.on("response", lambda r: response_status.append(r.status) if r.url.endswith("/report/") else None)
    page.click("form[action$='/report/'] button[type=submit]")
    page.wait_for_selector(".form-errors")
    assert response_status == [400]
    assert page.input_value("textarea[name=description]") == "Charged twice for one session"
    assert page.input_value("input[name=name]") == "Quinn"
    assert page.input_value("input[name=email]") == "quinn-at-example"
    assert page.input_value("input[name=phone]") == "ring me"
    assert page.input_value("select[name=category]") == "payment"
    assert "Enter a valid email address" in page.inner_text("#report")
    page.screenshot(path=f"{SHOTS}/support-charger-bad-input-phone.png", full_page=True)
    assert not Ticket.objects.exists()

    # A bot fills every field it finds, the hidden one too: thanked, nothing filed.
    page.fill("input[name=email]", "quinn@example.test")
    page.fill("input[name=phone]", "")
    page.evaluate("() => { document.querySelector('input[name=website]').value = 'http://spam.example'; }")
    page.click("form[action$='/report/'] button[type=submit]")
    page.wait_for_selector("text=Thank you")
    assert not Ticket.objects.exists()
    assert errors == []


def test_too_many_reports_about_one_charger_get_a_clear_429_page(server, browser):
    station, charger = _charger("PHONE-LIMIT", "Available")
    page, _ = _phone(browser)
    statuses = []
    page.on("response", lambda r: statuses.append(r.status) if r.url.endswith("/report/") else None)
    for n in range(PER_CHARGER + 1):
        page.goto(f"{server.http}/c/{charger.code}/")
        page.fill("textarea[name=description]", f"report {n}")
        page.click("form[action$='/report/'] button[type=submit]")
        page.wait_for_load_state()
    assert statuses == [200] * PER_CHARGER + [429]
    assert "Too many reports" in page.inner_text("h1")
    assert "try again in an hour" in page.inner_text("main")
    page.screenshot(path=f"{SHOTS}/support-charger-429-phone.png", full_page=True)
    assert Ticket.objects.filter(station=station).count() == PER_CHARGER


def test_status_refreshes_live_on_the_open_page(server, browser):
    station, charger = _charger("PHONE-LIVE", "Charging")
    page, errors = _phone(browser)
    page.goto(f"{server.http}/c/{charger.code}/")
    assert "In use" in page.inner_text("#charger-status")
    status.connector_status_report(station_id=station.pk, connector_id=1, status="Available", error_code="NoError")
    page.wait_for_function(
        "() => document.querySelector('#charger-status').textContent.includes('Available')", timeout=20000
    )
    assert errors == []


def test_qr_sheet_prints_codes_that_decode_to_each_chargers_address(server, browser):
    operator_user()
    site = SiteFactory(name="Harbour Street")
    pages = {}
    for n in range(3):
        station = StationFactory(identity=f"HS-{n:02d}", site=site)
        pages[station.identity] = charger_pages.charger_page_create(station=station)
    page = browser.new_page(viewport={"width": 1100, "height": 900})
    login(page, server.http, "browser-op")
    page.goto(f"{server.http}/support/qr/")
    page.click(f"a[href='/support/qr/sites/{site.pk}/']")
    page.wait_for_selector(".qr-label img")
    page.wait_for_function("() => [...document.images].every((img) => img.complete && img.naturalWidth > 0)")
    labels = page.locator(".qr-label")
    assert labels.count() == 3
    for index in range(3):
        label = labels.nth(index)
        identity = label.locator(".identity").inner_text()
        expected = f"{server.http}/c/{pages[identity].code}/"
        assert label.locator(".address").inner_text() == expected.removeprefix("http://").rstrip("/")
        drawn = Image.open(io.BytesIO(label.locator("img").screenshot()))
        decoded = [code.text for code in zxingcpp.read_barcodes(drawn)]
        assert decoded == [expected], identity
    page.emulate_media(media="print")
    assert not page.locator("header.topbar").is_visible()
    page.screenshot(path=f"{SHOTS}/support-qr-sheet-print.png", full_page=True)
