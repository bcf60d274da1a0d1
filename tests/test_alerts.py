"""Alert rules: firing once per condition, waiting out the delay, clearing, quiet hours,
the kinds of rule, the registry support fills, and who may see and edit what."""

from datetime import UTC, datetime, time, timedelta

import pytest
from django.core import mail
from django.urls import reverse
from django.utils import timezone
from rest_framework.test import APIClient

from stations.services import stations_info
from tests.factories import ConnectorFactory, StationFactory, WorkOrderFactory
from tests.helpers import fault, recover
from workorders.alerts.models import (
    Alert,
    AlertDelivery,
    AlertEvent,
    AlertKind,
    AlertRule,
    AlertRuleChange,
    AlertSeverity,
    AlertStatus,
    ChannelKind,
    DeliveryStatus,
)
from workorders.alerts.registry import ExternalCondition, register_condition_source, unregister_condition_source
from workorders.alerts.selectors import alerts_firing
from workorders.alerts.services import deliveries, endpoints
from workorders.alerts.services.evaluation import alert_acknowledge, alerts_evaluate
from workorders.alerts.services.notifications import quiet_hours_end


def rule(kind=AlertKind.CONNECTOR_FAULTED, *, identities=("AL-1",), **fields) -> AlertRule:
    fields.setdefault("delay_minutes", 5)
    return AlertRule.objects.create(name=f"{kind} rule", kind=kind, station_identities=list(identities), **fields)


@pytest.fixture
def station(db):
    made = StationFactory(identity="AL-1", connected=True)
    ConnectorFactory(station=made, connector_id=1)
    return made


@pytest.mark.django_db
def test_a_fault_fires_only_after_holding_for_the_delay(station):
    faulted = rule()
    fault(station)
    assert alerts_evaluate().fired == []
    assert len(alerts_evaluate(now=timezone.now() + timedelta(minutes=6)).fired) == 1
    alert = Alert.objects.get(rule=faulted)
    assert (alert.subject_label, alert.status) == ("AL-1 #1", AlertStatus.FIRING)
    assert list(alerts_firing()) == [alert]


@pytest.mark.django_db
def test_a_second_report_of_the_same_condition_adds_nothing(station):
    faulted = rule(delay_minutes=0)
    fault(station)
    alerts_evaluate()
    fault(station, vendor_error_code="E2")  # the same connector, still faulted
    assert alerts_evaluate().fired == []
    assert Alert.objects.filter(rule=faulted).count() == 1


@pytest.mark.django_db
def test_a_cleared_condition_resolves_its_alert_and_a_new_one_fires_later(station):
    faulted = rule(delay_minutes=0)
    fault(station)
    first = alerts_evaluate().fired
    recover(station)
    assert alerts_evaluate().resolved == first
    assert Alert.objects.get(pk=first[0]).status == AlertStatus.RESOLVED
    fault(station)
    assert len(alerts_evaluate().fired) == 1
    assert Alert.objects.filter(rule=faulted).count() == 2


@pytest.mark.django_db
def test_error_code_rule_matches_error_or_vendor_code(station):
    codes = rule(AlertKind.ERROR_CODE, error_codes=["CX001"], delay_minutes=0)
    fault(station, error_code="OtherError", vendor_error_code="CX001")
    fault_other = StationFactory(identity="AL-2", connected=True)
    ConnectorFactory(station=fault_other)
    fault(fault_other, error_code="OtherError", vendor_error_code="CX999")
    codes.station_identities = []
    codes.save()
    alerts_evaluate()
    assert list(Alert.objects.filter(rule=codes).values_list("subject_label", flat=True)) == ["AL-1 #1"]


@pytest.mark.django_db
def test_failed_firmware_update_fires_until_an_install_succeeds(station):
    firmware = rule(AlertKind.FIRMWARE_FAILED, delay_minutes=0)
    stations_info.firmware_status_record(station_id=station.pk, status="InstallationFailed")
    assert len(alerts_evaluate().fired) == 1
    stations_info.firmware_status_record(station_id=station.pk, status="Installed")
    assert len(alerts_evaluate().resolved) == 1
    assert Alert.objects.get(rule=firmware).details["firmware_status"] == "InstallationFailed"


