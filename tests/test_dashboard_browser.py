"""The operations dashboard in a real headless Chromium: an operator lands on it, its
network figures follow the chargers live, its charts are drawn without breaking the
Content-Security-Policy, its figures lead to their lists, and it fits a phone."""

import asyncio
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta

import pytest
from django.utils import timezone

from stations.models import ChargingSession, StatusEvent
from tests.factories import STATION_PASSWORD, ConnectorFactory, IncidentFactory, SiteFactory, StationFactory
from tests.helpers import SCREENSHOTS, login, operator_user
from tests.ocpp_client import Charger, open_charger

pytestmark = [pytest.mark.browser, pytest.mark.usefixtures("live_db")]

PHONE = {"viewport": {"width": 390, "height": 844}, "is_mobile": True, "has_touch": True, "device_scale_factor": 2}
DESKTOP = {"viewport": {"width": 1280, "height": 900}}


def _world():
    """Six stations on two sites with a day of history and sessions, and a fault incident
    (on a station of a site of its own)."""
    now = timezone.now()
    sites = [SiteFactory(name="Harbour Street"), SiteFactory(name="Station Square")]
    for s in range(6):
        station = StationFactory(identity=f"DASH-{s:02d}", site=sites[s % 2], model=f"X{s % 3}")
        for port in (1, 2):
            connector = ConnectorFactory(
                station=station, connector_id=port, status="Charging" if s % 3 == 0 else "Available"
            )
            for hours, status in ((20, "Available"), (6 + s, "Charging"), (3, "Available")):
                StatusEvent.objects.create(
                    station=station, connector=connector, status=status, received_at=now - timedelta(hours=hours)
                )
            ChargingSession.objects.create(
                station=station,
                connector=connector,
                id_tag="T",
                id_tag_status="Accepted",
                meter_start=0,
                energy_wh=20_000,
                start_at=now - timedelta(hours=6 + s),
                stop_at=now - timedelta(hours=3),
                start_fingerprint=f"{station.pk}-{port}",
            )
    IncidentFactory(error_code="GroundFailure")


def _policy_violations(page) -> list:
    page.add_init_script(
        "window.__violations = [];"
        "document.addEventListener('securitypolicyviolation', e => window.__violations.push(e.violatedDirective));"
    )
    return []


def test_operator_lands_on_the_dashboard_which_follows_the_network_live(ocpp_server, browser):
    operator_user()
    _world()
    page = browser.new_page(**DESKTOP)
    _policy_violations(page)
    login(page, ocpp_server.http, "browser-op")

    page.goto(f"{ocpp_server.http}/")

    page.wait_for_url(f"{ocpp_server.http}/dashboard/")
    assert page.locator("#now-charging .value").inner_text() == "4"
    assert page.locator("#now-faulted .value").inner_text() == "0"
    # 24 hour columns and six weeks of uptime, drawn on the server.
    assert page.locator("#hours-title ~ svg.chart.columns rect.bar").count() == 24
    assert page.locator("#uptime-panel svg.chart.columns rect.bar").count() == 6
    assert page.locator("#uptime-network").inner_text().endswith("%")
    assert page.locator("#codes-title ~ .bar-list li").count() == 1
    page.wait_for_function("() => document.body.dataset.live === 'on'")

    async def fault():
        async with open_charger(ocpp_server.url, "DASH-01", STATION_PASSWORD) as ws:
            await Charger(ws).result(
                "StatusNotification",
                {"connectorId": 1, "errorCode": "GroundFailure", "status": "Faulted", "vendorErrorCode": "CX002"},
            )

    # Playwright's loop owns this thread; the charger speaks from another one.
    with ThreadPoolExecutor(1) as pool:
        pool.submit(asyncio.run, fault()).result(timeout=15)

    page.wait_for_function("() => document.querySelector('#now-faulted .value').innerText === '1'", timeout=10_000)
    assert page.evaluate("() => window.__violations") == []
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SCREENSHOTS / "dashboard-desktop.png"), full_page=True)

    # The figure leads to the stations behind it.
    page.click("#now-faulted")
    page.wait_for_url(f"{ocpp_server.http}/stations/?status=Faulted")
    rows = page.locator("#station-rows tr")
    assert rows.count() == 1 and "DASH-01" in rows.first.inner_text()


def test_dashboard_and_analytics_fit_a_phone(ocpp_server, browser):
    operator_user()
    _world()
    page = browser.new_page(**PHONE)
    _policy_violations(page)
    login(page, ocpp_server.http, "browser-op")

    page.goto(f"{ocpp_server.http}/dashboard/")

    assert page.evaluate("document.documentElement.scrollWidth") <= 390
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SCREENSHOTS / "dashboard-phone.png"), full_page=True)

    page.goto(f"{ocpp_server.http}/analytics/?period=7d")
    assert page.locator("#site-usage tbody tr").count() == 3
    assert page.evaluate("document.documentElement.scrollWidth") <= 390
    page.screenshot(path=str(SCREENSHOTS / "analytics-phone.png"), full_page=True)

    page.click("#site-usage a:has-text('Harbour Street')")
    page.wait_for_url("**/stations/sites/*/?period=7d")
    assert "Every port taken" in page.locator("#site-all-busy").inner_text()
    assert page.evaluate("document.documentElement.scrollWidth") <= 390
    page.screenshot(path=str(SCREENSHOTS / "site-phone.png"), full_page=True)

    page.click("#station-usage a:has-text('DASH-00')")
    page.wait_for_url("**/stations/DASH-00/")
    assert page.locator("#station-usage tbody tr").count() == 2
    page.screenshot(path=str(SCREENSHOTS / "station-usage-phone.png"), full_page=True)
    assert page.evaluate("() => window.__violations") == []
