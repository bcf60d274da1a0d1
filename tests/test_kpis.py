"""Maintenance KPIs: each figure from hand-built incidents and work orders, who may see them, fixed query counts."""

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from rest_framework.test import APIClient

from tests.factories import ConnectorFactory, SiteFactory, StationFactory, UserFactory
from workorders.models import Incident, Technician, WorkOrder
from workorders.selectors import kpis

START = datetime(2025, 3, 1, tzinfo=UTC)
END = datetime(2025, 4, 1, tzinfo=UTC)
DAY = timedelta(days=1)
HOUR = timedelta(hours=1)


def connector(*, site=None, vendor="Acme", model="X1", connector_id=1):
    station = StationFactory(site=site or SiteFactory(), vendor=vendor, model=model)
    return ConnectorFactory(station=station, connector_id=connector_id)


def incident(conn, *, opened, closed=None, resolution="field", kind="fault") -> Incident:
    return Incident.objects.create(
        station=conn.station,
        connector=conn,
        kind=kind,
        status="closed" if closed else "open",
        resolution=resolution if closed else "",
        opened_at=opened,
        closed_at=closed,
    )


def work_order(conn, *, incident=None, verified=None, sla_due, technician=None, kind="corrective", status=None):
    return WorkOrder.objects.create(
        kind=kind,
        status=status or ("verified" if verified else "assigned"),
        station=conn.station,
        connector=conn,
        incident=incident,
        technician=technician,
        title="test order",
        sla_due_at=sla_due,
        verified_at=verified,
    )


def technician(username: str, **names) -> Technician:
    return Technician.objects.create(user=UserFactory(username=username, **names), skills=["ac", "dc"])


def report(group="site") -> kpis.KpiReport:
    return kpis.kpi_report(start=START, end=END, group=group)


def row(report_: kpis.KpiReport, label: str) -> kpis.KpiRow:
    return next(r for r in report_.rows if r.label == label)


# -- each KPI -------------------------------------------------------------------


@pytest.mark.django_db
def test_mttr_is_the_mean_open_to_close_time_of_incidents_closed_in_the_period():
    north, south = SiteFactory(name="North"), SiteFactory(name="South")
    incident(connector(site=north), opened=START + DAY, closed=START + DAY + 2 * HOUR)
    incident(connector(site=south), opened=START - 2 * HOUR, closed=START + 2 * HOUR)  # opened before: still counts
    incident(connector(site=south), opened=START - 3 * DAY, closed=START - DAY)  # closed before the period
    incident(connector(site=south), opened=END - HOUR, closed=END)  # closed at the end: not in [start, end)
    incident(connector(site=south), opened=START + DAY)  # still open

    result = report()

    assert (result.total.incidents_closed, result.total.mttr_hours) == (2, 3.0)
    assert row(result, "North").mttr_hours == 2.0
    assert row(result, "South").mttr_hours == 4.0


@pytest.mark.django_db
def test_remote_share_leaves_out_self_cleared_and_not_equipment_incidents():
    conn = connector()
    for n, resolution in enumerate(["remote", "remote", "field", "self_cleared", "not_equipment"]):
        incident(conn, opened=START + n * DAY, closed=START + n * DAY + HOUR, resolution=resolution)

    total = report().total

    assert total.incidents_closed == 5
    assert (total.truck_rolls_avoided, total.remote_base) == (2, 3)
    assert total.remote_share == pytest.approx(2 / 3)


@pytest.mark.django_db
def test_first_time_fix_rate_counts_orders_without_a_second_order_or_a_return_within_7_days():
    verified = START + 5 * DAY
    due = verified + DAY

    def fixed(**kwargs):
        conn = connector()
        fault = incident(conn, opened=verified - DAY, closed=verified)
        order = work_order(conn, incident=fault, verified=verified, sla_due=due, **kwargs)
        return conn, fault, order

    clean_conn, clean_fault, _ = fixed()
    work_order(clean_conn, incident=clean_fault, sla_due=due, status="cancelled")  # a cancelled duplicate
    second_conn, second_fault, _ = fixed()
    work_order(second_conn, incident=second_fault, sla_due=due)  # a second visit for the same incident
    came_back, _, _ = fixed()
    incident(came_back, opened=verified + 3 * DAY)  # the same fault again within 7 days
    other_kind, _, _ = fixed()
    incident(other_kind, opened=verified + 3 * DAY, kind="offline")  # another kind of incident: still a fix
    late_return, _, _ = fixed()
    incident(late_return, opened=verified + 8 * DAY)  # back after 7 days: still a first-time fix
    work_order(connector(), kind="preventive", verified=verified, sla_due=due)  # not corrective
    work_order(connector(), verified=START - DAY, sla_due=due)  # verified before the period

    total = report().total

    assert (total.first_time_fixes, total.corrective_verified) == (3, 5)
    assert total.first_time_fix_rate == 0.6