@pytest.mark.django_db
def test_work_order_past_its_sla_fires(station):
    breach = rule(AlertKind.WORK_ORDER_SLA, delay_minutes=0)
    order = WorkOrderFactory(station=station, status="assigned", sla_due_at=timezone.now() - timedelta(minutes=1))
    WorkOrderFactory(station=station, status="assigned", sla_due_at=timezone.now() + timedelta(hours=5))
    alerts_evaluate()
    assert list(Alert.objects.filter(rule=breach).values_list("subject_key", flat=True)) == [f"work_order:{order.pk}"]


@pytest.mark.django_db
def test_ticket_breaches_come_from_the_registry_support_fills(station):
    tickets = rule(AlertKind.TICKET_SLA, identities=(), delay_minutes=0)
    breached = [
        ExternalCondition(
            subject_key="ticket:7", subject_label="T000007", since=timezone.now(), summary="T000007 is late",
            station_id=station.pk,
        )
    ]  # fmt: skip

    def source(*, now):
        return list(breached)

    register_condition_source(AlertKind.TICKET_SLA, source)
    try:
        assert len(alerts_evaluate().fired) == 1
        assert alerts_evaluate().fired == []
        breached.clear()
        assert len(alerts_evaluate().resolved) == 1
    finally:
        unregister_condition_source(AlertKind.TICKET_SLA, source)
    assert Alert.objects.get(rule=tickets).site_id == station.site_id


# --- Quiet hours ---------------------------------------------------------------


def test_quiet_hours_across_midnight_end_the_next_morning_in_the_zone():
    at_night = datetime(2026, 3, 2, 22, 30, tzinfo=UTC)  # 23:30 in Amsterdam
    ends = quiet_hours_end(start=time(22), end=time(7), zone_name="Europe/Amsterdam", now=at_night)
    assert ends == datetime(2026, 3, 3, 6, 0, tzinfo=UTC)
    midday = datetime(2026, 3, 2, 12, 0, tzinfo=UTC)
    assert quiet_hours_end(start=time(22), end=time(7), zone_name="Europe/Amsterdam", now=midday) is None


def _quiet_all_day_rule(severity):
    now = timezone.now()
    # Quiet from an hour ago to an hour from now, in UTC.
    start, end = (now - timedelta(hours=1)).time(), (now + timedelta(hours=1)).time()
    made = rule(delay_minutes=0, severity=severity, quiet_start=start, quiet_end=end, quiet_time_zone="UTC")
    made.endpoints.set(
        [endpoints.endpoint_create(name="ops", kind=ChannelKind.EMAIL, target="ops@example.com", by=None)[0]]
    )
    return made


@pytest.mark.django_db
def test_quiet_hours_hold_a_warning_until_they_end(station, django_capture_on_commit_callbacks):
    _quiet_all_day_rule(AlertSeverity.WARNING)
    fault(station)
    with django_capture_on_commit_callbacks(execute=True):
        alerts_evaluate()
    delivery = AlertDelivery.objects.get()
    assert delivery.status == DeliveryStatus.DEFERRED and mail.outbox == []
    after = delivery.next_attempt_at + timedelta(seconds=1)
    assert deliveries.deliveries_due(now=after) == [delivery.pk]
    deliveries.delivery_send(delivery_id=delivery.pk, now=after)
    assert len(mail.outbox) == 1


@pytest.mark.django_db
def test_an_alert_that_clears_during_quiet_hours_is_never_sent(station):
    _quiet_all_day_rule(AlertSeverity.WARNING)
    fault(station)
    alerts_evaluate()
    recover(station)
    alerts_evaluate()
    assert list(AlertDelivery.objects.values_list("notification", "status")) == [("fired", DeliveryStatus.SKIPPED)]


@pytest.mark.django_db
def test_critical_alerts_ignore_quiet_hours(station, django_capture_on_commit_callbacks):
    _quiet_all_day_rule(AlertSeverity.CRITICAL)
    fault(station)
    with django_capture_on_commit_callbacks(execute=True):
        alerts_evaluate()
    assert AlertDelivery.objects.get().status == DeliveryStatus.SENT
    assert mail.outbox[0].subject.startswith("[critical]")


# --- Acknowledging, roles, API -----------------------------------------------------


