"""The operations dashboard and the analytics pages: who sees them, where each role
lands, the figures and the lists they link to, and a query count that does not
grow with the network."""

from datetime import timedelta

import pytest
from django.core.cache import cache
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from config import dashboard
from stations.models import ChargingSession, StatusEvent
from tests.factories import ConnectorFactory, IncidentFactory, SiteFactory, StationFactory
from workorders.alerts.models import Alert, AlertKind, AlertRule, AlertSeverity, AlertStatus
from workorders.models import IncidentStatus, WorkOrder, WorkOrderKind, WorkOrderStatus

# The pages' own queries, on top of what every page of the portal's layout costs
# (session, user, permissions, the navigation's figures).
# At most, with the history-wide figures read from the roll-ups and the live rest of today.
DASHBOARD_QUERIES = 45
# With the history-wide figures computed by the scheduler: the network now, work, alerts, faults,
# exclusions waiting for a decision.
DASHBOARD_WARM_QUERIES = 8
# The analytics page of the network and a site's page read uptime too (at most these).
ANALYTICS_QUERIES = 20
SITE_QUERIES = 22
# The analytics page of one site: its own reads only (which days are rolled up, then roll-ups
# and the live rest of each figure).
ANALYTICS_SITE_QUERIES = 11


@pytest.fixture(autouse=True)
def fresh_dashboard_figures():
    """Each test computes the dashboard's history-wide figures from its own data."""
    cache.delete(dashboard.HISTORY_FIGURES_KEY)
    yield
    cache.delete(dashboard.HISTORY_FIGURES_KEY)


def response_context_value(page: str, element_id: str) -> str:
    """The figure (class "n" or "value") inside the element with that id."""
    after = page.split(f'id="{element_id}"', 1)[1]
    return after.split('class="n">', 1)[1].split("<", 1)[0]


def layout_queries(client) -> int:
    """What a page of the layout with nothing of its own costs the same user: the 404 page."""
    with CaptureQueriesContext(connection) as captured:
        assert client.get("/no-such-page/").status_code == 404
    return len(captured)


def network(stations: int, *, site=None):
    """`stations` stations of two ports each on one site, each with a day of history, a
    session, and the first one with a fault incident and an overdue work order."""
    site = site or SiteFactory(name="Harbour")
    now = timezone.now()
    made = []
    for n in range(stations):
        station = StationFactory(site=site, model=f"M{n % 3}")
        for port in (1, 2):
            connector = ConnectorFactory(
                station=station, connector_id=port, status="Charging" if port == 1 else "Available"
            )
            for hours, status in ((30, "Available"), (5, "Charging"), (2, "Finishing"), (1, "Available")):
                StatusEvent.objects.create(
                    station=station, connector=connector, status=status, received_at=now - timedelta(hours=hours)
                )
            ChargingSession.objects.create(
                station=station,
                connector=connector,
                id_tag="T",
                id_tag_status="Accepted",
                meter_start=0,
                energy_wh=12_000,
                start_at=now - timedelta(hours=5),
                stop_at=now - timedelta(hours=2),
                start_fingerprint=f"{station.pk}-{port}",
            )
        made.append(station)
    return site, made


@pytest.fixture
def incident_and_order(db):
    incident = IncidentFactory(error_code="GroundFailure")
    WorkOrder.objects.create(
        kind=WorkOrderKind.CORRECTIVE,
        station=incident.station,
        connector=incident.connector,
        incident=incident,
        title="Replace the RCD",
        status=WorkOrderStatus.ASSIGNED,
        sla_due_at=timezone.now() - timedelta(hours=1),
    )
    return incident


# -- Who sees what, where each role lands ------------------------------------------


@pytest.mark.parametrize(
    ("who", "dashboard_status", "analytics_status"),
    [
        ("operator", 200, 200),
        ("dispatcher", 200, 200),
        ("support", 403, 200),
        ("technician", 403, 403),
        ("outsider", 403, 403),
    ],
)
def test_dashboard_is_for_operators_and_dispatchers_analytics_for_station_readers(
    client, actors, who, dashboard_status, analytics_status
):
    client.force_login(getattr(actors, who))

    assert client.get(reverse("dashboard")).status_code == dashboard_status
    assert client.get(reverse("dashboard-live")).status_code == dashboard_status
    assert client.get(reverse("analytics")).status_code == analytics_status
    site = SiteFactory()
    assert client.get(reverse("site-detail", args=[site.pk])).status_code == analytics_status


def test_anonymous_visitors_are_sent_to_log_in(client, db):
    response = client.get(reverse("dashboard"))

    assert response.status_code == 302
    assert reverse("login") in response["Location"]


