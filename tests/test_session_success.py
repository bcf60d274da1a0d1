"""Session success: each outcome of the rule on a hand-made history, and the shares per group."""

from datetime import UTC, datetime, timedelta

import pytest

from stations.models import ChargingSession, RemoteCommand
from stations.uptime.rules import SessionOutcome
from stations.uptime.session_success import session_success
from tests.factories import ConnectorFactory, StationFactory

pytestmark = pytest.mark.django_db

T0 = datetime(2026, 10, 5, 8, tzinfo=UTC)
DAY = {"start": T0, "end": T0 + timedelta(days=1)}


def session(connector, minute, *, energy_wh, reason="Local", tag_status="Accepted", stopped=True):
    start = T0 + timedelta(minutes=minute)
    return ChargingSession.objects.create(
        station=connector.station, connector=connector, id_tag="TAG", id_tag_status=tag_status, meter_start=0,
        energy_wh=energy_wh, start_at=start, stop_at=start + timedelta(minutes=30) if stopped else None,
        stop_reason=reason if stopped else "", start_fingerprint=f"fp-{connector.pk}-{minute}",
    )  # fmt: skip


def remote_start(station, minute, *, connector_id=1, status="accepted"):
    command = RemoteCommand.objects.create(
        station=station, action="RemoteStartTransaction", payload={"idTag": "TAG", "connectorId": connector_id},
        status=status, requested_via="test",
    )  # fmt: skip
    RemoteCommand.objects.filter(pk=command.pk).update(created_at=T0 + timedelta(minutes=minute), sent_at=None)


@pytest.fixture
def connector():
    return ConnectorFactory(station=StationFactory(identity="SS-1"), connector_id=1)


def outcomes(**kwargs):
    [row] = session_success(**DAY, **kwargs)
    return row


@pytest.mark.parametrize(
    ("energy_wh", "reason", "tag_status", "expected"),
    [
        (20_000, "Local", "Accepted", SessionOutcome.SUCCESS),
        (500, "EVDisconnected", "Accepted", SessionOutcome.SUCCESS),  # the threshold itself is enough
        (499, "Local", "Accepted", SessionOutcome.LOW_ENERGY),
        (0, "Local", "Invalid", SessionOutcome.REFUSED),
        (30_000, "EmergencyStop", "Accepted", SessionOutcome.ERROR_STOP),
        (20_000, "PowerLoss", "Accepted", SessionOutcome.ERROR_STOP),
        (120, "EVDisconnected", "Accepted", SessionOutcome.ERROR_STOP),
        (0, "Other", "Accepted", SessionOutcome.ERROR_STOP),
        (None, "Local", "Accepted", SessionOutcome.UNMEASURED),
    ],
)
def test_each_stop_gets_the_outcome_the_rule_names(connector, energy_wh, reason, tag_status, expected):
    session(connector, 0, energy_wh=energy_wh, reason=reason, tag_status=tag_status)

    assert dict(outcomes().outcomes) == {expected: 1}


def test_the_energy_threshold_is_a_setting(connector, settings):
    settings.SESSION_SUCCESS_MIN_WH = 1000
    session(connector, 0, energy_wh=800)

    assert dict(outcomes().outcomes) == {SessionOutcome.LOW_ENERGY: 1}


def test_a_session_still_running_is_not_judged(connector):
    session(connector, 0, energy_wh=None, stopped=False)

    row = outcomes()
    assert (row.attempts, row.success_share) == (0, None)


def test_an_accepted_remote_start_with_no_session_within_two_minutes_is_a_failed_attempt(connector):
    remote_start(connector.station, 0)  # followed after 90 s: fine
    session(connector, 1.5, energy_wh=20_000)
    remote_start(connector.station, 60)  # followed after 3 minutes: too late
    session(connector, 63, energy_wh=20_000)
    remote_start(connector.station, 120, status="rejected")  # refused by the charger: not an attempt here

    row = outcomes()

    assert dict(row.outcomes) == {SessionOutcome.SUCCESS: 2, SessionOutcome.NO_START: 1}
    assert (row.attempts, row.success_share, row.failure_share) == (3, 2 / 3, 1 / 3)


