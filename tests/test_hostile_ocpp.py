"""Hostile chargers: frames and connections that once broke the OCPP endpoint.

Each case is driven through a real server process and a real websocket. Most
run on one server with short limits (HOSTILE_ENV); the default frame size
limit is checked on the suite's shared server.
"""

import asyncio
import json
import time
from datetime import timedelta
from decimal import Decimal

import pytest
from django.utils import timezone
from websockets.exceptions import ConnectionClosed, InvalidStatus

from stations.models import (
    ChargingSession,
    ChargingStation,
    CommandStatus,
    Connector,
    FrameLog,
    MeterFlag,
    MeterSample,
    StatusEvent,
)
from stations.services import commands
from tests.conftest import run_server
from tests.factories import STATION_PASSWORD, StationFactory
from tests.helpers import eventually
from tests.ocpp_client import Charger, open_charger
from tests.ocpp_fuzzing import unsafe_for_storage

pytestmark = pytest.mark.usefixtures("live_db")

HANDSHAKE_TIMEOUT_S = 1
BOOT_TIMEOUT_S = 1
MAX_FRAME_BYTES = 16384
FAILURES_BEFORE_THROTTLE = 5
THROTTLE_INTERVAL_S = 0.1
# How long past a deadline the server may take to act on it.
MARGIN_S = 4

HOSTILE_ENV = {
    "OCPP_HANDSHAKE_TIMEOUT_S": str(HANDSHAKE_TIMEOUT_S),
    "OCPP_BOOT_TIMEOUT_S": str(BOOT_TIMEOUT_S),
    "OCPP_MAX_FRAME_BYTES": str(MAX_FRAME_BYTES),
    "OCPP_AUTH_FAILURES_BEFORE_THROTTLE": str(FAILURES_BEFORE_THROTTLE),
    "OCPP_AUTH_THROTTLE_INTERVAL_S": str(THROTTLE_INTERVAL_S),
    "OCPP_CLOCK_SKEW_TOLERANCE_S": "300",
    # Long enough that frames of several chargers share one frame-log batch.
    "FRAME_LOG_FLUSH_INTERVAL_S": "0.3",
}
NOW = "2026-01-05T10:00:00Z"


@pytest.fixture(scope="module")
def server(django_db_setup, django_db_blocker):
    with run_server(**HOSTILE_ENV) as running:
        yield running


def run(coro):
    return asyncio.run(coro)


def frame(unique_id: str, action: str, payload: dict) -> str:
    # ensure_ascii: a lone surrogate can only cross the wire as a JSON escape.
    return json.dumps([2, unique_id, action, payload])


def nested(depth: int, kind: str) -> str:
    return "[" * depth + "]" * depth if kind == "array" else '{"a":' * depth + "1" + "}" * depth


def stored_frames_are_safe(station) -> list:
    """Frame-log rows of the station holding a NUL or a lone surrogate (none should)."""
    return [
        row.pk
        for row in FrameLog.objects.filter(station=station)
        if any(unsafe_for_storage(text) for text in (row.raw, row.action, row.unique_id))
    ]


# 1. Deep nesting -------------------------------------------------------------


@pytest.mark.parametrize(
    "text",
    [
        pytest.param(
            f'[2,"deep-1","DataTransfer",{{"vendorId":"V","data":{nested(1000, "array")}}}]', id="data-arrays"
        ),
        pytest.param(
            f'[2,"deep-1","DataTransfer",{{"vendorId":"V","data":{nested(1000, "object")}}}]', id="data-objects"
        ),
        pytest.param(f'[2,"deep-1","DataTransfer",{nested(5000, "array")}]', id="payload-5000"),
        pytest.param(f'[2,"deep-1",{nested(2000, "object")},{{}}]', id="action"),
    ],
)
def test_deeply_nested_call_is_a_formation_violation_and_the_connection_lives(server, text):
    station = StationFactory(identity="DEEP-1")

    async def scenario():
        async with open_charger(server.url, "DEEP-1", STATION_PASSWORD) as ws:
            cp = Charger(ws)
            await cp.send_raw(text)
            error = await cp.recv()
            return error, await cp.call("Heartbeat", {}, unique_id="after")

    error, after = run(scenario())

    assert error[:3] == [4, "deep-1", "FormationViolation"]
    assert after[0] == 3
    assert eventually(lambda: FrameLog.objects.filter(station=station, direction="in", raw=text).exists())


