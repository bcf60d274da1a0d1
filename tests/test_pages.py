"""Operator pages: who may see them, what they show, and a fixed number of queries."""

import html

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from stations.models import ChargingSession, FrameLog, RemoteCommand
from tests.factories import ConnectorFactory, SiteFactory, StationFactory


def _network(count: int):
    site = SiteFactory()
    stations = StationFactory.create_batch(count, site=site)
    for station in stations:
        ConnectorFactory(station=station, connector_id=0)
        ConnectorFactory(station=station, connector_id=1, status="Faulted", error_code="GroundFailure")
        ConnectorFactory(station=station, connector_id=2, status="Charging")
    return stations


def _queries(client, url) -> list[str]:
    with CaptureQueriesContext(connection) as ctx:
        response = client.get(url)
    assert response.status_code == 200
    return [q["sql"] for q in ctx.captured_queries]


@pytest.mark.django_db
def test_station_list_query_count_does_not_grow_with_stations(client, actors):
    client.force_login(actors.operator)
    url = reverse("stations:station-list")
    _network(1)
    with_one = _queries(client, url)
    _network(199)
    with_many = _queries(client, url)
    assert len(with_one) == len(with_many), "\n".join(with_many)


def _layout_queries(client) -> int:
    """What a page of the layout with nothing of its own costs the same user: the 404 page."""
    with CaptureQueriesContext(connection) as ctx:
        assert client.get("/no-such-page/").status_code == 404
    return len(ctx.captured_queries)


# The station list's own queries, on top of the layout's: the count, the page of stations with
# their sites, the page's connectors, and the sites of the filter form. The live rows fragment
# has no filter form.
STATION_LIST_QUERIES = 4
STATION_ROWS_QUERIES = 3


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("name", "params", "own"),
    [
        ("stations:station-list", "", STATION_LIST_QUERIES),
        ("stations:station-list", "?page=2", STATION_LIST_QUERIES),
        ("stations:station-list", "?q=cp-", STATION_LIST_QUERIES),
        ("stations:station-list", "?status=Faulted", STATION_LIST_QUERIES),
        ("stations:station-list", "?faulted=yes&connected=no", STATION_LIST_QUERIES),
        ("stations:station-rows", "?status=Charging&page=2", STATION_ROWS_QUERIES),
    ],
)
def test_station_list_and_its_live_rows_run_a_pinned_number_of_queries_for_any_number_of_stations(
    client, actors, django_assert_num_queries, name, params, own
):
    client.force_login(actors.operator)
    url = reverse(name) + params
    _network(52 if "page=2" in params else 2)  # a page of two rows
    _queries(client, url)  # the user's permissions are cached after the first request
    layout = _layout_queries(client)
    with django_assert_num_queries(layout + own):
        client.get(url)
    _network(150)  # a full page
    with django_assert_num_queries(layout + own):
        response = client.get(url)
    assert response.status_code == 200
    assert len(response.context["stations"]) == 50


@pytest.mark.django_db
@pytest.mark.parametrize("params", ["", "?connected=no", "?status=Faulted", "?faulted=yes", "?q=cp-"])
def test_station_list_reads_one_page_without_grouping_the_connectors_of_the_network(client, actors, params):
    # A count or a page that joins every station's connectors and groups or de-duplicates
    # them costs hundreds of milliseconds at 10,000 stations.
    client.force_login(actors.operator)
    _network(3)
    station_reads = [
        sql for sql in _queries(client, reverse("stations:station-list") + params) if "stations_chargingstation" in sql
    ]
    assert len(station_reads) == 2, station_reads  # the count and the page
    for sql in station_reads:
        assert "GROUP BY" not in sql and "DISTINCT" not in sql, sql
        assert 'JOIN "stations_connector"' not in sql, sql


@pytest.mark.django_db
def test_station_with_several_connectors_in_the_status_is_listed_and_counted_once(client, actors):
    client.force_login(actors.operator)
    twice = StationFactory(identity="TWO-FAULTS")
    ConnectorFactory(station=twice, connector_id=1, status="Faulted")
    ConnectorFactory(station=twice, connector_id=2, status="Faulted")
    ConnectorFactory(station=StationFactory(identity="FINE"), connector_id=1, status="Available")

    for params in ({"status": "Faulted"}, {"faulted": "yes"}):
        response = client.get(reverse("stations:station-list"), params)
        assert [s.identity for s in response.context["stations"]] == ["TWO-FAULTS"]
        assert response.context["paginator"].count == 1