@pytest.mark.django_db
def test_first_time_fix_without_an_incident_fails_on_a_new_incident_of_any_kind():
    verified = START + 5 * DAY
    conn = connector()
    work_order(conn, verified=verified, sla_due=verified)
    incident(conn, opened=verified + DAY, kind="offline")

    assert report().total.first_time_fix_rate == 0.0


@pytest.mark.django_db
def test_sla_compliance_is_completed_orders_verified_by_their_due_time():
    conn = connector()
    at = START + 10 * DAY
    work_order(conn, verified=at, sla_due=at + HOUR)  # early
    work_order(conn, verified=at, sla_due=at, kind="preventive")  # exactly on time counts, any kind counts
    work_order(conn, verified=at, sla_due=at + HOUR, status="closed")  # closed after verification
    work_order(conn, verified=at, sla_due=at - HOUR)  # late
    work_order(conn, sla_due=at - HOUR)  # not completed
    work_order(conn, verified=END + HOUR, sla_due=END)  # completed after the period

    total = report().total

    assert (total.within_sla, total.completed_work_orders) == (3, 4)
    assert total.sla_compliance == 0.75


@pytest.mark.django_db
def test_repeat_fault_is_one_whose_connector_had_the_same_kind_closed_in_the_30_days_before():
    repeat = connector()
    incident(repeat, opened=START - 20 * DAY, closed=START - 3 * DAY)
    incident(repeat, opened=START + 5 * DAY)  # 8 days after the last one closed
    too_long_ago = connector()
    incident(too_long_ago, opened=START - 60 * DAY, closed=START - 40 * DAY)
    incident(too_long_ago, opened=START + 5 * DAY)  # 45 days after
    other_kind = connector()
    incident(other_kind, opened=START - 10 * DAY, closed=START - 5 * DAY, kind="offline")
    incident(other_kind, opened=START + 1 * DAY)
    incident(connector(), opened=START + 2 * DAY)  # a first fault

    total = report().total

    assert (total.repeat_faults, total.incidents_opened) == (1, 4)
    assert total.repeat_share == 0.25


# -- groupings ------------------------------------------------------------------


@pytest.mark.django_db
def test_by_technician_an_incident_belongs_to_its_latest_work_orders_technician():
    first, second = technician("first"), technician("second", first_name="Sue", last_name="Second")
    conn = connector()
    revisited = incident(conn, opened=START + DAY, closed=START + DAY + 6 * HOUR)
    work_order(conn, incident=revisited, technician=first, sla_due=END, status="cancelled")
    work_order(conn, incident=revisited, technician=second, verified=START + DAY + 6 * HOUR, sla_due=END)
    incident(connector(), opened=START + DAY, closed=START + DAY + HOUR, resolution="remote")

    result = report("technician")

    assert [r.label for r in result.rows] == ["Sue Second", "(no technician)"]
    sue, nobody = result.rows
    assert (sue.incidents_closed, sue.mttr_hours, sue.completed_work_orders) == (1, 6.0, 1)
    assert (nobody.incidents_closed, nobody.truck_rolls_avoided, nobody.completed_work_orders) == (1, 1, 0)
    assert result.total.incidents_closed == 2 and result.total.mttr_hours == 3.5


