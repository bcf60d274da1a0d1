"""Uptime per port (23 CFR 680.116(b)) on hand-made histories with known answers.

Every figure here is worked out by hand from the history the test writes; the suite runs on
SQLite and PostgreSQL, and the same answers must come out of both.
"""

from datetime import UTC, date, datetime, time, timedelta

import pytest

from stations.models import (
    ChargingSession,
    ExclusionReason,
    ExclusionSource,
    ExclusionState,
    PortUptimeDay,
    StatusEvent,
    StatusEventSource,
    UptimeExclusionChange,
)
from stations.services import uptime_sources
from stations.uptime import exclusions, rollup
from stations.uptime.selectors import port_uptime, port_windows_live, uptime_period_report, uptime_report
from tests.factories import ConnectorFactory, StationFactory

pytestmark = pytest.mark.django_db

D1 = datetime(2026, 10, 5, tzinfo=UTC)  # a Monday, long past "now" below
NOW = datetime(2026, 11, 30, 12, tzinfo=UTC)


def at(day: datetime, hhmm: str) -> datetime:
    hours, minutes = hhmm.split(":")
    return day + timedelta(hours=int(hours), minutes=int(minutes))


def status(connector, when, value, source=StatusEventSource.CHARGER):
    return StatusEvent.objects.create(
        station=connector.station, connector=connector, status=value, source=source, received_at=when
    )


def session(connector, start, *, energy_wh, minutes=20, tag_status="Accepted", reason="Local"):
    return ChargingSession.objects.create(
        station=connector.station, connector=connector, id_tag="TAG", id_tag_status=tag_status, meter_start=0,
        meter_stop=energy_wh, energy_wh=energy_wh, start_at=start, stop_at=start + timedelta(minutes=minutes),
        stop_reason=reason, start_fingerprint=f"fp-{connector.pk}-{start.isoformat()}",
    )  # fmt: skip


@pytest.fixture
def port():
    station = StationFactory(identity="UP-1")
    ConnectorFactory(station=station, connector_id=0)
    connector = ConnectorFactory(station=station, connector_id=1)
    status(connector, D1 - timedelta(days=3), "Available")
    return connector


def day_figures(connector, day_start):
    return port_uptime(connector=connector, start=day_start, end=day_start + timedelta(days=1), now=NOW)


def test_a_fault_inside_a_day_is_its_outage(port):
    status(port, at(D1, "10:00"), "Faulted")
    status(port, at(D1, "12:30"), "Available")

    figures = day_figures(port, D1)

    assert figures.minutes == 1440
    assert figures.outage_minutes == 150
    assert figures.uptime_percent == pytest.approx((1440 - 150) / 1440 * 100)
    assert figures.below_target  # 89.6 % < 97 %


def test_every_up_status_counts_as_up_and_unavailable_as_down(port):
    for hhmm, value in [("01:00", "Preparing"), ("02:00", "Charging"), ("03:00", "SuspendedEV"),
                        ("04:00", "SuspendedEVSE"), ("05:00", "Finishing"), ("06:00", "Reserved"),
                        ("07:00", "Unavailable"), ("07:45", "Available")]:  # fmt: skip
        status(port, at(D1, hhmm), value)

    assert day_figures(port, D1).outage_minutes == 45


def test_an_outage_across_midnight_is_split_between_the_days(port):
    status(port, at(D1, "23:00"), "Faulted")
    status(port, at(D1, "24:00") + timedelta(hours=1), "Available")

    assert day_figures(port, D1).outage_minutes == 60
    assert day_figures(port, D1 + timedelta(days=1)).outage_minutes == 60
    both = port_uptime(connector=port, start=D1, end=D1 + timedelta(days=2), now=NOW)
    assert (both.minutes, both.outage_minutes) == (2880, 120)


def test_a_period_that_begins_inside_an_outage_counts_only_its_own_part(port):
    status(port, at(D1, "08:00"), "Faulted")
    status(port, at(D1, "11:00"), "Available")

    figures = port_uptime(connector=port, start=at(D1, "10:00"), end=at(D1, "12:00"), now=NOW)

    assert (figures.minutes, figures.outage_minutes) == (120, 60)


