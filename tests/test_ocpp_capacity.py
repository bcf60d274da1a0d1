"""What keeps one server holding thousands of chargers: what a routine frame
costs, handshakes admitted under a cap, several processes on one port."""

import asyncio
import random
import re
import time
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta

import psutil
import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from websockets.exceptions import InvalidStatus

from stations.models import ChargingStation, Connector, MeterFlag, MeterSample, RemoteCommand, StatusEvent
from stations.ocpp.admission import HandshakeGate
from stations.services import charging, commands, registration, status
from tests.conftest import run_server
from tests.factories import STATION_PASSWORD, StationFactory
from tests.helpers import eventually
from tests.ocpp_client import BackgroundCharger, open_charger

T0 = datetime(2026, 11, 30, 10, 0, tzinfo=UTC)


def _meter_value(at: datetime, wh: int) -> list[dict]:
    return [
        {
            "timestamp": at.isoformat(),
            "sampledValue": [
                {"value": str(wh), "measurand": "Energy.Active.Import.Register", "unit": "Wh"},
                {"value": "7200", "measurand": "Power.Active.Import", "unit": "W"},
            ],
        }
    ]


@contextmanager
def statements(expected: int):
    """The SQL statements run, transaction control aside (SQLite shows its BEGIN and COMMIT)."""
    with CaptureQueriesContext(connection) as captured:
        yield
    run = [q["sql"] for q in captured.captured_queries if not _CONTROL.match(q["sql"])]
    assert len(run) == expected, "\n".join(run)


_CONTROL = re.compile(r"^(BEGIN|COMMIT|ROLLBACK|SAVEPOINT|RELEASE SAVEPOINT)", re.IGNORECASE)


@pytest.fixture
def connected(transactional_db):
    """A station as the server sees it right after the handshake: its memo read once."""
    StationFactory(identity="CAP-1")
    result = registration.station_authenticate(identity="CAP-1", password=STATION_PASSWORD)
    registration.station_boot(station_id=result.station_id, vendor="Acme", model="X1", memo=result.memo)
    return result


def _record(connected, session, *, minute: int, wh: int, memo) -> None:
    """A MeterValues of the session's energy register, `minute` minutes after T0."""
    charging.meter_values_record(
        station_id=connected.station_id,
        connector_id=1,
        transaction_id=session.pk,
        meter_value=_meter_value(T0 + timedelta(minutes=minute), wh),
        memo=memo,
    )


def _start(connected, *, meter_start: int = 1000):
    return charging.session_start(
        station_id=connected.station_id,
        connector_id=1,
        id_tag="TAG",
        meter_start=meter_start,
        timestamp=T0,
        memo=connected.memo,
    ).session


def test_routine_meter_values_cost_one_insert(connected):
    session = _start(connected)
    memo = connected.memo
    with statements(1):
        _record(connected, session, minute=1, wh=1500, memo=memo)
    with statements(1):
        _record(connected, session, minute=2, wh=2000, memo=memo)
    assert MeterSample.objects.filter(session=session).count() == 4


def test_register_running_backwards_is_caught_from_the_memo(connected):
    session = _start(connected)
    for minute, wh in ((1, 5000), (2, 4000)):
        _record(connected, session, minute=minute, wh=wh, memo=connected.memo)
    session.refresh_from_db()
    assert session.meter_flags == [MeterFlag.REGISTER_BACKWARDS]


def test_a_late_reading_is_checked_against_the_one_stored_before_it(connected):
    """Readings replayed out of order: the memo's newest reading says nothing about
    an older one, so the check reads the reading stored just before it."""
    session = _start(connected)
    for minute, wh in ((1, 2000), (10, 9000)):
        _record(connected, session, minute=minute, wh=wh, memo=connected.memo)
    # Later than minute 1 and above it: fine, although below minute 10's value.
    _record(connected, session, minute=5, wh=5000, memo=connected.memo)
    session.refresh_from_db()
    assert session.meter_flags == []
    # Below the reading stored before it: the register ran backwards.
    _record(connected, session, minute=3, wh=1500, memo=connected.memo)
    session.refresh_from_db()
    assert session.meter_flags == [MeterFlag.REGISTER_BACKWARDS]


def test_a_new_connection_reads_what_the_memo_of_the_old_one_knew(connected):
    session = _start(connected)
    _record(connected, session, minute=1, wh=5000, memo=connected.memo)
    again = registration.station_authenticate(identity="CAP-1", password=STATION_PASSWORD)
    _record(connected, session, minute=2, wh=4000, memo=again.memo)
    session.refresh_from_db()
    assert session.meter_flags == [MeterFlag.REGISTER_BACKWARDS]