@pytest.mark.django_db
def test_by_model_groups_vendor_and_model_and_rows_add_up_to_the_total():
    for vendor, model, hours in [("Acme", "X1", 1), ("Acme", "X1", 3), ("Voltora", "Pulse 60", 10)]:
        conn = connector(vendor=vendor, model=model)
        incident(conn, opened=START, closed=START + hours * HOUR)

    result = report("model")

    assert [(r.key, r.label, r.incidents_closed, r.mttr_hours) for r in result.rows] == [
        ("Acme/X1", "Acme X1", 2, 2.0),
        ("Voltora/Pulse 60", "Voltora Pulse 60", 1, 10.0),
    ]
    assert result.total.incidents_closed == 3 and result.total.mttr_hours == pytest.approx(14 / 3)


@pytest.mark.django_db
def test_empty_period_has_no_rates():
    total = report().total
    assert (total.mttr_hours, total.remote_share, total.first_time_fix_rate, total.sla_compliance) == (None,) * 4


@pytest.mark.django_db
@pytest.mark.parametrize(("start", "end", "group"), [(START, END, "station"), (END, START, "site")])
def test_report_refuses_an_unknown_group_or_an_empty_period(start, end, group):
    with pytest.raises(ValueError):
        kpis.kpi_report(start=start, end=end, group=group)


# -- page -----------------------------------------------------------------------


def _network(count: int):
    """count sites, each with a station, an incident fixed by its own technician and a remote fix."""
    now = datetime.now(UTC)
    for n in range(count):
        site = SiteFactory()
        conn = connector(site=site, model=f"M{n % 5}")
        fixed = incident(conn, opened=now - 3 * DAY, closed=now - 2 * DAY)
        work_order(
            conn, incident=fixed, technician=technician(f"tech{n}-{site.pk}"), verified=now - 2 * DAY, sla_due=now
        )
        incident(conn, opened=now - DAY, closed=now - DAY + HOUR, resolution="remote")


@pytest.mark.django_db
@pytest.mark.parametrize("actor", ["dispatcher", "operator"])
def test_kpi_page_shows_every_grouping_to_dispatchers_and_operators(client, actors, actor):
    _network(2)
    client.force_login(getattr(actors, actor))

    response = client.get(reverse("kpis"))

    assert response.status_code == 200
    body = response.content.decode()
    assert "By site" in body and "By vendor / model" in body and "By technician" in body
    assert "(no technician)" in body and "Total" in body
    site_report = response.context["reports"][0][1]
    assert site_report.total.incidents_closed == 4 and site_report.total.truck_rolls_avoided == 2


@pytest.mark.django_db
@pytest.mark.parametrize("actor", ["technician", "support", "outsider"])
def test_kpi_page_is_forbidden_to_other_roles(client, actors, actor):
    client.force_login(getattr(actors, actor))
    assert client.get(reverse("kpis")).status_code == 403


@pytest.mark.django_db
def test_kpi_page_sends_anonymous_visitors_to_the_login_page(client):
    response = client.get(reverse("kpis"))
    assert response.status_code == 302 and response.url.startswith(reverse("login"))


@pytest.mark.django_db
def test_kpi_page_defaults_to_the_last_30_days(client, actors):
    client.force_login(actors.dispatcher)

    context = client.get(reverse("kpis")).context

    assert context["end"] - context["start"] == timedelta(days=30)
    assert context["end"] > datetime.now(UTC) >= context["end"] - DAY


@pytest.mark.django_db
def test_kpi_page_period_includes_the_to_day(client, actors):
    client.force_login(actors.dispatcher)
    incident(
        connector(site=SiteFactory(time_zone="UTC")), opened=START, closed=datetime(2025, 3, 31, 23, 0, tzinfo=UTC)
    )

    context = client.get(reverse("kpis"), {"start": "2025-03-01", "end": "2025-03-31"}).context

    assert (context["start"], context["end"]) == (START, END)
    assert context["reports"][0][1].total.incidents_closed == 1