def test_an_outage_still_open_runs_to_the_end_of_the_period_and_never_past_now(port):
    status(port, at(D1, "22:00"), "Faulted")

    assert day_figures(port, D1).outage_minutes == 120
    live = port_uptime(connector=port, start=D1, end=D1 + timedelta(days=1), now=at(D1, "23:00"))
    assert (live.minutes, live.outage_minutes) == (23 * 60, 60)


def test_a_station_gone_silent_whose_last_status_was_available_is_down_until_it_speaks(port):
    status(port, at(D1, "10:00"), "Offline", source=StatusEventSource.OFFLINE_SWEEP)
    status(port, at(D1, "11:15"), "Available", source=StatusEventSource.RECONNECT)

    assert day_figures(port, D1).outage_minutes == 75


def test_connector_zero_faulted_takes_every_port_down(port):
    zero = port.station.connectors.get(connector_id=0)
    other = ConnectorFactory(station=port.station, connector_id=2)
    status(other, D1 - timedelta(days=1), "Available")
    status(zero, at(D1, "10:00"), "Faulted")
    status(zero, at(D1, "11:00"), "Available")
    status(other, at(D1, "10:30"), "Faulted")  # its own fault outlasts the station's
    status(other, at(D1, "11:30"), "Available")

    assert day_figures(port, D1).outage_minutes == 60
    assert day_figures(other, D1).outage_minutes == 90
    # Connector 0 is not a port of its own.
    assert zero.pk not in port_windows_live(start=D1, end=D1 + timedelta(days=1))


def test_a_port_added_mid_period_counts_from_its_first_report(port):
    added = ConnectorFactory(station=port.station, connector_id=2)
    status(added, at(D1, "12:00"), "Available")
    status(added, at(D1, "18:00"), "Faulted")

    figures = day_figures(added, D1)

    assert (figures.minutes, figures.outage_minutes) == (720, 360)
    assert day_figures(added, D1 - timedelta(days=1)).minutes == 0


def test_a_run_of_failed_sessions_is_down_from_its_first_failure_until_a_success(port):
    for hhmm in ("10:00", "10:20", "10:40"):
        session(port, at(D1, hhmm), energy_wh=100)
    session(port, at(D1, "12:00"), energy_wh=20_000)

    assert day_figures(port, D1).outage_minutes == 120


def test_fewer_failures_than_the_threshold_are_not_an_outage(port):
    session(port, at(D1, "10:00"), energy_wh=100)
    session(port, at(D1, "10:20"), energy_wh=0, reason="EmergencyStop")
    session(port, at(D1, "11:00"), energy_wh=20_000)
    session(port, at(D1, "12:00"), energy_wh=100)

    assert day_figures(port, D1).outage_minutes == 0


def test_refused_tags_neither_make_nor_break_a_run(port):
    session(port, at(D1, "10:00"), energy_wh=100)
    session(port, at(D1, "10:10"), energy_wh=0, tag_status="Invalid")
    session(port, at(D1, "10:20"), energy_wh=100)
    session(port, at(D1, "10:30"), energy_wh=100)

    # Down from 10:00 to the end of the day: no success came.
    assert day_figures(port, D1).outage_minutes == 14 * 60


def test_a_failing_run_and_a_fault_that_overlap_count_once(port):
    for hhmm in ("10:00", "10:20", "10:40"):
        session(port, at(D1, hhmm), energy_wh=100)
    status(port, at(D1, "11:00"), "Faulted")
    status(port, at(D1, "13:00"), "Available")
    session(port, at(D1, "13:30"), energy_wh=20_000)

    assert day_figures(port, D1).outage_minutes == 210


def test_overlapping_exclusions_count_once_and_never_exclude_up_time(port, actors):
    status(port, at(D1, "10:00"), "Faulted")
    status(port, at(D1, "14:00"), "Available")
    station_wide = exclusions.uptime_exclusion_record(
        reason=ExclusionReason.UTILITY_POWER_LOSS, starts_at=at(D1, "09:00"), ends_at=at(D1, "11:00"),
        station=port.station, by=actors.operator, notes="grid down",
    )  # fmt: skip
    exclusions.uptime_exclusion_record(
        reason=ExclusionReason.VANDALISM, starts_at=at(D1, "10:30"), ends_at=at(D1, "12:00"), connector=port,
        by=actors.operator,
    )  # fmt: skip
    exclusions.uptime_exclusion_record(
        reason=ExclusionReason.NATURAL_DISASTER, starts_at=at(D1, "15:00"), ends_at=at(D1, "16:00"),
        site=port.station.site, by=actors.operator,
    )  # fmt: skip

    figures = day_figures(port, D1)

    assert (figures.outage_minutes, figures.excluded_minutes) == (240, 120)
    assert figures.uptime_percent == pytest.approx((1440 - 120) / 1440 * 100)
    change = UptimeExclusionChange.objects.get(exclusion=station_wide)
    assert (change.to_state, change.by, change.note) == (ExclusionState.CONFIRMED, actors.operator, "grid down")