@pytest.mark.django_db
def test_station_detail_query_count_does_not_grow_with_frames_or_sessions(client, actors):
    client.force_login(actors.operator)
    station = _network(1)[0]
    connector = station.connectors.get(connector_id=1)
    url = reverse("stations:station-detail", args=[station.identity])

    def add(n):
        now = timezone.now()
        FrameLog.objects.bulk_create(
            FrameLog(station=station, direction="in", raw=f'[2,"{i}","Heartbeat",{{}}]', created_at=now)
            for i in range(n)
        )
        ChargingSession.objects.bulk_create(
            ChargingSession(
                station=station, connector=connector, id_tag="A", id_tag_status="Accepted", meter_start=0,
                start_at=now, start_fingerprint=f"{n}-{i}",
            )
            for i in range(n)
        )  # fmt: skip

    add(1)
    with_one = _queries(client, url)
    add(300)
    with_many = _queries(client, url)
    assert len(with_one) == len(with_many), "\n".join(with_many)


@pytest.mark.django_db
def test_station_list_shows_status_errors_and_paginates(client, actors):
    client.force_login(actors.operator)
    _network(60)
    response = client.get(reverse("stations:station-list"))
    body = response.content.decode()
    assert response.context["paginator"].count == 60
    assert len(response.context["stations"]) == 50
    assert "GroundFailure" in body and "1: Faulted" in body
    assert "Page 1 of 2" in body


@pytest.mark.django_db
def test_station_list_filters(client, actors):
    client.force_login(actors.operator)
    faulted = StationFactory(identity="F-1")
    ConnectorFactory(station=faulted, connector_id=1, status="Faulted")
    fine = StationFactory(identity="OK-1", connected=True)
    ConnectorFactory(station=fine, connector_id=1, status="Available")

    def identities(**params):
        response = client.get(reverse("stations:station-list"), params)
        return [s.identity for s in response.context["stations"]]

    assert identities(status="Faulted") == ["F-1"]
    assert identities(connected="yes") == ["OK-1"]
    assert identities(q="ok-") == ["OK-1"]


@pytest.mark.django_db
def test_station_list_site_filter_keeps_the_chosen_site_selected(client, actors):
    client.force_login(actors.operator)
    harbour, quay = SiteFactory(name="Harbour"), SiteFactory(name="Quay")
    StationFactory(identity="AT-HARBOUR", site=harbour)
    StationFactory(identity="AT-QUAY", site=quay)

    response = client.get(reverse("stations:station-list"), {"site": quay.pk})

    body = response.content.decode()
    assert [s.identity for s in response.context["stations"]] == ["AT-QUAY"]
    assert f'<option value="{quay.pk}" selected>Quay</option>' in body
    assert f'<option value="{harbour.pk}">Harbour</option>' in body


@pytest.mark.django_db
def test_station_detail_shows_connectors_sessions_and_frames(client, actors):
    client.force_login(actors.operator)
    station = _network(1)[0]
    FrameLog.objects.create(
        station=station, direction="in", action="Heartbeat", raw='[2,"zz1","Heartbeat",{}]', created_at=timezone.now()
    )
    response = client.get(reverse("stations:station-detail", args=[station.identity]))
    body = response.content.decode()
    assert station.identity in body
    assert "GroundFailure" in body
    assert "zz1" in body


@pytest.mark.django_db
def test_anonymous_user_is_sent_to_login(client):
    response = client.get(reverse("stations:station-list"))
    assert response.status_code == 302
    assert response.url.startswith(reverse("login"))


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("actor", "status"),
    [("operator", 200), ("dispatcher", 200), ("support", 200), ("technician", 403), ("outsider", 403)],
)
def test_station_list_access_by_role(client, actors, actor, status):
    StationFactory()
    client.force_login(getattr(actors, actor))
    assert client.get(reverse("stations:station-list")).status_code == status