def test_shares_per_connector_station_and_model(connector):
    other = ConnectorFactory(station=connector.station, connector_id=2)
    far = ConnectorFactory(station=StationFactory(identity="SS-2", vendor="Zeta", model="Q"), connector_id=1)
    session(connector, 0, energy_wh=20_000)
    session(connector, 40, energy_wh=100)
    session(other, 0, energy_wh=20_000)
    session(other, 40, energy_wh=None)  # unmeasured: neither success nor failure
    session(far, 0, energy_wh=0, reason="EmergencyStop")
    session(far, 60 * 30, energy_wh=20_000)  # the next day: outside

    per_connector = {(r.key["station"], r.key["connector_id"]): r.success_share for r in session_success(**DAY)}
    per_station = {r.key["station"]: (r.successes, r.failures) for r in session_success(**DAY, group_by="station")}
    per_model = {(r.key["vendor"], r.key["model"]): r.failure_share for r in session_success(**DAY, group_by="model")}

    assert per_connector == {("SS-1", 1): 0.5, ("SS-1", 2): 1.0, ("SS-2", 1): 0.0}
    assert per_station == {"SS-1": (2, 1), "SS-2": (0, 1)}
    assert per_model == {("Acme", "X1"): 1 / 3, ("Zeta", "Q"): 1.0}
    [site_row] = [r for r in session_success(**DAY, group_by="site") if r.key["site"] == far.station.site.name]
    assert site_row.attempts == 1


def test_the_python_rule_the_database_expression_and_the_filters_agree_on_every_case(connector):
    """One rule, three forms: every combination of the fields the rule reads, written to the
    database and judged by each form, gets the same answer."""
    from itertools import product

    from django.db.models import Count

    from stations.uptime import rules

    cases = product(
        ["Accepted", "Blocked"],
        [True, False],
        ["", "Local", "EVDisconnected", "Other", "EmergencyStop", "Reboot"],
        [None, 0, 1, 499, 500, 20_000],
    )
    made = [
        session(connector, n, energy_wh=energy, reason=reason, tag_status=tag, stopped=stopped)
        for n, (tag, stopped, reason, energy) in enumerate(cases)
    ]
    in_database = dict(ChargingSession.objects.annotate(outcome=rules.session_outcome()).values_list("pk", "outcome"))
    failed = set(ChargingSession.objects.filter(rules.port_failed_q()).values_list("pk", flat=True))
    judged = set(ChargingSession.objects.filter(rules.judged_q()).values_list("pk", flat=True))
    through_relation = connector.station.__class__.objects.aggregate(
        n=Count("sessions", filter=rules.port_failed_q("sessions__"))
    )["n"]

    for row in ChargingSession.objects.filter(pk__in=[s.pk for s in made]):
        outcome = rules.outcome_of(row)
        assert in_database[row.pk] == outcome, (row.id_tag_status, row.stop_at, row.stop_reason, row.energy_wh)
        assert (row.pk in failed) == rules.port_failed(row) == (outcome in rules.PORT_FAILURE_OUTCOMES)
        assert (row.pk in judged) == (outcome in (SessionOutcome.SUCCESS, *rules.PORT_FAILURE_OUTCOMES))
    assert through_relation == len(failed)
    assert {rules.outcome_of(row) for row in made} == {
        SessionOutcome.REFUSED, SessionOutcome.IN_PROGRESS, SessionOutcome.ERROR_STOP, SessionOutcome.UNMEASURED,
        SessionOutcome.LOW_ENERGY, SessionOutcome.SUCCESS,
    }  # fmt: skip


def test_incidents_and_the_failure_alert_count_the_sessions_the_rule_calls_port_failures(connector, settings):
    """A long session with too little energy failed (the old incident rule wanted it short too);
    a refused tag between failures neither makes nor breaks the run."""
    from workorders.alerts.conditions import failed_session_q
    from workorders.models import Incident
    from workorders.services import incidents

    settings.FAILED_SESSIONS_THRESHOLD = 3
    later = T0 + timedelta(hours=3)
    stops = [
        session(connector, 0, energy_wh=100),  # 30 minutes, 100 Wh: low energy
        session(connector, 40, energy_wh=0, tag_status="Invalid"),
        session(connector, 60, energy_wh=20_000, reason="PowerLoss"),
    ]
    assert [incidents.session_stopped_handle(session_id=s.pk, now=later) for s in stops] == [None] * 3

    last = session(connector, 120, energy_wh=0, reason="Other")

    assert set(ChargingSession.objects.filter(failed_session_q()).values_list("pk", flat=True)) == {
        s.pk for s in ChargingSession.objects.exclude(id_tag_status="Invalid")
    }
    assert incidents.session_stopped_handle(session_id=last.pk, now=later) is not None
    assert Incident.objects.get().kind == "failed_sessions"