def test_a_proposed_exclusion_counts_only_once_confirmed(port, actors):
    status(port, at(D1, "10:00"), "Faulted")
    status(port, at(D1, "11:00"), "Available")

    def visits(start, end):
        yield uptime_sources.ExclusionProposal(
            key="test:visit-1", reason=ExclusionReason.SCHEDULED_MAINTENANCE, source=ExclusionSource.WORK_ORDER,
            starts_at=at(D1, "09:30"), ends_at=at(D1, "10:30"), station_id=port.station_id,
        )  # fmt: skip

    uptime_sources.register_exclusion_source(visits)
    try:
        assert exclusions.uptime_proposals_collect(start=D1, end=D1 + timedelta(days=1)) == 1
        assert exclusions.uptime_proposals_collect(start=D1, end=D1 + timedelta(days=1)) == 0
    finally:
        uptime_sources._sources.remove(visits)
    assert day_figures(port, D1).excluded_minutes == 0

    proposal = exclusions.UptimeExclusion.objects.get()
    exclusions.uptime_exclusion_confirm(exclusion=proposal, by=actors.operator, note="checked the visit")

    assert day_figures(port, D1).excluded_minutes == 30
    with pytest.raises(exclusions.ExclusionError):
        exclusions.uptime_exclusion_reject(exclusion=proposal, by=actors.operator)
    moves = list(proposal.changes.values_list("from_state", "to_state", "by"))
    assert moves == [("", "proposed", None), ("proposed", "confirmed", actors.operator.pk)]


def test_confirming_an_exclusion_recomputes_its_days_after_commit(port, actors, django_capture_on_commit_callbacks):
    status(port, at(D1, "10:00"), "Faulted")
    status(port, at(D1, "12:00"), "Available")
    rollup.uptime_rollup_days(first=D1.date(), last=D1.date(), now=NOW)
    assert PortUptimeDay.objects.get(connector=port, day=D1.date()).excluded_s == 0

    with django_capture_on_commit_callbacks(execute=True):
        exclusions.uptime_exclusion_record(
            reason=ExclusionReason.VEHICLE_FAULT, starts_at=at(D1, "10:00"), ends_at=at(D1, "10:45"), connector=port,
            by=actors.operator,
        )  # fmt: skip

    assert PortUptimeDay.objects.get(connector=port, day=D1.date()).excluded_s == 45 * 60


def test_roll_ups_equal_live_computation_for_the_same_days(port, actors):
    other = ConnectorFactory(station=port.station, connector_id=2)
    zero = port.station.connectors.get(connector_id=0)
    status(other, at(D1, "07:00"), "Available")  # added on day one
    status(port, at(D1, "23:10"), "Faulted")
    status(port, at(D1, "24:00") + timedelta(hours=2), "Available")
    status(zero, at(D1, "24:00") + timedelta(hours=30), "Unavailable")
    status(zero, at(D1, "24:00") + timedelta(hours=31, minutes=7), "Available")
    status(other, at(D1, "24:00") + timedelta(hours=40), "Offline", source=StatusEventSource.OFFLINE_SWEEP)
    for hours in (50, 51, 52):
        session(other, D1 + timedelta(hours=hours), energy_wh=10)
    exclusions.uptime_exclusion_record(
        reason=ExclusionReason.UTILITY_POWER_LOSS, starts_at=at(D1, "23:30"), ends_at=D1 + timedelta(hours=25),
        station=port.station, by=actors.operator,
    )  # fmt: skip
    start, end = D1, D1 + timedelta(days=4)
    live = port_windows_live(start=start, end=end)

    rollup.uptime_rollup_days(first=start.date(), last=(end - timedelta(days=1)).date(), now=NOW)
    rows = PortUptimeDay.objects.filter(day__gte=start.date(), day__lt=end.date())
    summed = {c: [0, 0, 0] for c in live}
    for row in rows:
        figures = (row.period_s, row.outage_s, row.excluded_s)
        summed[row.connector_id] = [a + b for a, b in zip(summed[row.connector_id], figures, strict=True)]

    assert summed == {c: [round(f.period_s), round(f.outage_s), round(f.excluded_s)] for c, f in live.items()}
    assert summed[port.pk] == [4 * 86400, (170 + 67) * 60, 90 * 60]  # 23:10–02:00, then connector 0
    # The report over those days reads the roll-ups and gives the same.
    report = {row.key["port_id"]: row for row in uptime_report(start=start, end=end, now=NOW)}
    assert {c: round(r.figures.outage_s) for c, r in report.items()} == {c: v[1] for c, v in summed.items()}