@pytest.mark.parametrize(
    "text",
    [
        pytest.param(nested(1000, "array"), id="frame-itself"),
        pytest.param(f'[3,"never-sent",{nested(2000, "object")}]', id="callresult"),
        pytest.param(f'[{nested(2000, "array")},"x","Heartbeat",{{}}]', id="message-type"),
    ],
)
def test_deeply_nested_frame_without_a_readable_call_is_logged_and_the_connection_lives(server, text):
    station = StationFactory(identity="DEEP-2")

    async def scenario():
        async with open_charger(server.url, "DEEP-2", STATION_PASSWORD) as ws:
            cp = Charger(ws)
            await cp.send_raw(text)
            # The next answer on the wire is the Heartbeat's: nothing answered the frame.
            return await cp.call("Heartbeat", {}, unique_id="after")

    assert run(scenario())[0] == 3
    assert eventually(lambda: FrameLog.objects.filter(station=station, direction="in", raw=text).exists())


def test_station_is_shown_disconnected_and_commands_end_offline_once_a_hostile_socket_is_gone(server):
    station = StationFactory(identity="GONE-1")
    deep = f'[2,"deep-2","DataTransfer",{{"vendorId":"V","data":{nested(1000, "array")}}}]'

    async def scenario():
        ws = await open_charger(server.url, "GONE-1", STATION_PASSWORD)
        cp = Charger(ws)
        await cp.send_raw(deep)
        error = await cp.recv()
        await cp.send_raw(json.dumps([2, "s1", "StatusNotification", {"connectorId": 1, "status": "Available"}]))
        second = await cp.recv()
        # The charger vanishes without a close frame (power cut, NAT timeout).
        ws.transport.abort()
        return error, second

    error, second = run(scenario())

    assert error[:3] == [4, "deep-2", "FormationViolation"]
    assert second[:3] == [4, "s1", "OccurenceConstraintViolation"]
    assert eventually(lambda: not ChargingStation.objects.get(pk=station.pk).connected)
    command = commands.command_send(station=station, action="ClearCache", requested_via="test", timeout_s=5)
    assert command.status == CommandStatus.OFFLINE


# 2. Lone surrogates and NULs ---------------------------------------------------


def test_unstorable_characters_cost_no_charger_its_frame_log(server):
    hostile = StationFactory(identity="SURR-1")
    bystander = StationFactory(identity="SURR-2")
    hostile_frames = [
        (frame("a1", "Heart\ud800beat", {}), "NotImplemented"),
        (frame("a2", "Heart\x00beat", {}), "NotImplemented"),
        (frame("a3", "DataTransfer", {"vendorId": "V\udc00", "data": "\ud83d"}), None),
        (frame("a4", "Heartbeat", {"\ud800": 1}), "FormationViolation"),
        # A literal NUL is not JSON: refused as such, and still logged.
        ('[2,"a5","Heartbeat",{}]\x00', "FormationViolation"),
        ('[2,"a6","Authorize",{"idTag":"A\x00B"}]', "any"),
    ]

    async def scenario():
        async with (
            open_charger(server.url, "SURR-1", STATION_PASSWORD) as hostile_ws,
            open_charger(server.url, "SURR-2", STATION_PASSWORD) as bystander_ws,
        ):
            hostile_cp, bystander_cp = Charger(hostile_ws), Charger(bystander_ws)
            answers = []
            for text, _ in hostile_frames:
                # Interleaved, so both chargers' frames fall into the same frame-log batches.
                await bystander_cp.send_raw(frame(f"b-{len(answers)}", "Heartbeat", {}))
                await hostile_cp.send_raw(text)
                answers.append(await hostile_cp.recv())
                assert (await bystander_cp.recv())[0] == 3
            answers.append(await hostile_cp.call("Heartbeat", {}, unique_id="after"))
            return answers

    answers = run(scenario())

    for (text, code), answer in zip(hostile_frames, answers, strict=False):
        if code is None:
            assert answer[0] == 3, (text, answer)
        else:
            assert answer[0] == 4 and answer[2] in ({code} if code != "any" else {answer[2]}), (text, answer)
            assert answer[2] != "InternalError", (text, answer)
    assert answers[-1][0] == 3
    assert eventually(lambda: FrameLog.objects.filter(station=bystander).count() == 2 * len(hostile_frames))
    assert eventually(lambda: FrameLog.objects.filter(station=hostile).count() == 2 * len(hostile_frames) + 2)
    assert stored_frames_are_safe(hostile) == []


