"""Billing pages in a real headless Chromium: the tariff form with its calculator, and the review queue."""

from decimal import Decimal as D

import pytest

from billing.models import SessionBilling, Tariff
from tests.factories import ConnectorFactory, SiteFactory, StationFactory
from tests.helpers import login as _login
from tests.helpers import operator_user as _operator
from tests.test_billing_pages import make_account, make_session, make_tariff, priced

pytestmark = [pytest.mark.browser, pytest.mark.usefixtures("live_db")]
SHOTS = "/tmp"  # noqa: S108  (screenshots to look at, nothing secret)


def _errors(page) -> list:
    errors = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    page.on(
        "console", lambda msg: errors.append(msg.text) if msg.type == "error" and "resource" not in msg.text else None
    )
    # Chromium asks every site for /favicon.ico; the portal has none.
    page.on(
        "response",
        lambda r: errors.append(f"{r.status} {r.url}") if r.status == 404 and "favicon" not in r.url else None,
    )
    return errors


def test_tariff_form_with_periods_and_calculator(ocpp_server, browser):  # noqa: F811
    _operator()
    site = SiteFactory(name="Harbour", time_zone="Europe/Amsterdam")
    StationFactory(identity="BR-1", site=site)
    page = browser.new_page(viewport={"width": 1300, "height": 1000})
    errors = _errors(page)
    _login(page, ocpp_server.http, "browser-op")

    page.goto(f"{ocpp_server.http}/billing/tariffs/new/")
    page.fill("input[name=name]", "Harbour night")
    page.fill("input[name=price_per_kwh]", "0.40")
    page.fill("input[name=idle_price_per_minute]", "0.10")
    page.fill("input[name=idle_grace_minutes]", "15")
    page.fill("input[name=session_fee]", "1.00")
    page.fill("input[name=tax_rate]", "0.19")
    page.fill("textarea[name=stations]", "BR-1")
    # The first period row is there; a second is added by the page's script.
    row = page.locator("#period-rows tr").nth(0)
    for day in range(7):
        row.locator(f"input[value='{day}']").check()
    row.locator("input[name$=start]").fill("22:00")
    row.locator("input[name$=end]").fill("06:00")
    row.locator("input[name$=price_per_kwh]").fill("0.25")
    page.click("#add-period")
    assert page.locator("#period-rows tr").count() == 2
    second = page.locator("#period-rows tr").nth(1)
    assert second.locator("input[name='periods-1-start']").count() == 1
    second.locator("input[value='5']").check()
    second.locator("input[name$=start]").fill("10:00")
    second.locator("input[name$=end]").fill("16:00")
    second.locator("input[name$=price_per_kwh]").fill("0.30")
    page.fill("input[name=calc_start]", "2026-11-10T20:00")
    page.fill("input[name=calc_end]", "2026-11-11T00:00")
    page.fill("input[name=calc_energy_kwh]", "30")
    page.fill("input[name=calc_idle_minutes]", "45")
    page.select_option("select[name=calc_time_zone]", "Europe/Amsterdam")

    page.click("#calculate")

    result = page.locator("#calc-result")
    result.wait_for()
    assert "16.97 EUR" in result.locator("[data-total]").inner_text()
    assert "Energy (22:00-06:00)" in result.inner_text() and "Idle time after 15 min grace" in result.inner_text()
    assert not Tariff.objects.exists()
    # Nothing typed was lost in the round trip, the added row included.
    assert page.locator("input[name='periods-1-start']").input_value() == "10:00"
    page.screenshot(path=f"{SHOTS}/billing-tariff-calculator.png", full_page=True)

    page.click("button[name=save]")
    page.wait_for_url("**/billing/tariffs/*/")
    tariff = Tariff.objects.get()
    assert len(tariff.current_version.periods) == 2 and tariff.current_version.price_per_kwh == D("0.40")
    assert errors == []


def test_review_queue_accepts_a_flagged_session(ocpp_server, browser):  # noqa: F811
    _operator()
    station = StationFactory(identity="BR-2")
    connector = ConnectorFactory(station=station, connector_id=1)
    make_tariff(station)
    make_account(email="")
    session = make_session(connector, flags=["register_backwards"])
    assert priced(session).status == SessionBilling.Status.REVIEW
    page = browser.new_page(viewport={"width": 1100, "height": 900})
    errors = _errors(page)
    _login(page, ocpp_server.http, "browser-op")

    page.goto(f"{ocpp_server.http}/billing/review/")
    item = page.locator(f"#review-{session.pk}")
    assert "register_backwards" in item.inner_text()
    item.locator("summary").click()
    assert item.locator(".readings tbody tr").count() == 6
    page.screenshot(path=f"{SHOTS}/billing-review-queue.png", full_page=True)
    item.locator("input[name$=energy_wh]").fill("8000")
    item.locator("button[type=submit]").click()
    # The note is required: the page comes back with the error and the energy kept.
    page.wait_for_selector(f"#review-{session.pk} .error")
    assert page.locator(f"#review-{session.pk} input[name$=energy_wh]").input_value() == "8000"
    page.locator(f"#review-{session.pk} textarea[name$=note]").fill("meter swapped")
    page.locator(f"#review-{session.pk} button[type=submit]").click()
    page.wait_for_selector(".messages")

    assert f"Session {session.pk} priced: 5.00 EUR" in page.locator(".messages").inner_text()
    assert page.locator(f"#review-{session.pk}").count() == 0
    billing = SessionBilling.objects.get(session=session)
    assert billing.status == SessionBilling.Status.PRICED and billing.review_note == "meter swapped"
    assert billing.total == D("5.00")  # 8 kWh x 0.40 + 1.00, 19 % tax
    assert errors == []