def test_a_report_mixes_roll_ups_with_live_days_and_partial_days(port):
    status(port, at(D1, "10:00"), "Faulted")
    status(port, at(D1, "24:00") + timedelta(hours=10), "Available")
    rollup.uptime_rollup_days(first=D1.date(), last=D1.date(), now=NOW)  # day two stays live

    report = uptime_report(start=at(D1, "06:00"), end=at(D1, "24:00") + timedelta(hours=12), now=NOW)

    assert [(r.key["station"], r.figures.minutes, r.figures.outage_minutes) for r in report] == [
        ("UP-1", 30 * 60, 24 * 60)
    ]


def test_reports_group_ports_by_station_site_model_and_network(port):
    second = StationFactory(identity="UP-2", site=port.station.site, vendor="Other", model="Z9")
    far = ConnectorFactory(station=second, connector_id=1)
    status(far, D1 - timedelta(days=1), "Available")
    status(far, at(D1, "00:00"), "Faulted")
    status(far, at(D1, "12:00"), "Available")
    day = {"start": D1, "end": D1 + timedelta(days=1), "now": NOW}

    by_station = {r.key["station"]: r for r in uptime_report(group_by="station", **day)}
    by_model = {(r.key["vendor"], r.key["model"]): r for r in uptime_report(group_by="model", **day)}
    network = uptime_report(group_by="network", **day)

    assert by_station["UP-1"].uptime_percent == 100 and by_station["UP-2"].uptime_percent == 50
    assert by_model[("Other", "Z9")].ports_below_target == 1
    assert [(n.ports, n.ports_below_target, n.uptime_percent) for n in network] == [(2, 1, 75)]
    [site] = uptime_report(group_by="site", **day)
    assert site.key["site"] == port.station.site.name and site.figures.minutes == 2880


def test_the_trailing_twelve_months_add_up_the_monthly_minutes(port):
    status(port, datetime(2026, 1, 10, tzinfo=UTC), "Faulted")
    status(port, datetime(2026, 1, 10, 6, tzinfo=UTC), "Available")
    status(port, datetime(2026, 7, 31, 23, tzinfo=UTC), "Faulted")
    status(port, datetime(2026, 8, 1, 1, tzinfo=UTC), "Available")

    [year] = uptime_period_report(period="trailing_12_months", on=date(2026, 11, 15), now=NOW)
    [quarter] = uptime_period_report(period="quarter", on=date(2026, 8, 15), now=NOW)

    # The twelve whole months before November; the port counts from its first event, 2026-01-10.
    assert year.figures.outage_minutes == 360 + 120
    first_seen = datetime(2026, 1, 10, tzinfo=UTC)
    assert year.figures.minutes == (datetime(2026, 11, 1, tzinfo=UTC) - first_seen).total_seconds() / 60
    # The third quarter holds the whole July-to-August fault.
    assert (quarter.figures.minutes, quarter.figures.outage_minutes) == (92 * 1440, 120)


def test_the_rollup_command_recomputes_the_days_it_is_given(port):
    from django.core.management import call_command

    status(port, at(D1, "10:00"), "Faulted")
    status(port, at(D1, "10:30"), "Available")

    call_command("uptime_rollup", "--from", D1.date().isoformat(), "--to", (D1 + timedelta(days=1)).date().isoformat())

    rows = PortUptimeDay.objects.filter(connector=port).order_by("day")
    assert [(r.day, r.period_s, r.outage_s) for r in rows] == [
        (D1.date(), 86400, 1800),
        ((D1 + timedelta(days=1)).date(), 86400, 0),
    ]


# --- API -------------------------------------------------------------------------------