def test_operators_land_on_the_dashboard_and_dispatchers_keep_the_station_list(client, actors):
    client.force_login(actors.operator)
    assert client.get("/")["Location"] == reverse("dashboard")
    client.force_login(actors.dispatcher)
    assert client.get("/")["Location"] == reverse("stations:station-list")


def test_navigation_offers_the_dashboard_only_to_those_who_may_open_it(client, actors):
    client.force_login(actors.support)
    page = client.get(reverse("stations:station-list")).content.decode()
    assert 'href="/dashboard/"' not in page
    assert 'href="/analytics/"' in page
    client.force_login(actors.dispatcher)
    assert 'href="/dashboard/"' in client.get(reverse("stations:station-list")).content.decode()


# -- Figures and links -----------------------------------------------------------------


def test_dashboard_counts_ports_incidents_and_orders_and_links_each_to_its_list(client, actors, incident_and_order):
    site, stations = network(2)
    offline = StationFactory(site=site, offline=True)
    ConnectorFactory(station=offline, connector_id=1, status="Available")
    client.force_login(actors.operator)

    page = client.get(reverse("dashboard")).content.decode()

    context_tiles = {t["key"]: t for t in dashboard.network_tiles(dashboard.usage.network_now())}
    # Two stations x two ports, the incident's station's port, and the offline one.
    assert context_tiles["charging"]["value"] == 2
    assert context_tiles["offline"]["value"] == 1
    assert 'id="now-offline" href="/stations/?status=Offline"' in page
    assert 'href="/stations/?status=Faulted"' in page
    assert 'href="/workorders/incidents/?status=open"' in page
    assert 'href="/workorders/?status=assigned"' in page
    assert 'id="sla-breached" href="/workorders/?sla_breached=true" class="bad">' in page
    assert response_context_value(page, "sla-breached") == "1"
    # The fault chart's bar leads to the incident board filtered to that code.
    assert "error_code=GroundFailure" in page
    assert 'id="uptime-network"' in page


def test_the_incident_board_behind_a_fault_bar_lists_that_codes_incidents(client, actors, incident_and_order):
    IncidentFactory(error_code="HighTemperature", status=IncidentStatus.CLOSED, closed_at=timezone.now())
    since = timezone.now() - dashboard.FAULT_WINDOW
    [point] = [p for p in dashboard.fault_points(dashboard.faults_by_error_code(since=since), since) if p["value"]][:1]
    client.force_login(actors.dispatcher)

    board = client.get(point["href"])

    assert board.status_code == 200
    assert [i.error_code for i in board.context["incidents"]] == ["GroundFailure"]


def test_dashboard_lists_open_alerts_by_severity_with_links_to_the_alert_list(client, actors):
    now = timezone.now()
    rule = AlertRule.objects.create(name="Offline", kind=AlertKind.STATION_OFFLINE, severity=AlertSeverity.CRITICAL)
    for n, status in enumerate([AlertStatus.FIRING, AlertStatus.ACKNOWLEDGED, AlertStatus.RESOLVED]):
        Alert.objects.create(
            rule=rule,
            kind=rule.kind,
            severity=AlertSeverity.CRITICAL,
            status=status,
            subject_key=f"station:{n}",
            subject_label=f"CP-{n}",
            summary=f"CP-{n} is offline",
            condition_since=now,
            fired_at=now - timedelta(minutes=n),
        )
    client.force_login(actors.dispatcher)

    page = client.get(reverse("dashboard")).content.decode()

    assert 'href="/workorders/alerts/?severity=critical" class="bad"' in page
    assert response_context_value(page, "alert-counts") == "2"
    assert "CP-0 is offline" in page and "CP-1 is offline" in page and "CP-2 is offline" not in page


def roll_up():
    """As the nightly task and the beat leave the roll-ups: the last days whole, today so far."""
    from stations.uptime import rollup

    today = timezone.now().date()
    rollup.uptime_rollup_days(first=today - timedelta(days=3), last=today - timedelta(days=1))
    rollup.uptime_rollup_today()


