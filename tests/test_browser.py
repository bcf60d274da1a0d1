"""The station pages in a real headless Chromium (Debian's package, driven by Playwright)."""

import asyncio
from concurrent.futures import ThreadPoolExecutor

import pytest

from tests.factories import STATION_PASSWORD, ConnectorFactory, StationFactory
from tests.helpers import SCREENSHOTS, login, operator_user
from tests.ocpp_client import Charger, open_charger

pytestmark = [pytest.mark.browser, pytest.mark.usefixtures("live_db")]


def test_station_list_loads_and_updates_live(ocpp_server, browser):
    operator_user()
    station = StationFactory(identity="LIVE-0001")
    ConnectorFactory(station=station, connector_id=1, status="Available")
    StationFactory(identity="LIVE-0002")
    page = browser.new_page(viewport={"width": 1280, "height": 800})

    login(page, ocpp_server.http, "browser-op")

    rows = page.locator("#station-rows tr")
    assert rows.count() == 2
    assert "LIVE-0001" in rows.nth(0).inner_text()
    assert "1: Available" in rows.nth(0).inner_text()
    page.wait_for_function("() => document.body.dataset.live === 'on'")

    async def fault():
        async with open_charger(ocpp_server.url, "LIVE-0001", STATION_PASSWORD) as ws:
            await Charger(ws).result(
                "StatusNotification",
                {"connectorId": 1, "errorCode": "GroundFailure", "status": "Faulted", "vendorErrorCode": "CX002"},
            )

    # Playwright's loop owns this thread; the charger speaks from another one.
    with ThreadPoolExecutor(1) as pool:
        pool.submit(asyncio.run, fault()).result(timeout=15)

    # No reload: the push makes the page fetch the rows again.
    page.wait_for_function(
        "() => document.querySelector('#station-rows tr').innerText.includes('CX002')", timeout=10_000
    )
    assert "1: Faulted" in rows.nth(0).inner_text()
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SCREENSHOTS / "station-list.png"), full_page=True)


def test_station_detail_on_a_phone(ocpp_server, browser):
    operator_user()
    station = StationFactory(identity="PHONE-01")
    ConnectorFactory(station=station, connector_id=1, status="Charging")
    page = browser.new_page(viewport={"width": 390, "height": 844}, is_mobile=True)
    login(page, ocpp_server.http, "browser-op")

    page.click("text=PHONE-01")

    page.wait_for_url(f"{ocpp_server.http}/stations/PHONE-01/")
    assert page.locator("h1").inner_text().startswith("PHONE-01")
    assert "Charging" in page.locator("#station-live").inner_text()
    # Nothing wider than the phone's screen.
    assert page.evaluate("document.documentElement.scrollWidth") <= 390
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SCREENSHOTS / "station-detail-phone.png"), full_page=True)


def test_command_from_the_station_page_shows_its_outcome_live(ocpp_server, browser):
    from tests.ocpp_client import BackgroundCharger

    operator_user()
    StationFactory(identity="CMD-PAGE")
    page = browser.new_page(viewport={"width": 1280, "height": 900})
    login(page, ocpp_server.http, "browser-op")
    with BackgroundCharger(ocpp_server.url, "CMD-PAGE", STATION_PASSWORD) as charger:
        page.goto(f"{ocpp_server.http}/stations/CMD-PAGE/")
        page.wait_for_function("() => document.body.dataset.live === 'on'")
        page.once("dialog", lambda dialog: dialog.accept())  # the confirmation a reset asks for

        page.click("button:has-text('Soft reset')")

        page.wait_for_function(
            "() => document.querySelector('table.commands tbody tr')?.innerText.includes('Accepted')", timeout=10_000
        )
        assert [c[2:] for c in charger.calls] == [["Reset", {"type": "Soft"}]]
    row = page.locator("table.commands tbody tr").first.inner_text()
    assert "Reset" in row and "browser-op" in row and '{"type": "Soft"}' in row
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SCREENSHOTS / "station-command.png"), full_page=True)
