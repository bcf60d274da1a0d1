"""Connection state: offline detection, dead sockets, frame retention."""

import asyncio
import base64
import socket
import time
from datetime import timedelta

import pytest
from django.utils import timezone

from stations import tasks
from stations.models import ChargingSession, ChargingStation, FrameLog, StatusEvent
from stations.services import frame_log, liveness
from tests.conftest import run_server
from tests.factories import STATION_PASSWORD, ConnectorFactory, StationFactory
from tests.helpers import eventually, orm
from tests.ocpp_client import Charger, open_charger


@pytest.mark.django_db
def test_silent_station_is_marked_offline_with_a_status_event_per_connector():
    now = timezone.now()
    station = StationFactory(heartbeat_interval=60, last_message_at=now - timedelta(seconds=181), connected=True)
    ConnectorFactory(station=station, connector_id=0)
    ConnectorFactory(station=station, connector_id=1, status="Charging")
    chatty = StationFactory(heartbeat_interval=60, last_message_at=now - timedelta(seconds=100))

    marked = tasks.mark_silent_stations_offline()

    assert marked == 1
    station.refresh_from_db()
    chatty.refresh_from_db()
    assert station.offline and not chatty.offline
    assert not station.connected  # its server process may have died holding the socket
    events = StatusEvent.objects.filter(station=station)
    assert sorted(events.values_list("connector__connector_id", "status", "source")) == [
        (0, "Offline", "offline"),
        (1, "Offline", "offline"),
    ]
    # The connector keeps what the charger last said; the outage is in the history.
    assert station.connectors.get(connector_id=1).status == "Charging"


@pytest.mark.django_db
def test_offline_sweep_is_idempotent():
    station = StationFactory(heartbeat_interval=30, last_message_at=timezone.now() - timedelta(minutes=10))
    ConnectorFactory(station=station)

    liveness.stations_mark_silent_offline()
    liveness.stations_mark_silent_offline()

    assert StatusEvent.objects.filter(station=station, status="Offline").count() == 1


@pytest.mark.django_db
def test_station_that_speaks_again_ends_its_outage():
    station = StationFactory(offline=True, last_message_at=timezone.now() - timedelta(hours=1))
    ConnectorFactory(station=station, connector_id=1, status="Available")

    liveness.stations_seen(station_ids=[station.pk])

    station.refresh_from_db()
    assert not station.offline
    event = StatusEvent.objects.get(station=station)
    assert (event.status, event.source) == ("Available", "reconnect")


@pytest.mark.django_db
def test_station_that_never_connected_is_not_counted_offline():
    StationFactory(last_message_at=None)
    assert liveness.stations_mark_silent_offline() == []


def _raw_handshake(port: int, identity: str) -> socket.socket:
    """Open a websocket by hand and then never read from it again, like a dead peer."""
    sock = socket.create_connection(("127.0.0.1", port), timeout=5)
    token = base64.b64encode(f"{identity}:{STATION_PASSWORD}".encode()).decode()
    sock.sendall(
        (
            f"GET /ocpp/{identity} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nUpgrade: websocket\r\n"
            "Connection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
            f"Sec-WebSocket-Version: 13\r\nSec-WebSocket-Protocol: ocpp1.6\r\nAuthorization: Basic {token}\r\n\r\n"
        ).encode()
    )
    assert b" 101 " in sock.recv(4096).split(b"\r\n", 1)[0]
    return sock


@pytest.mark.django_db(transaction=True)
def test_dead_connection_is_found_by_ping_and_closed(django_db_setup):
    station = StationFactory(identity="DEAD-1")
    with run_server(WS_PING="0.5") as server:
        sock = _raw_handshake(server.port, "DEAD-1")
        try:
            assert eventually(lambda: ChargingStation.objects.get(pk=station.pk).connected, timeout=5)
            # The peer never answers the server's pings: after the ping timeout the
            # server gives the close handshake its own 10 s before dropping it.
            assert eventually(lambda: not ChargingStation.objects.get(pk=station.pk).connected, timeout=20)
        finally:
            sock.close()


@pytest.mark.django_db(transaction=True)
def test_charger_that_answers_pings_stays_connected(ocpp_server):
    StationFactory(identity="ALIVE-1")

    async def scenario():
        async with open_charger(ocpp_server.url, "ALIVE-1", STATION_PASSWORD) as ws:
            await asyncio.sleep(1.5)
            connected = await orm(lambda: ChargingStation.objects.get(identity="ALIVE-1").connected)
            return connected, await Charger(ws).result("Heartbeat", {})

    connected, answer = asyncio.run(scenario())
    assert connected and "currentTime" in answer


@pytest.mark.django_db(transaction=True)
def test_every_frame_updates_last_seen(ocpp_server):
    station = StationFactory(identity="SEEN-1", last_message_at=timezone.now() - timedelta(hours=2), offline=True)
    ConnectorFactory(station=station, connector_id=1)
    before = station.last_message_at

    async def scenario():
        async with open_charger(ocpp_server.url, "SEEN-1", STATION_PASSWORD) as ws:
            await Charger(ws).result("Heartbeat", {})
            await asyncio.sleep(0.5)

    asyncio.run(scenario())
    station.refresh_from_db()
    assert station.last_message_at > before + timedelta(hours=1)
    assert not station.offline


@pytest.mark.django_db
def test_frame_log_pruning_keeps_recent_frames_and_all_history(settings):
    settings.FRAME_LOG_RETENTION_DAYS = 90
    now = timezone.now()
    station = StationFactory()
    connector = ConnectorFactory(station=station)
    old = FrameLog.objects.create(station=station, direction="in", raw="[]", created_at=now - timedelta(days=91))
    recent = FrameLog.objects.create(station=station, direction="in", raw="[]", created_at=now - timedelta(days=89))
    StatusEvent.objects.create(
        station=station, connector=connector, status="Available", received_at=now - timedelta(days=400)
    )
    ChargingSession.objects.create(
        station=station, connector=connector, id_tag="A", id_tag_status="Accepted", meter_start=0,
        start_at=now - timedelta(days=400), start_fingerprint="f",
    )  # fmt: skip

    deleted = frame_log.frames_prune(now=now, batch=1)

    assert deleted == 1
    assert list(FrameLog.objects.values_list("pk", flat=True)) == [recent.pk]
    assert not FrameLog.objects.filter(pk=old.pk).exists()
    assert StatusEvent.objects.count() == 1 and ChargingSession.objects.count() == 1


def test_flush_interval_bounds_frame_log_delay():
    """The batch writer hands rows over within its interval, without waiting for a full batch."""
    written: list[list] = []
    writer = frame_log.BatchWriter("test", written.append, lambda: 0.05)

    async def scenario():
        writer.add("a")
        writer.add("b")
        started = time.monotonic()
        while not written and time.monotonic() - started < 2:
            await asyncio.sleep(0.01)
        return time.monotonic() - started

    waited = asyncio.run(scenario())
    assert written == [["a", "b"]]
    assert waited < 1