@pytest.mark.django_db
def test_kpi_page_counts_days_in_the_sites_time_zone_and_names_it(client, actors):
    client.force_login(actors.dispatcher)
    amsterdam = ZoneInfo("Europe/Amsterdam")
    site = SiteFactory(time_zone="Europe/Amsterdam")
    # 23:30 on 31 March in Amsterdam is 21:30 UTC: inside March there, and counted.
    incident(connector(site=site), opened=START, closed=datetime(2025, 3, 31, 21, 30, tzinfo=UTC))
    incident(connector(site=site), opened=START, closed=datetime(2025, 3, 31, 22, 30, tzinfo=UTC))

    response = client.get(reverse("kpis"), {"start": "2025-03-01", "end": "2025-03-31"})

    context = response.context
    assert context["start"] == datetime(2025, 3, 1, tzinfo=amsterdam)
    assert context["end"] == datetime(2025, 4, 1, tzinfo=amsterdam)
    assert context["reports"][0][1].total.incidents_closed == 1
    assert "1 Mar 2025, 00:00 CET" in response.content.decode()


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("params", "message"),
    [
        ({"start": "2025-13-01", "end": "2025-03-31"}, "Enter a valid date"),
        ({"start": "2025-04-02", "end": "2025-04-01"}, "must not be after"),
    ],
)
def test_kpi_page_explains_a_bad_period(client, actors, params, message):
    client.force_login(actors.dispatcher)

    response = client.get(reverse("kpis"), params)

    assert response.status_code == 400 and response.context["reports"] == []
    assert message in response.content.decode()


@pytest.mark.django_db
def test_kpi_page_query_count_does_not_grow_with_incidents(client, actors):
    client.force_login(actors.dispatcher)
    url = reverse("kpis")

    def queries() -> list[str]:
        with CaptureQueriesContext(connection) as ctx:
            response = client.get(url)
        assert response.status_code == 200
        return [q["sql"] for q in ctx.captured_queries]

    _network(1)
    with_one = queries()
    _network(39)
    with_forty = queries()
    assert len(with_one) == len(with_forty), "\n".join(with_forty)
    # Session, user, permissions (2), the report's time zone, two or three per grouping, roles.
    assert len(with_forty) <= 13, "\n".join(with_forty)


# -- API ------------------------------------------------------------------------


@pytest.fixture
def api():
    return APIClient()


@pytest.mark.django_db
def test_api_returns_the_report_of_the_chosen_grouping(api, actors):
    conn = connector(site=SiteFactory(name="Harbour"))
    incident(conn, opened=START, closed=START + 2 * HOUR, resolution="remote")
    api.force_authenticate(actors.dispatcher)

    body = api.get("/api/kpis/", {"start": "2025-03-01", "end": "2025-04-01", "group": "site"}).json()

    assert (body["start"], body["end"], body["group"]) == (
        "2025-03-01T00:00:00+00:00",
        "2025-04-01T00:00:00+00:00",
        "site",
    )
    [harbour] = body["rows"]
    assert (harbour["label"], harbour["mttr_hours"], harbour["remote_share"]) == ("Harbour", 2.0, 1.0)
    assert body["total"]["truck_rolls_avoided"] == 1


@pytest.mark.django_db
def test_api_takes_date_times_with_an_offset(api, actors):
    api.force_authenticate(actors.operator)

    body = api.get("/api/kpis/?start=2025-03-01T00:00:00+01:00&end=2025-03-02T00:00:00%2B01:00&group=technician")

    assert body.status_code == 200
    assert body.json()["start"] == "2025-03-01T00:00:00+01:00" and body.json()["group"] == "technician"


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("params", "field", "message"),
    [
        ({"start": "yesterday"}, "start", "is not a date (YYYY-MM-DD) or an ISO 8601 date-time"),
        ({"start": "2025-02-30", "end": "2025-03-01"}, "start", "is not a date"),
        ({"start": "2025-03-02", "end": "2025-03-01"}, "end", "must be after start"),
        ({"group": "station"}, "group", "is not a valid choice"),
    ],
)
def test_api_refuses_bad_parameters_with_a_clear_message(api, actors, params, field, message):
    api.force_authenticate(actors.dispatcher)

    response = api.get("/api/kpis/", params)

    assert response.status_code == 400
    assert message in response.json()[field][0]


@pytest.mark.django_db
@pytest.mark.parametrize(("actor", "status"), [("technician", 403), ("support", 403), ("outsider", 403)])
def test_api_is_for_dispatchers_and_operators_only(api, actors, actor, status):
    api.force_authenticate(getattr(actors, actor))
    assert api.get("/api/kpis/").status_code == status


@pytest.mark.django_db
def test_anonymous_api_request_for_kpis_is_refused(api):
    assert api.get("/api/kpis/").status_code in (401, 403)
