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