@pytest.mark.django_db
def test_acknowledge_records_who_and_keeps_the_alert_open(station, actors):
    rule(delay_minutes=0)
    fault(station)
    alert = Alert.objects.get(pk=alerts_evaluate().fired[0])
    alert_acknowledge(alert=alert, by=actors.dispatcher)
    assert AlertEvent.objects.filter(alert=alert, to_status="acknowledged", by=actors.dispatcher).exists()
    assert list(alerts_firing()) == [alert]


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("who", "alerts_page", "rules_page"),
    [("operator", 200, 200), ("dispatcher", 200, 403), ("technician", 403, 403), ("support", 403, 403)],
)
def test_who_sees_alerts_and_rules(client, actors, who, alerts_page, rules_page):
    client.force_login(getattr(actors, who))
    assert client.get(reverse("workorders:alert-list")).status_code == alerts_page
    assert client.get(reverse("workorders:alert-rules")).status_code == rules_page
    api = APIClient()
    api.force_authenticate(getattr(actors, who))
    assert api.get("/api/alert-rules/").status_code == (200 if who == "operator" else 403)


@pytest.mark.django_db
def test_operator_edits_a_rule_in_the_portal_and_bad_input_keeps_what_was_typed(client, actors):
    client.force_login(actors.operator)
    url = reverse("workorders:alert-rule-create")
    bad = client.post(url, {"name": "Uptime", "kind": "uptime_below", "severity": "warning", "delay_minutes": 5,
                            "min_sessions": 3, "quiet_time_zone": "Mars/Olympus"})  # fmt: skip
    assert bad.status_code == 400
    assert b"Mars/Olympus" in bad.content and b"Give the percentage" in bad.content
    good = client.post(url, {"name": "Down", "kind": "station_offline", "severity": "critical", "delay_minutes": 10,
                             "min_sessions": 3, "station_identities": "CP-1, CP-2"})  # fmt: skip
    assert good.status_code == 302
    made = AlertRule.objects.get(name="Down")
    assert made.station_identities == ["CP-1", "CP-2"]
    assert AlertRuleChange.objects.get(rule=made).by == actors.operator


@pytest.mark.django_db
def test_api_creates_rules_lists_and_acknowledges_alerts_and_shows_a_secret_once(actors, station):
    api = APIClient()
    api.force_authenticate(actors.operator)
    created = api.post(
        "/api/alert-endpoints/",
        {"name": "pager", "kind": "webhook", "target": "https://pager.example/hook"},
        format="json",
    )
    assert created.status_code == 201 and created.data["secret"].startswith("whsec_")
    listed = api.get(f"/api/alert-endpoints/{created.data['id']}/")
    assert listed.data["secret"] is None and "secret_encrypted" not in listed.data
    made = api.post(
        "/api/alert-rules/",
        {"name": "Faults", "kind": "connector_faulted", "delay_minutes": 0, "station_identities": ["AL-1"],
         "endpoints": [created.data["id"]]},
        format="json",
    )  # fmt: skip
    assert made.status_code == 201, made.data
    assert api.post("/api/alert-rules/", {"name": "x", "kind": "error_code"}, format="json").status_code == 400
    fault(station)
    alerts_evaluate()
    (alert,) = api.get("/api/alerts/?open=true").data["results"]
    dispatcher = APIClient()
    dispatcher.force_authenticate(actors.dispatcher)
    acked = dispatcher.post(f"/api/alerts/{alert['id']}/acknowledge/", {"note": "on it"}, format="json")
    assert acked.status_code == 200 and acked.data["acknowledged_by"] == actors.dispatcher.username
    assert dispatcher.post(f"/api/alerts/{alert['id']}/acknowledge/", {}, format="json").status_code == 409
    technician = APIClient()
    technician.force_authenticate(actors.technician)
    assert technician.get("/api/alerts/").status_code == 403
    deliveries_seen = api.get(f"/api/alert-deliveries/?alert={alert['id']}")
    assert deliveries_seen.status_code == 200 and deliveries_seen.data["count"] == 1