@pytest.fixture
def api(actors):
    from rest_framework.test import APIClient

    client = APIClient()
    client.force_authenticate(actors.operator)
    return client


def test_the_api_gives_each_ports_uptime_over_a_period(port, api):
    status(port, at(D1, "10:00"), "Faulted")
    status(port, at(D1, "10:36"), "Available")

    answer = api.get("/api/uptime/", {"station": "UP-1", "start": "2026-10-05T00:00:00Z", "end": "2026-10-06T00:00Z"})

    assert answer.status_code == 200, answer.content
    assert answer.json()["ports"] == [
        {
            "connector_id": 1, "minutes_in_period": 1440.0, "outage_minutes": 36.0, "excluded_minutes": 0.0,
            "uptime_percent": pytest.approx(97.5), "below_target": False,
        }
    ]  # fmt: skip


@pytest.mark.parametrize(
    ("query", "field"),
    [
        ({"station": "UP-1", "start": "2026-10-06T00:00Z", "end": "2026-10-05T00:00Z"}, "end"),
        ({"station": "UP-1", "start": "2025-01-01T00:00Z", "end": "2026-02-05T00:01Z"}, "end"),
        ({"station": "UP-1", "start": "yesterday", "end": "2026-10-05T00:00Z"}, "start"),
        ({"station": "NOPE", "start": "2026-10-04T00:00Z", "end": "2026-10-05T00:00Z"}, "station"),
        ({"start": "2026-10-04T00:00Z", "end": "2026-10-05T00:00Z"}, "station"),
    ],
)
def test_the_api_refuses_a_bad_period_or_station_saying_what_is_wrong(port, api, query, field):
    answer = api.get("/api/uptime/", query)

    assert answer.status_code == 400
    assert field in answer.json()


def test_only_those_who_may_see_uptime_get_it(port, actors):
    from rest_framework.test import APIClient

    client = APIClient()
    client.force_authenticate(actors.outsider)
    query = {"station": "UP-1", "start": "2026-10-04T00:00Z", "end": "2026-10-05T00:00Z"}
    assert client.get("/api/uptime/", query).status_code == 403
    assert client.get("/api/uptime/exclusions/").status_code == 403


def test_an_operator_records_an_exclusion_through_the_api_and_it_counts(port, api, actors):
    status(port, at(D1, "10:00"), "Faulted")
    status(port, at(D1, "11:00"), "Available")

    answer = api.post(
        "/api/uptime/exclusions/",
        {"reason": "vandalism", "starts_at": "2026-10-05T10:30:00Z", "ends_at": "2026-10-05T12:00:00Z",
         "station": "UP-1", "connector_id": 1, "notes": "cable cut"},
        format="json",
    )  # fmt: skip

    assert answer.status_code == 201, answer.content
    body = answer.json()
    assert (body["state"], body["connector_id"], body["created_by"]) == ("confirmed", 1, actors.operator.username)
    assert [(c["to_state"], c["by"], c["via"]) for c in body["changes"]] == [("confirmed", "olga", "api")]
    assert day_figures(port, D1).excluded_minutes == 30


def test_a_proposal_is_confirmed_or_rejected_once_through_the_api(port, api):
    proposal, _ = exclusions.uptime_exclusion_propose(
        proposal=uptime_sources.ExclusionProposal(
            key="test:window", reason=ExclusionReason.SCHEDULED_MAINTENANCE,
            source=ExclusionSource.MAINTENANCE_WINDOW, starts_at=at(D1, "01:00"), ends_at=at(D1, "02:00"),
            station_id=port.station_id,
        )
    )  # fmt: skip

    listed = api.get("/api/uptime/exclusions/", {"state": "proposed"}).json()
    first = api.post(f"/api/uptime/exclusions/{proposal.pk}/confirm/", {"note": "seen it"}, format="json")
    again = api.post(f"/api/uptime/exclusions/{proposal.pk}/reject/", {}, format="json")

    assert [row["id"] for row in listed["results"]] == [proposal.pk]
    assert first.status_code == 200 and first.json()["state"] == "confirmed"
    assert again.status_code == 400 and "cannot become rejected" in str(again.json())