def test_lone_surrogates_and_nuls_in_fields_are_answered_and_stored_replaced(server):
    station = StationFactory(identity="SURR-3")

    async def scenario():
        async with open_charger(server.url, "SURR-3", STATION_PASSWORD) as ws:
            cp = Charger(ws)
            boot = await cp.call(
                "BootNotification",
                {"chargePointVendor": "Acme", "chargePointModel": "X1", "firmwareVersion": "fw\ud800"},
            )
            status = await cp.call(
                "StatusNotification",
                {
                    "connectorId": 1,
                    "errorCode": "NoError",
                    "status": "Available",
                    "info": "bad\ud800info",
                    "vendorErrorCode": "E\x00X",
                    "vendorId": "V\udfff",
                },
            )
            authorize = await cp.call("Authorize", {"idTag": "T\ud800G"})
            start = await cp.call(
                "StartTransaction", {"connectorId": 1, "idTag": "N\x00L", "meterStart": 0, "timestamp": NOW}
            )
            return boot, status, authorize, start

    answers = run(scenario())

    assert [answer[0] for answer in answers] == [3, 3, 3, 3], answers
    station.refresh_from_db()
    assert station.firmware_version == "fw\ufffd"
    connector = Connector.objects.get(station=station, connector_id=1)
    assert (connector.info, connector.vendor_error_code, connector.vendor_id) == (
        "bad\ufffdinfo",
        "E\ufffdX",
        "V\ufffd",
    )
    event = StatusEvent.objects.get(connector=connector)
    assert (event.info, event.vendor_error_code, event.vendor_id) == ("bad\ufffdinfo", "E\ufffdX", "V\ufffd")
    assert ChargingSession.objects.get(station=station).id_tag == "N\ufffdL"
    assert eventually(lambda: FrameLog.objects.filter(station=station).count() == 8)
    assert stored_frames_are_safe(station) == []


# 3. Out-of-range integers and dates --------------------------------------------

START = {"connectorId": 1, "idTag": "T", "meterStart": 0, "timestamp": NOW}
STOP = {"transactionId": 1, "meterStop": 0, "timestamp": NOW}
STATUS = {"connectorId": 1, "errorCode": "NoError", "status": "Available"}
PCV = {"PropertyConstraintViolation"}
RANGE_OR_TYPE = {"PropertyConstraintViolation", "TypeConstraintViolation"}
YEAR_10000 = "9999-12-31T23:59:59-01:00"  # year 10000 in UTC
YEAR_0 = "0001-01-01T00:00:00+01:00"  # year 0 in UTC


def meter_values(connector_id=1, timestamp=NOW, **extra) -> dict:
    return {
        "connectorId": connector_id,
        "meterValue": [{"timestamp": timestamp, "sampledValue": [{"value": "1"}]}],
        **extra,
    }


@pytest.mark.parametrize(
    ("action", "payload", "codes"),
    [
        pytest.param("StatusNotification", {**STATUS, "connectorId": 2**63}, PCV, id="connector-2^63"),
        pytest.param("StatusNotification", {**STATUS, "connectorId": 2**31}, PCV, id="connector-2^31"),
        pytest.param("StatusNotification", {**STATUS, "connectorId": -1}, PCV, id="connector-negative"),
        pytest.param("StartTransaction", {**START, "connectorId": -1}, PCV, id="start-connector-negative"),
        pytest.param("StartTransaction", {**START, "meterStart": 2**63}, PCV, id="meter-start-2^63"),
        pytest.param("StartTransaction", {**START, "meterStart": -(2**31) - 1}, PCV, id="meter-start-below-int32"),
        pytest.param("StartTransaction", {**START, "reservationId": 2**40}, PCV, id="reservation-2^40"),
        pytest.param("StopTransaction", {**STOP, "transactionId": 2**63}, PCV, id="transaction-2^63"),
        pytest.param("StopTransaction", {**STOP, "meterStop": 10**20}, PCV, id="meter-stop-10^20"),
        pytest.param("MeterValues", meter_values(connector_id=2**63), PCV, id="meter-values-connector-2^63"),
        pytest.param("MeterValues", meter_values(transactionId=2**64), PCV, id="meter-values-transaction-2^64"),
        pytest.param("StatusNotification", {**STATUS, "timestamp": YEAR_10000}, RANGE_OR_TYPE, id="status-year-10000"),
        pytest.param("StartTransaction", {**START, "timestamp": YEAR_10000}, RANGE_OR_TYPE, id="start-year-10000"),
        pytest.param("StartTransaction", {**START, "timestamp": YEAR_0}, RANGE_OR_TYPE, id="start-year-0"),
        pytest.param("StopTransaction", {**STOP, "timestamp": YEAR_10000}, RANGE_OR_TYPE, id="stop-year-10000"),
        pytest.param("MeterValues", meter_values(timestamp=YEAR_10000), RANGE_OR_TYPE, id="meter-values-year-10000"),
    ],
)
def test_out_of_range_values_get_a_constraint_violation_and_store_nothing(server, action, payload, codes):
    station = StationFactory(identity="RANGE-1")

    async def scenario():
        async with open_charger(server.url, "RANGE-1", STATION_PASSWORD) as ws:
            cp = Charger(ws)
            return await cp.call(action, payload, unique_id="r1"), await cp.call("Heartbeat", {})

    error, after = run(scenario())

    assert error[:2] == [4, "r1"] and error[2] in codes, error
    assert after[0] == 3
    assert not StatusEvent.objects.filter(station=station).exists()
    assert not ChargingSession.objects.filter(station=station).exists()
    assert not MeterSample.objects.filter(station=station).exists()