@pytest.mark.django_db
def test_support_agent_sees_the_station_but_not_its_frames(client, actors):
    station = StationFactory()
    FrameLog.objects.create(
        station=station, direction="in", raw='[2,"secret-frame","Heartbeat",{}]', created_at=timezone.now()
    )
    client.force_login(actors.support)
    body = client.get(reverse("stations:station-detail", args=[station.identity])).content.decode()
    assert station.identity in body
    assert "secret-frame" not in body


@pytest.mark.django_db
def test_unknown_station_detail_is_404(client, actors):
    client.force_login(actors.operator)
    assert client.get(reverse("stations:station-detail", args=["NOPE"])).status_code == 404


@pytest.mark.django_db
def test_admin_frame_log_is_read_only(client, actors):
    actors.operator.is_superuser = True
    actors.operator.save()
    client.force_login(actors.operator)
    frame = FrameLog.objects.create(station=StationFactory(), direction="in", raw="[]", created_at=timezone.now())
    assert client.get(reverse("admin:stations_framelog_changelist")).status_code == 200
    assert client.get(reverse("admin:stations_framelog_add")).status_code == 403
    response = client.post(reverse("admin:stations_framelog_delete", args=[frame.pk]), {"post": "yes"})
    assert response.status_code == 403
    assert FrameLog.objects.filter(pk=frame.pk).exists()


@pytest.mark.django_db
def test_station_page_offers_only_the_commands_the_role_may_send(client, actors):
    station = StationFactory()
    ConnectorFactory(station=station, connector_id=1)
    url = reverse("stations:station-detail", args=[station.identity])

    client.force_login(actors.operator)
    operator_actions = client.get(url).context["command_actions"]
    client.force_login(actors.support)
    support_actions = client.get(url).context["command_actions"]

    assert "Reset" in operator_actions and "UpdateFirmware" in operator_actions
    assert sorted(support_actions) == [
        "RemoteStartTransaction",
        "RemoteStopTransaction",
        "TriggerMessage",
        "UnlockConnector",
    ]


@pytest.mark.django_db
def test_disruptive_command_from_the_page_needs_confirmation(client, actors):
    station = StationFactory()
    client.force_login(actors.operator)
    url = reverse("stations:station-command", args=[station.identity])

    refused = client.post(url, {"action": "Reset", "payload": '{"type": "Hard"}'})
    sent = client.post(url, {"action": "Reset", "payload": '{"type": "Hard"}', "confirm": "on"})

    assert refused.status_code == 400
    assert sent.status_code == 302
    command = RemoteCommand.objects.get()
    assert (command.action, command.requested_by, command.status) == ("Reset", actors.operator, "offline")


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("form", "message"),
    [
        ({"action": "Reset", "payload": "{not json", "confirm": "on"}, "not valid JSON"),
        ({"action": "Reset", "payload": '{"type": "Gentle"}', "confirm": "on"}, "'Gentle' is not one of"),
        ({"action": "Reset", "payload": "{}", "confirm": "on"}, "'type' is a required property"),
    ],
)
def test_bad_command_from_the_page_is_a_clear_400(client, actors, form, message):
    station = StationFactory()
    client.force_login(actors.operator)
    response = client.post(reverse("stations:station-command", args=[station.identity]), form)
    assert response.status_code == 400
    assert message in html.unescape(response.content.decode())  # shown on the station page, as text
    assert not RemoteCommand.objects.exists()


@pytest.mark.django_db
def test_support_agent_cannot_reset_from_the_page(client, actors):
    station = StationFactory()
    client.force_login(actors.support)
    response = client.post(
        reverse("stations:station-command", args=[station.identity]),
        {"action": "Reset", "payload": '{"type": "Soft"}', "confirm": "on"},
    )
    assert response.status_code == 403
    assert not RemoteCommand.objects.exists()


@pytest.mark.django_db
def test_landing_page_sends_each_role_to_its_work(client, actors):
    from workorders.models import Technician

    Technician.objects.create(user=actors.technician)
    expected = {
        "operator": "/dashboard/",
        "dispatcher": "/stations/",
        "support": "/stations/",
        "technician": "/workorders/my/",
    }
    for actor, url in expected.items():
        client.force_login(getattr(actors, actor))
        assert client.get("/").url == url, actor
    client.logout()
    assert client.get("/").url.startswith("/login/")