@pytest.mark.parametrize(
    "body",
    [
        {"reason": "vandalism", "starts_at": "2026-10-05T12:00Z", "ends_at": "2026-10-05T10:00Z", "station": "UP-1"},
        {"reason": "vandalism", "starts_at": "2026-10-05T10:00Z", "ends_at": "2026-10-05T12:00Z"},
        {"reason": "aliens", "starts_at": "2026-10-05T10:00Z", "ends_at": "2026-10-05T12:00Z", "station": "UP-1"},
        {"reason": "vandalism", "starts_at": "2026-10-05T10:00Z", "ends_at": "2026-10-05T12:00Z", "station": "UP-1",
         "connector_id": 7},
        {"reason": "vandalism", "starts_at": "2026-10-05T10:00Z", "ends_at": [None, None], "station": "UP-1"},
        {"reason": "vandalism", "starts_at": "2026-10-05T10:00Z", "ends_at": "9999-12-31T23:59:59-23:59",
         "station": "UP-1"},
    ],
)  # fmt: skip
def test_a_malformed_exclusion_is_refused(port, api, body):
    assert api.post("/api/uptime/exclusions/", body, format="json").status_code == 400


def test_a_preventive_visit_is_proposed_as_scheduled_maintenance_once(port):
    from workorders.models import WorkOrder, WorkOrderKind

    order = WorkOrder.objects.create(
        kind=WorkOrderKind.PREVENTIVE, station=port.station, title="Yearly check", sla_due_at=D1,
        on_site_started_at=at(D1, "09:00"), on_site_ended_at=at(D1, "11:00"),
    )  # fmt: skip
    WorkOrder.objects.create(
        kind=WorkOrderKind.CORRECTIVE, station=port.station, title="Fix", sla_due_at=D1,
        on_site_started_at=at(D1, "12:00"), on_site_ended_at=at(D1, "13:00"),
    )  # fmt: skip

    assert exclusions.uptime_proposals_collect(start=D1, end=D1 + timedelta(days=1)) == 1
    assert exclusions.uptime_proposals_collect(start=D1, end=D1 + timedelta(days=1)) == 0
    proposal = exclusions.UptimeExclusion.objects.get()
    assert (proposal.state, proposal.source, proposal.reason, proposal.station_id, proposal.source_key) == (
        ExclusionState.PROPOSED, ExclusionSource.WORK_ORDER, ExclusionReason.SCHEDULED_MAINTENANCE,
        port.station_id, f"workorder:{order.pk}",
    )  # fmt: skip


def test_the_nightly_task_rolls_up_the_last_finished_days():
    from django.utils import timezone

    from stations import tasks
    from stations.models import UptimeRollupDay

    today = timezone.now().replace(hour=0, minute=0, second=0, microsecond=0)
    station = StationFactory(identity="UP-N")
    connector = ConnectorFactory(station=station, connector_id=1)
    status(connector, today - timedelta(days=5), "Available")
    status(connector, today - timedelta(hours=2), "Faulted")  # yesterday, 22:00 onwards

    tasks.uptime_rollup_recent.delay()

    days = sorted(UptimeRollupDay.objects.values_list("day", flat=True))
    assert days == [(today - timedelta(days=n)).date() for n in (3, 2, 1)]
    yesterday = PortUptimeDay.objects.get(connector=connector, day=(today - timedelta(days=1)).date())
    assert (yesterday.period_s, yesterday.outage_s) == (86400, 7200)


def test_ports_below_target_are_counted_over_the_whole_period(port):
    status(port, datetime(2026, 1, 10, tzinfo=UTC), "Available")
    status(port, datetime(2026, 2, 1, tzinfo=UTC), "Faulted")
    status(port, datetime(2026, 2, 3, tzinfo=UTC), "Available")

    [february] = uptime_period_report(period="month", on=date(2026, 2, 15), group_by="network", now=NOW)
    [first_quarter] = uptime_period_report(period="quarter", on=date(2026, 2, 15), group_by="network", now=NOW)

    assert (round(february.uptime_percent, 2), february.ports_below_target) == (92.86, 1)  # 2 of 28 days
    assert (round(first_quarter.uptime_percent, 2), first_quarter.ports_below_target) == (97.53, 0)  # 2 of 81 days