# 4. Implausible meter readings -------------------------------------------------

IMPLAUSIBLE = ["999999999999999999", "12345678901234567890", "1234567890123", "NaN", "Infinity", "-Infinity"]


def test_implausible_readings_are_kept_as_text_flag_the_session_and_it_still_stops(server, client, actors):
    StationFactory(identity="METER-X")
    values = [*IMPLAUSIBLE, "12.5"]

    async def scenario():
        async with open_charger(server.url, "METER-X", STATION_PASSWORD) as ws:
            cp = Charger(ws)
            tx = (await cp.result("StartTransaction", START))["transactionId"]
            readings = await cp.call(
                "MeterValues",
                {
                    "connectorId": 1,
                    "transactionId": tx,
                    "meterValue": [
                        {"timestamp": f"2026-01-05T10:{minute:02d}:00Z", "sampledValue": [{"value": value}]}
                        for minute, value in enumerate(values, start=1)
                    ],
                },
            )
            stop = await cp.call(
                "StopTransaction", {"transactionId": tx, "meterStop": 9000, "timestamp": "2026-01-05T11:00:00Z"}
            )
            other = (await cp.result("StartTransaction", {**START, "connectorId": 2}))["transactionId"]
            stop_with_data = await cp.call(
                "StopTransaction",
                {
                    "transactionId": other,
                    "meterStop": 100,
                    "timestamp": "2026-01-05T11:00:00Z",
                    "transactionData": [
                        {"timestamp": "2026-01-05T10:30:00Z", "sampledValue": [{"value": "12345678901234567890"}]}
                    ],
                },
            )
            return tx, other, readings, stop, stop_with_data

    tx, other, readings, stop, stop_with_data = run(scenario())

    assert (readings[0], stop[0], stop_with_data[0]) == (3, 3, 3), (readings, stop, stop_with_data)
    sessions = ChargingSession.objects.in_bulk([tx, other])
    for session in sessions.values():
        assert session.stop_at is not None
        assert MeterFlag.IMPLAUSIBLE_READING in session.meter_flags
    samples = {sample.value: sample.numeric_value for sample in MeterSample.objects.filter(session_id=tx)}
    assert samples == {**dict.fromkeys(IMPLAUSIBLE), "12.5": Decimal("12.5")}
    assert MeterSample.objects.get(session_id=other).numeric_value is None

    client.force_login(actors.operator)
    assert client.get("/admin/stations/metersample/").status_code == 200
    implausible = MeterSample.objects.get(session_id=tx, value="12345678901234567890")
    assert client.get(f"/admin/stations/metersample/{implausible.pk}/change/").status_code == 200
    assert client.get("/admin/stations/chargingsession/").status_code == 200


# 5. A charger clock in the future ---------------------------------------------


