"""The alerts in a browser: the nav badge counts firing alerts and follows them; the list acknowledges."""

import pytest

from tests.factories import ConnectorFactory, StationFactory
from tests.helpers import fault, login, operator_user
from workorders.alerts.models import Alert, AlertKind, AlertRule, AlertStatus
from workorders.alerts.services.evaluation import alerts_evaluate


@pytest.mark.django_db(transaction=True)
def test_badge_counts_firing_alerts_and_the_list_acknowledges_them(ocpp_server, browser):
    operator_user("alert-op")
    AlertRule.objects.create(name="Faults", kind=AlertKind.CONNECTOR_FAULTED, delay_minutes=0)
    station = StationFactory(identity="BR-ALERT", connected=True)
    ConnectorFactory(station=station)
    fault(station)
    alerts_evaluate()

    page = browser.new_page()
    errors = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    login(page, ocpp_server.http, "alert-op")
    page.wait_for_function(
        "() => document.querySelector('#alerts-badge [data-count]')?.dataset.count === '1'", timeout=10000
    )

    # A second alert fires while the page is open: the badge follows by itself.
    other = StationFactory(identity="BR-ALERT-2", connected=True)
    ConnectorFactory(station=other)
    fault(other)
    alerts_evaluate()
    page.wait_for_function(
        "() => document.querySelector('#alerts-badge [data-count]')?.dataset.count === '2'", timeout=25000
    )

    page.click("#alerts-nav")
    page.wait_for_selector("#alert-table")
    assert "BR-ALERT #1 is faulted" in page.inner_text("#alert-table")
    page.click(f"tr[data-alert='{Alert.objects.get(station=station).pk}'] button.ack")
    page.wait_for_selector(".messages")
    assert Alert.objects.get(station=station).status == AlertStatus.ACKNOWLEDGED
    page.wait_for_function(
        "() => document.querySelector('#alerts-badge [data-count]')?.dataset.count === '1'", timeout=10000
    )
    assert errors == []


@pytest.mark.django_db(transaction=True)
def test_operator_writes_a_rule_and_the_form_shows_what_its_kind_needs(ocpp_server, browser):
    operator_user("rule-op")
    page = browser.new_page()
    errors = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    login(page, ocpp_server.http, "rule-op")
    page.goto(f"{ocpp_server.http}/workorders/alerts/rules/new/")

    page.select_option("[name=kind]", "error_code")
    assert page.is_visible("[data-field=error_codes]") and not page.is_visible("[data-field=window_days]")
    page.select_option("[name=kind]", "uptime_below")
    assert page.is_visible("[data-field=window_days]") and not page.is_visible("[data-field=error_codes]")

    # Missing the percentage: refused, with what was typed still there.
    page.fill("[name=name]", "Low uptime")
    page.fill("[name=window_days]", "7")
    page.click("#rule-form button[type=submit]")
    page.wait_for_selector(".form-errors")
    assert page.input_value("[name=name]") == "Low uptime" and page.input_value("[name=window_days]") == "7"
    assert page.is_visible("[data-field=threshold_percent]")

    page.fill("[name=threshold_percent]", "97.5")
    page.click("#rule-form button[type=submit]")
    page.wait_for_selector("#rule-table")
    assert "Low uptime" in page.inner_text("#rule-table")
    saved = AlertRule.objects.get(name="Low uptime")
    assert (saved.kind, saved.window_days, str(saved.threshold_percent)) == ("uptime_below", 7, "97.50")
    assert errors == []