@pytest.mark.django_db
def test_alert_list_costs_a_fixed_number_of_queries(client, actors, django_assert_num_queries):
    client.force_login(actors.operator)
    made = rule(delay_minutes=0, identities=())
    url = reverse("workorders:alert-list")

    def add(n):
        for _ in range(n):
            station = StationFactory(connected=True)
            ConnectorFactory(station=station)
            fault(station)
        alerts_evaluate()

    add(1)
    client.get(url)
    with django_assert_num_queries(8):
        assert client.get(url).status_code == 200
    add(10)
    with django_assert_num_queries(8):
        assert client.get(url).status_code == 200
    assert Alert.objects.filter(rule=made).count() == 11


# --- Evaluated on events; scope; rates over windows ------------------------------------------


@pytest.mark.django_db
def test_a_status_event_is_evaluated_for_its_station_without_waiting_for_the_schedule(
    station, django_capture_on_commit_callbacks
):
    rule(delay_minutes=0)
    with django_capture_on_commit_callbacks(execute=True):
        fault(station)
    assert Alert.objects.filter(station=station, status=AlertStatus.FIRING).count() == 1
    with django_capture_on_commit_callbacks(execute=True):
        recover(station)
    assert Alert.objects.get(station=station).status == AlertStatus.RESOLVED


@pytest.mark.django_db
def test_scope_by_site_and_by_station_model(station):
    from stations.models import StationModel

    elsewhere = StationFactory(identity="AL-FAR", connected=True, vendor="Other", model="Z9")
    ConnectorFactory(station=elsewhere)
    by_site = rule(identities=(), delay_minutes=0)
    by_site.sites.set([station.site])
    by_model = rule(identities=(), delay_minutes=0)
    by_model.station_models.set([StationModel.objects.create(vendor="Other", model="Z9")])
    fault(station)
    fault(elsewhere)
    alerts_evaluate()
    assert list(Alert.objects.filter(rule=by_site).values_list("subject_label", flat=True)) == ["AL-1 #1"]
    assert list(Alert.objects.filter(rule=by_model).values_list("subject_label", flat=True)) == ["AL-FAR #1"]


def _session(station, *, minutes_ago: int, energy_wh: int, seconds: int):
    from stations.models import ChargingSession

    start = timezone.now() - timedelta(minutes=minutes_ago)
    return ChargingSession.objects.create(
        station=station,
        connector=station.connectors.get(connector_id=1),
        id_tag="T1",
        id_tag_status="Accepted",
        meter_start=0,
        meter_stop=energy_wh,
        energy_wh=energy_wh,
        start_at=start,
        stop_at=start + timedelta(seconds=seconds),
        start_fingerprint=f"{minutes_ago}-{energy_wh}",
    )


@pytest.mark.django_db
def test_session_failures_above_the_rate_fire_and_a_good_run_clears_them(station):
    failures = rule(AlertKind.SESSION_FAILURES, delay_minutes=0, threshold_percent=50, window_hours=6, min_sessions=3)
    for minutes_ago in (50, 40, 30):
        _session(station, minutes_ago=minutes_ago, energy_wh=10, seconds=30)  # short, next to no energy
    _session(station, minutes_ago=20, energy_wh=3000, seconds=240)
    assert len(alerts_evaluate().fired) == 1
    assert Alert.objects.get(rule=failures).details == {"failed": 3, "total": 4, "rate_percent": 75.0}
    for minutes_ago in (15, 10, 5):
        _session(station, minutes_ago=minutes_ago, energy_wh=3000, seconds=240)
    assert len(alerts_evaluate().resolved) == 1  # 3 of 7 is under half


@pytest.mark.django_db
def test_uptime_under_the_floor_over_the_window_fires_per_port(station):
    from stations.models import StatusEvent

    healthy = StationFactory(identity="AL-UP", connected=True)
    ConnectorFactory(station=healthy)
    now = timezone.now()
    for target, reports in ((station, ("Available", "Faulted")), (healthy, ("Available", "Available"))):
        connector = target.connectors.get(connector_id=1)
        for hours_ago, status_value in zip((48, 24), reports, strict=True):
            StatusEvent.objects.create(
                station=target, connector=connector, status=status_value, received_at=now - timedelta(hours=hours_ago)
            )
    uptime = rule(AlertKind.UPTIME_BELOW, identities=(), delay_minutes=0, threshold_percent=90, window_days=2)
    alerts_evaluate(now=now)
    (alert,) = Alert.objects.filter(rule=uptime)
    assert alert.subject_label == "AL-1 #1" and 45 < alert.details["uptime_percent"] < 55