def test_history_wide_figures_are_the_roll_ups_plus_what_happened_since(client, actors):
    """Today is rolled up every few minutes; what starts after that is read from the history at
    once, what arrives late with an earlier time at the next roll-up."""
    site, [station] = network(1)
    roll_up()
    client.force_login(actors.operator)
    first = client.get(reverse("dashboard")).context
    connector = station.connectors.get(connector_id=1)
    ChargingSession.objects.create(
        station=station, connector=connector, id_tag="T", id_tag_status="Accepted", meter_start=0,
        start_at=timezone.now(), start_fingerprint="now",
    )  # fmt: skip
    network(1, site=site)  # two sessions five hours ago, written only now
    ConnectorFactory(station=station, connector_id=3, status="Faulted")

    cached = client.get(reverse("dashboard")).context
    dashboard.dashboard_figures_refresh()  # the scheduler, every few minutes
    again = client.get(reverse("dashboard")).context

    # The network's state now is read on every request; the history-wide figures as last computed.
    assert {t["key"]: t["value"] for t in cached["tiles"]}["faulted"] == 1
    assert (first["by_time"].total_sessions, cached["by_time"].total_sessions) == (2, 2)
    assert again["by_time"].total_sessions == 3
    assert again["figures_at"] > first["figures_at"]
    roll_up()
    dashboard.dashboard_figures_refresh()
    assert client.get(reverse("dashboard")).context["by_time"].total_sessions == 5


def test_work_summary_uses_the_sla_rule(actors, incident_and_order):
    work = dashboard.work_summary(now=timezone.now())

    assert work.orders[WorkOrderStatus.ASSIGNED] == 1
    assert work.breached == 1
    assert work.incidents[IncidentStatus.OPEN] == 1


def test_analytics_page_shows_the_network_then_a_site_with_its_stations(client, actors):
    site, stations = network(2)
    client.force_login(actors.dispatcher)

    whole = client.get(reverse("analytics"), {"period": "7d"})
    one = client.get(reverse("analytics"), {"period": "7d", "site": site.pk})

    assert whole.context["site_rows"][0].site == site
    assert reverse("site-detail", args=[site.pk]) in whole.content.decode()
    assert [row.station for row in one.context["station_rows"]] == sorted(stations, key=lambda s: s.identity)
    # Both ports of both stations were occupied at once for 4 hours.
    assert one.context["all_busy"][0].seconds == pytest.approx(4 * 3600, rel=0.01)
    assert one.context["by_time"].total_sessions == 4


def test_station_page_shows_its_ports_utilisation(client, actors):
    site, [station] = network(1)
    client.force_login(actors.operator)

    page = client.get(reverse("stations:station-detail", args=[station.identity])).content.decode()

    assert 'id="station-usage"' in page
    assert reverse("site-detail", args=[site.pk]) in page


def test_an_unknown_site_is_not_found(client, actors):
    client.force_login(actors.operator)

    assert client.get(reverse("site-detail", args=[987654])).status_code == 404


# -- Query counts ----------------------------------------------------------------------


def page_queries(client, url: str) -> int:
    with CaptureQueriesContext(connection) as captured:
        assert client.get(url).status_code == 200
    return len(captured)


def test_dashboard_query_count_does_not_grow_with_the_network(
    client, actors, incident_and_order, django_assert_num_queries
):
    site, _ = network(1)
    client.force_login(actors.operator)
    layout = layout_queries(client)
    cold_one = computing_page_queries(client)
    roll_up()
    rolled_one = computing_page_queries(client)
    with django_assert_num_queries(layout + DASHBOARD_WARM_QUERIES):
        assert client.get(reverse("dashboard")).status_code == 200

    network(12, site=site)
    SiteFactory()

    # The uptime reads belong to stations.uptime: a fixed number for the month and the weeks.
    assert computing_page_queries(client) == rolled_one <= layout + DASHBOARD_QUERIES
    assert cold_one <= layout + DASHBOARD_QUERIES
    roll_up()
    assert computing_page_queries(client) == rolled_one
    with django_assert_num_queries(layout + DASHBOARD_WARM_QUERIES):
        assert client.get(reverse("dashboard")).status_code == 200


def computing_page_queries(client) -> int:
    """The dashboard's queries when it computes the history-wide figures itself (a cold cache)."""
    cache.delete(dashboard.HISTORY_FIGURES_KEY)
    return page_queries(client, reverse("dashboard"))


def test_analytics_and_site_query_counts_do_not_grow_with_the_network(client, actors, django_assert_num_queries):
    site, _ = network(1)
    client.force_login(actors.dispatcher)
    layout = layout_queries(client)
    pages = [reverse("analytics"), reverse("site-detail", args=[site.pk])]
    one = [page_queries(client, url) for url in pages]
    with django_assert_num_queries(layout + ANALYTICS_SITE_QUERIES):
        assert client.get(reverse("analytics"), {"site": site.pk}).status_code == 200

    network(12, site=site)
    SiteFactory()

    assert [page_queries(client, url) for url in pages] == one
    assert one[0] <= layout + ANALYTICS_QUERIES and one[1] <= layout + SITE_QUERIES
    with django_assert_num_queries(layout + ANALYTICS_SITE_QUERIES):
        assert client.get(reverse("analytics"), {"site": site.pk}).status_code == 200