def test_today_is_read_from_its_roll_up_so_far_and_the_history_since(port):
    from stations.uptime.selectors import network_uptime

    status(port, at(D1, "03:00"), "Faulted")
    status(port, at(D1, "05:00"), "Available")
    status(port, at(D1, "07:00"), "Faulted")
    now = at(D1, "08:00")

    rollup.uptime_rollup_today(now=at(D1, "06:00"))  # the beat's last run
    found = port_uptime(connector=port, start=D1, end=D1 + timedelta(days=1), now=now)
    [week] = network_uptime(periods=[(D1, D1 + timedelta(days=7))], now=now)

    assert (found.period_s, found.outage_s) == (8 * 3600, 3 * 3600)
    assert (week.period_s, week.outage_s) == (8 * 3600, 3 * 3600)
    assert PortUptimeDay.objects.get(connector=port).outage_s == 2 * 3600  # 03:00–05:00 only


# --- Maintenance windows and opening hours as sources of proposals ------------------------


def test_a_maintenance_window_is_proposed_once_and_counts_once_confirmed(port, actors):
    status(port, at(D1, "10:00"), "Faulted")
    status(port, at(D1, "12:00"), "Available")
    window = exclusions.maintenance_window_schedule(
        title="Swap the cable", starts_at=at(D1, "09:30"), ends_at=at(D1, "11:00"), station=port.station,
        by=actors.operator,
    )  # fmt: skip

    assert exclusions.uptime_proposals_collect(start=D1, end=D1 + timedelta(days=1)) == 1
    assert exclusions.uptime_proposals_collect(start=D1, end=D1 + timedelta(days=1)) == 0
    assert day_figures(port, D1).excluded_minutes == 0
    proposal = exclusions.UptimeExclusion.objects.get()
    assert (proposal.source, proposal.reason, proposal.source_key, proposal.notes) == (
        ExclusionSource.MAINTENANCE_WINDOW, ExclusionReason.SCHEDULED_MAINTENANCE, f"maintenance:{window.pk}",
        "Swap the cable",
    )  # fmt: skip

    exclusions.uptime_exclusion_confirm(exclusion=proposal, by=actors.operator, note="crew log checked")

    assert (day_figures(port, D1).outage_minutes, day_figures(port, D1).excluded_minutes) == (120, 60)
    assert list(proposal.changes.values_list("to_state", "by", "note")) == [
        ("proposed", None, "Swap the cable"), ("confirmed", actors.operator.pk, "crew log checked"),
    ]  # fmt: skip


def test_time_outside_the_opening_hours_is_proposed_per_closed_spell_on_the_sites_clock(port, actors):
    from stations.models import SiteOpeningHours

    # Amsterdam (UTC+2 in October); open Mondays 07:00–22:00, closed on Tuesdays.
    site = port.station.site
    SiteOpeningHours.objects.create(site=site, weekday=1, opens="07:00", closes="22:00")
    status(port, at(D1, "19:00"), "Faulted")  # 21:00 local
    status(port, at(D1, "23:00"), "Available")  # 01:00 local, Tuesday

    assert exclusions.uptime_proposals_collect(start=D1, end=D1 + timedelta(days=1)) == 3
    assert exclusions.uptime_proposals_collect(start=D1, end=D1 + timedelta(days=1)) == 0
    spells = list(exclusions.UptimeExclusion.objects.order_by("starts_at").values_list("starts_at", "ends_at"))
    assert spells == [
        (at(D1, "00:00") - timedelta(hours=2), at(D1, "05:00")),  # Monday 00:00–07:00 local
        (at(D1, "20:00"), at(D1, "22:00")),  # Monday 22:00–24:00 local
        (at(D1, "22:00"), at(D1, "22:00") + timedelta(days=1)),  # all of Tuesday
    ]
    for proposal in exclusions.UptimeExclusion.objects.all():
        assert (proposal.site_id, proposal.reason) == (site.pk, ExclusionReason.OUTSIDE_OPERATING_HOURS)
        exclusions.uptime_exclusion_confirm(exclusion=proposal, by=actors.operator)

    # 19:00–23:00 UTC down; 20:00–23:00 UTC the site was closed.
    assert (day_figures(port, D1).outage_minutes, day_figures(port, D1).excluded_minutes) == (240, 180)


def test_closed_spells_follow_the_clock_change():
    from zoneinfo import ZoneInfo

    from stations.uptime.sources import closed_spells

    amsterdam = ZoneInfo("Europe/Amsterdam")
    # Sunday 25 October 2026 has 25 hours in Amsterdam: open 07:00–22:00 leaves 10 hours closed.
    spells = closed_spells(date(2026, 10, 25), amsterdam, [(time(7), time(22))])

    assert spells == [
        (datetime(2026, 10, 24, 22, tzinfo=UTC), datetime(2026, 10, 25, 6, tzinfo=UTC)),
        (datetime(2026, 10, 25, 21, tzinfo=UTC), datetime(2026, 10, 25, 23, tzinfo=UTC)),
    ]
    assert closed_spells(date(2026, 10, 26), amsterdam, [(time(0), time(0))]) == []


