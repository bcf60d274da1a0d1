"""A technician's work order on a phone, in a real headless Chromium."""

from concurrent.futures import ThreadPoolExecutor

import pytest
from django.db import connections

from tests.factories import STATION_PASSWORD
from tests.helpers import SCREENSHOTS, advance, amsterdam_station, fault, technician
from tests.ocpp_client import BackgroundCharger
from workorders.models import Incident, WorkOrder

pytestmark = [pytest.mark.browser, pytest.mark.usefixtures("live_db", "playbook_seeded")]

PHONE = {"viewport": {"width": 390, "height": 844}, "is_mobile": True, "has_touch": True, "device_scale_factor": 2}


def _fault_dispatched_to(username: str, identity: str) -> WorkOrder:
    """A cut cable (not remotely fixable): remediation rolls a truck to the only technician.

    Runs in a thread of its own: Playwright's loop owns the test's thread, and the
    services push to live pages through async_to_sync."""

    def make() -> WorkOrder:
        try:
            technician(username, skills=["ac", "dc", "hv", "mechanical", "network"])
            station = amsterdam_station(identity)
            fault(station, error_code="OtherError", vendor_error_code="CX026")
            advance(Incident.objects.get(station=station))
            return WorkOrder.objects.select_related("incident__playbook").get(station=station)
        finally:
            connections.close_all()

    with ThreadPoolExecutor(1) as pool:
        return pool.submit(make).result(timeout=30)


def test_technician_resets_their_station_from_the_work_order_on_a_phone(ocpp_server, browser):  # noqa: F811
    order = _fault_dispatched_to("tina", "PHONE-WO")
    base = ocpp_server.http
    page = browser.new_page(**PHONE)

    # Straight to the queue: the login page sends the technician back there.
    page.goto(f"{base}/workorders/my/")
    page.fill("input[name=username]", "tina")
    page.fill("input[name=password]", "pw-for-tests")
    page.click("button[type=submit]")
    page.wait_for_url(f"{base}/workorders/my/")
    assert "PHONE-WO" in page.locator(".wo-cards").inner_text()
    assert page.evaluate("document.documentElement.scrollWidth") <= 390
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SCREENSHOTS / "technician-queue-phone.png"))

    with BackgroundCharger(ocpp_server.url, "PHONE-WO", STATION_PASSWORD) as charger:
        page.click(f"a[data-order='{order.pk}']")
        page.wait_for_url(f"{base}/workorders/{order.pk}/")
        diagnosis = page.locator("#diagnosis").inner_text()
        assert "CX026" in diagnosis and order.incident.playbook.meaning in diagnosis
        live = page.locator("#station-live").inner_text()
        assert "Connector 1" in live and "Faulted" in live and "Connected" in live
        page.once("dialog", lambda dialog: dialog.accept())  # a reset asks for confirmation

        page.click("button:has-text('Soft reset')")

        page.wait_for_function(
            "() => document.querySelector('#wo-commands li')?.innerText.includes('Accepted')", timeout=15_000
        )
        assert [c[2:] for c in charger.calls] == [["Reset", {"type": "Soft"}]]

    first = page.locator("#wo-commands li").first.inner_text()
    assert "Reset" in first and "tina" in first
    assert page.evaluate("document.documentElement.scrollWidth") <= 390
    page.screenshot(path=str(SCREENSHOTS / "technician-workorder-phone.png"), full_page=True)


def test_technician_arrives_on_site_and_is_asked_for_a_resolution_code(ocpp_server, browser):  # noqa: F811
    order = _fault_dispatched_to("tim", "PHONE-WO2")
    page = browser.new_page(**PHONE)
    page.goto(f"{ocpp_server.http}/workorders/{order.pk}/")
    page.fill("input[name=username]", "tim")
    page.fill("input[name=password]", "pw-for-tests")
    page.click("button[type=submit]")
    page.wait_for_url(f"{ocpp_server.http}/workorders/{order.pk}/")

    page.click("button:has-text('Arrived')")

    page.wait_for_selector("form.resolve-form input[name=resolution_code]")
    assert "On site" in page.locator(".wo-head .wo-status").inner_text()
    order.refresh_from_db()
    assert order.status == "on_site" and order.on_site_started_at
    assert page.evaluate("document.documentElement.scrollWidth") <= 390
    page.screenshot(path=str(SCREENSHOTS / "technician-workorder-onsite-phone.png"))