def test_a_report_dated_in_the_future_does_not_freeze_the_connector(server):
    station = StationFactory(identity="CLOCK-1")
    now = timezone.now().isoformat()

    async def scenario():
        async with open_charger(server.url, "CLOCK-1", STATION_PASSWORD) as ws:
            cp = Charger(ws)
            await cp.result(
                "StatusNotification",
                {"connectorId": 1, "errorCode": "OtherError", "status": "Faulted", "timestamp": "2100-01-01T00:00:00Z"},
            )
            await cp.result("StatusNotification", {**STATUS, "timestamp": now})

    run(scenario())

    connector = Connector.objects.get(station=station, connector_id=1)
    assert connector.status == "Available"
    station.refresh_from_db()
    assert station.clock_skew_at is not None
    faulted = StatusEvent.objects.get(connector=connector, status="Faulted")
    assert faulted.charger_timestamp.year == 2100
    assert StatusEvent.objects.filter(connector=connector).latest("received_at", "id").status == "Available"


# 7. Frame size limit ------------------------------------------------------------


def data_transfer_of_size(unique_id: str, size: int) -> str:
    """A DataTransfer frame exactly `size` bytes long."""
    empty = frame(unique_id, "DataTransfer", {"vendorId": "V", "data": ""})
    return frame(unique_id, "DataTransfer", {"vendorId": "V", "data": "d" * (size - len(empty))})


async def refused_with(url: str, identity: str, text: str) -> int | None:
    async with open_charger(url, identity, STATION_PASSWORD, max_size=None) as ws:
        try:
            await ws.send(text)
            await asyncio.wait_for(ws.recv(), 10)
        except ConnectionClosed:
            pass
        return ws.close_code


def frame_limit_holds(url: str, identity: str, limit: int) -> None:
    station = StationFactory(identity=identity)
    at_limit = data_transfer_of_size("fits", limit)

    async def at_the_limit():
        async with open_charger(url, identity, STATION_PASSWORD) as ws:
            return await Charger(ws).call("DataTransfer", json.loads(at_limit)[3], unique_id="fits")

    assert len(at_limit.encode()) == limit
    assert run(at_the_limit())[:2] == [3, "fits"]
    assert run(refused_with(url, identity, data_transfer_of_size("over", limit + 1))) == 1009
    assert run(refused_with(url, identity, data_transfer_of_size("huge", 10 * 1024 * 1024))) == 1009
    assert eventually(lambda: FrameLog.objects.filter(station=station, raw=at_limit).exists())
    assert eventually(lambda: not ChargingStation.objects.get(pk=station.pk).connected)
    assert not FrameLog.objects.filter(station=station, unique_id__in=["over", "huge"]).exists()


def test_frames_over_the_configured_limit_are_refused_with_1009(server):
    frame_limit_holds(server.url, "SIZE-1", MAX_FRAME_BYTES)


def test_frames_over_64_kib_are_refused_by_default(ocpp_server):
    frame_limit_holds(ocpp_server.url, "SIZE-2", 65536)


# 8. Half-open handshakes, boot deadline, password guessing ----------------------


def test_half_open_handshakes_are_closed_after_the_deadline(server):
    StationFactory(identity="HALF-1")

    async def held_open(partial: bytes) -> bool:
        reader, writer = await asyncio.open_connection("127.0.0.1", server.port)
        try:
            writer.write(partial)
            await writer.drain()
            try:
                while await asyncio.wait_for(reader.read(4096), HANDSHAKE_TIMEOUT_S + MARGIN_S):
                    pass
            except TimeoutError:
                return True
            except ConnectionError:
                pass
            return False
        finally:
            writer.close()

    async def scenario():
        request_start = f"GET /ocpp/HALF-1 HTTP/1.1\r\nHost: 127.0.0.1:{server.port}\r\n".encode()
        partial = [request_start] * 25 + [b""] * 15 + [b"GET /ocpp/HALF-1 HT"] * 10
        still_open = await asyncio.gather(*(held_open(p) for p in partial))
        # The server still serves chargers that complete their handshake.
        async with open_charger(server.url, "HALF-1", STATION_PASSWORD) as ws:
            return sum(still_open), await Charger(ws).call("Heartbeat", {})

    still_open, heartbeat = run(scenario())

    assert still_open == 0
    assert heartbeat[0] == 3


def test_station_not_accepted_that_sends_no_boot_is_closed(server):
    station = StationFactory(identity="BOOT-1", registration_status="Pending")

    async def scenario():
        async with open_charger(server.url, "BOOT-1", STATION_PASSWORD) as ws:
            refused = await Charger(ws).call("Heartbeat", {})
            with pytest.raises(ConnectionClosed):
                await asyncio.wait_for(ws.recv(), BOOT_TIMEOUT_S + MARGIN_S)
            return refused

    assert run(scenario())[2] == "SecurityError"
    assert eventually(lambda: not ChargingStation.objects.get(pk=station.pk).connected)