def test_the_nightly_roll_up_proposes_from_maintenance_windows(actors):
    from django.utils import timezone

    from stations import tasks

    yesterday = timezone.now().replace(hour=0, minute=0, second=0, microsecond=0) - timedelta(days=1)
    station = StationFactory(identity="UP-W")
    ConnectorFactory(station=station, connector_id=1)
    exclusions.maintenance_window_schedule(
        title="Firmware", starts_at=yesterday + timedelta(hours=2), ends_at=yesterday + timedelta(hours=3),
        station=station, by=actors.operator,
    )  # fmt: skip

    tasks.uptime_rollup_recent.delay()

    assert exclusions.UptimeExclusion.objects.get().state == ExclusionState.PROPOSED


def test_a_window_needs_a_title_one_scope_and_a_length(port, actors):
    for kwargs in (
        {"title": " ", "starts_at": D1, "ends_at": at(D1, "01:00"), "station": port.station},
        {"title": "x", "starts_at": D1, "ends_at": D1, "station": port.station},
        {"title": "x", "starts_at": D1, "ends_at": at(D1, "01:00")},
        {"title": "x", "starts_at": D1, "ends_at": at(D1, "01:00"), "station": port.station, "connector": port},
    ):
        with pytest.raises(exclusions.ExclusionError):
            exclusions.maintenance_window_schedule(by=actors.operator, **kwargs)


# --- The operators' page ------------------------------------------------------------------


def test_operators_confirm_picked_proposals_and_schedule_windows_on_their_page(
    port, actors, client, django_assert_num_queries
):
    from django.urls import reverse

    from stations.models import MaintenanceWindow

    for n in range(3):
        exclusions.uptime_exclusion_propose(
            proposal=uptime_sources.ExclusionProposal(
                key=f"test:{n}", reason=ExclusionReason.SCHEDULED_MAINTENANCE,
                source=ExclusionSource.MAINTENANCE_WINDOW, starts_at=at(D1, f"0{n}:00"), ends_at=at(D1, f"0{n}:30"),
                station_id=port.station_id,
            )
        )  # fmt: skip
    url = reverse("uptime-exclusions")
    client.force_login(actors.dispatcher)
    assert client.get(url).status_code == 403
    client.force_login(actors.operator)
    client.get(url)
    with django_assert_num_queries(10):  # session, user, permissions, its reads; not per proposal
        page = client.get(url)
    assert page.status_code == 200 and 'id="proposed-total">3<' in page.content.decode()
    first, second, third = exclusions.UptimeExclusion.objects.order_by("starts_at")

    client.post(url, {"action": "confirm", "exclusion": [first.pk, second.pk], "note": "seen the log"})
    client.post(url, {"action": "reject", "exclusion": [third.pk, first.pk]})

    states = dict(exclusions.UptimeExclusion.objects.values_list("pk", "state"))
    assert states == {first.pk: "confirmed", second.pk: "confirmed", third.pk: "rejected"}
    assert list(first.changes.values_list("to_state", "by", "via", "note"))[-1] == (
        "confirmed", actors.operator.pk, "portal", "seen the log",
    )  # fmt: skip
    answer = client.post(
        url,
        {"action": "schedule", "title": "New RCD", "starts_at": "2026-12-10T08:00", "ends_at": "2026-12-10T10:00",
         "station": "UP-1", "connector_id": "1"},
    )  # fmt: skip
    assert answer.status_code == 302
    window = MaintenanceWindow.objects.get()
    assert (window.connector, window.station, window.created_by, window.starts_at) == (
        port, None, actors.operator, datetime(2026, 12, 10, 8, tzinfo=UTC),
    )  # fmt: skip
    refused = client.post(url, {"action": "schedule", "title": "x", "starts_at": "2026-12-10T08:00",
                                "ends_at": "2026-12-10T07:00", "station": "NOPE"})  # fmt: skip
    assert refused.status_code == 400 and MaintenanceWindow.objects.count() == 1