def test_status_report_with_a_known_connector_reads_nothing(connected):
    def report(at: datetime, state: str) -> None:
        status.connector_status_report(
            station_id=connected.station_id,
            connector_id=1,
            status=state,
            error_code="NoError",
            timestamp=at,
            memo=connected.memo,
        )

    report(T0, "Available")  # connector 1 is new: created and remembered
    with CaptureQueriesContext(connection) as captured:
        report(T0 + timedelta(minutes=1), "Charging")
    # (The listeners of other apps, run inline here, read what they need after the commit.)
    own = [q["sql"] for q in captured.captured_queries if '"stations_connector"' in q["sql"].split(" WHERE ")[0]]
    assert [sql.split(" ", 2)[:2] for sql in own if not sql.startswith("SELECT")] == [
        ["UPDATE", '"stations_connector"']
    ]
    assert not [sql for sql in own if sql.startswith("SELECT") and 'FROM "stations_connector"' in sql]
    connector = Connector.objects.get(station_id=connected.station_id, connector_id=1)
    assert (connector.status, connector.status_since) == ("Charging", T0 + timedelta(minutes=1))
    assert StatusEvent.objects.filter(connector=connector).count() == 2


def test_boot_of_a_known_charger_reads_its_registration_and_writes_once(connected):
    with statements(2):
        result = registration.station_boot(
            station_id=connected.station_id, vendor="Acme", model="X1", memo=connected.memo
        )
    assert result.status == "Accepted"
    # A new model is still recorded.
    registration.station_boot(station_id=connected.station_id, vendor="Acme", model="X2", memo=connected.memo)
    station = ChargingStation.objects.select_related("station_model").get(pk=connected.station_id)
    assert (station.model, station.station_model.model) == ("X2", "X2")


def test_handshake_gate_admits_a_few_queues_some_and_refuses_the_rest(settings):
    settings.OCPP_MAX_HANDSHAKES = 2
    settings.OCPP_HANDSHAKE_QUEUE = 1
    settings.OCPP_HANDSHAKE_QUEUE_WAIT_S = 0.2
    gate = HandshakeGate()

    async def scenario():
        release = asyncio.Event()
        outcomes: list[str] = []

        async def handshake(name: str):
            async with gate.admitted() as admitted:
                outcomes.append(f"{name}:{'in' if admitted else 'busy'}")
                if admitted:
                    await release.wait()

        first = [asyncio.create_task(handshake(n)) for n in ("a", "b")]
        await asyncio.sleep(0)
        queued = asyncio.create_task(handshake("c"))  # waits for a slot
        await asyncio.sleep(0)
        await handshake("d")  # the queue is full: refused at once
        await queued  # no slot within the wait: refused too
        release.set()
        await asyncio.gather(*first)
        await handshake("e")  # slots free again
        return outcomes

    assert asyncio.run(scenario()) == ["a:in", "b:in", "d:busy", "c:busy", "e:in"]


async def _charger_until_in(url: str, identity: str, refusals: list[int]):
    """Connect as a charger does: told busy, come back after a short random pause."""
    deadline = time.monotonic() + 40
    while True:
        try:
            return await open_charger(url, identity, STATION_PASSWORD, open_timeout=15).__aenter__()
        except InvalidStatus as exc:
            refusals.append(exc.response.status_code)
            assert exc.response.headers["Retry-After"] == "1"
            assert time.monotonic() < deadline, f"{identity} never got in"
            await asyncio.sleep(random.uniform(0.05, 1.0))


@pytest.mark.usefixtures("live_db")
def test_handshakes_beyond_capacity_are_told_to_retry_and_all_get_in():
    identities = [f"STORM-{n}" for n in range(40)]
    for identity in identities:
        StationFactory(identity=identity)
    refusals: list[int] = []
    with run_server(OCPP_MAX_HANDSHAKES="1", OCPP_HANDSHAKE_QUEUE="0", OCPP_BUSY_RETRY_AFTER_S="1") as server:

        async def storm():
            sockets = await asyncio.gather(*(_charger_until_in(server.url, i, refusals) for i in identities))
            for ws in sockets:
                await ws.close()
            return len(sockets)

        held = asyncio.run(storm())

    assert held == len(identities)
    assert refusals and set(refusals) == {503}
    assert ChargingStation.objects.filter(identity__in=identities, connected_at__isnull=False).count() == 40


def _server_processes(pid: int) -> list[psutil.Process]:
    children = psutil.Process(pid).children()
    return [child for child in children if "resource_tracker" not in " ".join(child.cmdline())]


@pytest.mark.usefixtures("live_db")
def test_processes_sharing_one_port_each_reach_the_chargers_the_other_holds():
    stations = [StationFactory(identity=f"WP-{n}") for n in range(6)]
    with run_server(WEB_CONCURRENCY="2") as server:
        assert eventually(lambda: len(_server_processes(server.process.pid)) == 2, timeout=20)
        chargers = [BackgroundCharger(server.url, s.identity, STATION_PASSWORD) for s in stations]
        for charger in chargers:
            charger.__enter__()
        try:
            outcomes = [
                commands.command_request(
                    station=station,
                    action="TriggerMessage",
                    payload={"requestedMessage": "Heartbeat"},
                    by=None,
                    via="test",
                    wait=True,
                    timeout_s=60,
                ).status
                for station in stations
            ]
        finally:
            for charger in chargers:
                charger.__exit__(None, None, None)
    assert outcomes == ["accepted"] * len(stations)
    assert RemoteCommand.objects.filter(status="accepted").count() == len(stations)