def test_booted_pending_station_and_accepted_station_without_boot_are_kept(server):
    StationFactory(identity="BOOT-2", registration_status="Pending")
    StationFactory(identity="BOOT-3")

    async def pending_that_boots():
        async with open_charger(server.url, "BOOT-2", STATION_PASSWORD) as ws:
            cp = Charger(ws)
            boot = await cp.result("BootNotification", {"chargePointVendor": "Acme", "chargePointModel": "X1"})
            await asyncio.sleep(BOOT_TIMEOUT_S + 1.5)
            return boot["status"], (
                await cp.result("BootNotification", {"chargePointVendor": "Acme", "chargePointModel": "X1"})
            )["status"]

    async def accepted_reconnecting():
        async with open_charger(server.url, "BOOT-3", STATION_PASSWORD) as ws:
            await asyncio.sleep(BOOT_TIMEOUT_S + 1.5)
            return await Charger(ws).call("Heartbeat", {})

    async def scenario():
        return await asyncio.gather(pending_that_boots(), accepted_reconnecting())

    pending, heartbeat = run(scenario())

    assert pending == ("Pending", "Pending")
    assert heartbeat[0] == 3


def test_wrong_passwords_are_slowed_per_address_and_the_right_one_still_gets_in(server):
    StationFactory(identity="GUESS-1")
    tries = 30
    # Another loopback address than the rest of the suite's, so their handshakes stay unthrottled.
    source = ("127.0.0.2", 0)

    async def guess(password: str):
        async with open_charger(server.url, "GUESS-1", password, local_addr=source, open_timeout=15) as ws:
            return await Charger(ws).call("Heartbeat", {})

    async def scenario():
        refused = 0
        started = time.monotonic()
        for n in range(tries):
            try:
                await guess(f"wrong-password-{n:04d}")
            except InvalidStatus as exc:
                refused += exc.response.status_code == 403
        elapsed = time.monotonic() - started
        return refused, elapsed, await guess(STATION_PASSWORD)

    refused, elapsed, heartbeat = run(scenario())

    assert refused == tries
    assert elapsed >= (tries - FAILURES_BEFORE_THROTTLE) * THROTTLE_INTERVAL_S * 0.9
    assert heartbeat[0] == 3


def test_clock_skew_tolerance_keeps_slightly_fast_clocks_trusted(server):
    station = StationFactory(identity="CLOCK-2")
    slightly_fast = (timezone.now() + timedelta(seconds=60)).isoformat()

    async def scenario():
        async with open_charger(server.url, "CLOCK-2", STATION_PASSWORD) as ws:
            await Charger(ws).result("StatusNotification", {**STATUS, "timestamp": slightly_fast})

    run(scenario())

    station.refresh_from_db()
    assert station.clock_skew_at is None


def test_a_flood_of_wrong_passwords_beyond_the_wait_is_told_to_come_back_later(django_db_setup, django_db_blocker):
    # Each check from this address waits a full second for its turn; more waiters than
    # fit in the longest wait are answered 429 with Retry-After at once, not held.
    with django_db_blocker.unblock():
        StationFactory(identity="FLOOD-1")
    source = ("127.0.0.3", 0)
    env = {"OCPP_AUTH_FAILURES_BEFORE_THROTTLE": "1", "OCPP_AUTH_THROTTLE_INTERVAL_S": "1"}

    async def guess(url: str, password: str):
        try:
            async with open_charger(url, "FLOOD-1", password, local_addr=source, open_timeout=15):
                return 101
        except InvalidStatus as exc:
            return exc.response.status_code, exc.response.headers.get("Retry-After"), time.monotonic()

    async def scenario(url: str):
        await guess(url, "wrong-password-first")
        started = time.monotonic()
        answers = await asyncio.gather(*(guess(url, f"wrong-password-{n:04d}") for n in range(12)))
        return started, answers, await guess(url, STATION_PASSWORD)

    with run_server(**env) as flood_server:
        started, answers, right = run(scenario(flood_server.url))

    told_later = [answer for answer in answers if answer[0] == 429]
    assert told_later and all(retry_after for _, retry_after, _ in told_later)
    assert all(at - started < 2 for _, _, at in told_later)
    assert {answer[0] for answer in answers} <= {403, 429}
    assert right == 101
