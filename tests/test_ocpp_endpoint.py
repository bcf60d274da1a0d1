"""The OCPP 1.6J endpoint, driven through a real uvicorn process and websocket."""

import asyncio
import json
from datetime import timedelta

import pytest
from django.utils import timezone
from websockets.exceptions import ConnectionClosed, InvalidStatus

from stations.models import (
    ChargingSession,
    ChargingStation,
    Connector,
    FrameLog,
    MeterSample,
    StationModel,
    StatusEvent,
)
from tests.factories import STATION_PASSWORD, IdTagFactory, StationFactory
from tests.helpers import eventually, orm
from tests.ocpp_client import Charger, auth_header, open_charger

pytestmark = pytest.mark.usefixtures("live_db")

BOOT = {"chargePointVendor": "Acme", "chargePointModel": "X1", "chargePointSerialNumber": "SN-1"}


def run(coro):
    return asyncio.run(coro)


async def _session(url: str, identity: str) -> dict:
    answers = {}
    async with open_charger(url, identity, STATION_PASSWORD) as ws:
        cp = Charger(ws)
        answers["boot"] = await cp.result("BootNotification", BOOT)
        answers["heartbeat"] = await cp.result("Heartbeat", {})
        await cp.result("StatusNotification", {"connectorId": 1, "errorCode": "NoError", "status": "Available"})
        answers["authorize"] = await cp.result("Authorize", {"idTag": "TAG-OK"})
        start = await cp.result(
            "StartTransaction",
            {"connectorId": 1, "idTag": "TAG-OK", "meterStart": 1000, "timestamp": "2026-01-05T10:00:00Z"},
        )
        answers["start"] = start
        tx = start["transactionId"]
        await cp.result(
            "MeterValues",
            {
                "connectorId": 1,
                "transactionId": tx,
                "meterValue": [
                    {
                        "timestamp": "2026-01-05T10:15:00Z",
                        "sampledValue": [
                            {"value": "4500", "measurand": "Energy.Active.Import.Register", "unit": "Wh"},
                            {"value": "11000", "measurand": "Power.Active.Import", "unit": "W"},
                        ],
                    }
                ],
            },
        )
        answers["stop"] = await cp.result(
            "StopTransaction",
            {
                "transactionId": tx,
                "idTag": "TAG-OK",
                "meterStop": 9000,
                "timestamp": "2026-01-05T10:45:00Z",
                "reason": "EVDisconnected",
                "transactionData": [
                    {
                        "timestamp": "2026-01-05T10:30:00Z",
                        "sampledValue": [{"value": "7", "measurand": "Energy.Active.Import.Register", "unit": "kWh"}],
                    }
                ],
            },
        )
    return answers


def test_full_charging_session_is_answered_and_stored(ocpp_server):
    station = StationFactory(identity="E2E-1")
    IdTagFactory(id_tag="TAG-OK")

    answers = run(_session(ocpp_server.url, "E2E-1"))

    assert answers["boot"]["status"] == "Accepted"
    assert answers["boot"]["interval"] == 60
    assert "currentTime" in answers["heartbeat"]
    assert answers["authorize"] == {"idTagInfo": {"status": "Accepted"}}
    assert answers["start"]["idTagInfo"] == {"status": "Accepted"}
    assert answers["stop"] == {"idTagInfo": {"status": "Accepted"}}

    session = ChargingSession.objects.get()
    assert session.pk == answers["start"]["transactionId"]
    assert (session.meter_start, session.meter_stop, session.energy_wh) == (1000, 9000, 8000)
    assert session.stop_reason == "EVDisconnected"
    assert session.start_at.isoformat() == "2026-01-05T10:00:00+00:00"
    assert session.meter_flags == []
    assert sorted(session.meter_samples.values_list("measurand", "value")) == [
        ("Energy.Active.Import.Register", "4500"),
        ("Energy.Active.Import.Register", "7"),
        ("Power.Active.Import", "11000"),
    ]
    station.refresh_from_db()
    assert (station.vendor, station.model, station.serial_number) == ("Acme", "X1", "SN-1")
    assert station.last_boot_at is not None
    connector = Connector.objects.get(station=station, connector_id=1)
    assert connector.status == "Available"
    assert StatusEvent.objects.filter(connector=connector, status="Available").count() == 1
    # Every frame in and out is logged: 7 CALLs and 7 answers.
    assert eventually(lambda: FrameLog.objects.filter(station=station).count() == 14)
    assert FrameLog.objects.filter(station=station, direction="out", message_type=3).count() == 7


BAD_FRAMES = [
    pytest.param('[2, "b1", "Heartbeat", {', "b1", "FormationViolation", id="truncated-json"),
    pytest.param('[2, "b2", "Heartbeat"]', "b2", "ProtocolError", id="call-missing-payload"),
    pytest.param('[2, "b3", "Heartbeat", {}, {}]', "b3", "FormationViolation", id="call-too-long"),
    pytest.param('[2, "b4", "Heartbeat", []]', "b4", "FormationViolation", id="payload-not-object"),
    pytest.param('[9, "b5", "Heartbeat", {}]', "b5", "ProtocolError", id="unknown-message-type"),
    pytest.param('[2, "b6", "MakeCoffee", {}]', "b6", "NotImplemented", id="unknown-action"),
    pytest.param('[2, "b7", "Reset", {"type": "Hard"}]', "b7", "NotSupported", id="server-only-action"),
    pytest.param(
        json.dumps(
            [2, "b8", "StatusNotification", {"connectorId": "one", "errorCode": "NoError", "status": "Available"}]
        ),
        "b8",
        "TypeConstraintViolation",
        id="wrong-type",
    ),
    pytest.param(
        json.dumps([2, "b9", "StatusNotification", {"connectorId": 1, "errorCode": "NoError", "status": "Sleeping"}]),
        "b9",
        "PropertyConstraintViolation",
        id="unknown-enum-value",
    ),
    pytest.param(
        json.dumps([2, "b10", "StatusNotification", {"connectorId": 1, "status": "Available"}]),
        "b10",
        "OccurenceConstraintViolation",
        id="required-field-missing",
    ),
    pytest.param(json.dumps([2, "b11", "Heartbeat", {"extra": 1}]), "b11", "FormationViolation", id="unexpected-field"),
    pytest.param(
        json.dumps([2, "b12", "Authorize", {"idTag": "X" * 21}]), "b12", "TypeConstraintViolation", id="too-long"
    ),
    pytest.param(
        json.dumps(
            [2, "b13", "StartTransaction", {"connectorId": 1, "idTag": "T", "meterStart": 0, "timestamp": "yesterday"}]
        ),
        "b13",
        "TypeConstraintViolation",
        id="bad-datetime",
    ),
]


@pytest.mark.parametrize(("frame", "unique_id", "code"), BAD_FRAMES)
def test_bad_frame_gets_the_spec_callerror_and_connection_lives(ocpp_server, frame, unique_id, code):
    station = StationFactory(identity="BAD-1")

    async def scenario():
        async with open_charger(ocpp_server.url, "BAD-1", STATION_PASSWORD) as ws:
            cp = Charger(ws)
            await cp.send_raw(frame)
            error = await cp.recv()
            after = await cp.result("Heartbeat", {})
            return error, after

    error, after = run(scenario())

    assert error[:3] == [4, unique_id, code]
    assert isinstance(error[3], str) and error[3]
    assert isinstance(error[4], dict)
    assert "currentTime" in after
    assert eventually(lambda: FrameLog.objects.filter(station=station, direction="in", raw=frame).exists())
    assert eventually(lambda: FrameLog.objects.filter(station=station, direction="out", error_code=code).exists())


@pytest.mark.parametrize(
    "frame",
    [
        pytest.param("not json at all", id="not-json"),
        pytest.param('{"action": "Heartbeat"}', id="not-an-array"),
        pytest.param("[]", id="empty-array"),
        pytest.param('[2, 17, "Heartbeat", {}]', id="unique-id-not-a-string"),
        pytest.param('[3, "never-sent", {}]', id="callresult-for-no-call"),
        pytest.param('[4, "never-sent", "GenericError", "", {}]', id="callerror-for-no-call"),
    ],
)
def test_unanswerable_frame_is_logged_and_connection_lives(ocpp_server, frame):
    station = StationFactory(identity="BAD-2")

    async def scenario():
        async with open_charger(ocpp_server.url, "BAD-2", STATION_PASSWORD) as ws:
            cp = Charger(ws)
            await cp.send_raw(frame)
            # The next answer on the wire is the Heartbeat's: nothing answered the bad frame.
            return await cp.call("Heartbeat", {}, unique_id="after")

    answer = run(scenario())

    assert answer[0] == 3 and answer[1] == "after"
    assert eventually(lambda: FrameLog.objects.filter(station=station, raw=frame).exists())


def test_wrong_password_is_refused_at_handshake(ocpp_server):
    StationFactory(identity="PW-1")

    async def scenario():
        async with open_charger(ocpp_server.url, "PW-1", "not-the-right-password"):
            pass

    with pytest.raises(InvalidStatus) as refused:
        run(scenario())
    assert refused.value.response.status_code == 403
    assert not ChargingStation.objects.get(identity="PW-1").connected


def test_unknown_identity_is_refused_at_handshake(ocpp_server):
    async def scenario():
        async with open_charger(ocpp_server.url, "NOBODY", STATION_PASSWORD):
            pass

    with pytest.raises(InvalidStatus):
        run(scenario())
    assert not ChargingStation.objects.filter(identity="NOBODY").exists()


def test_client_without_ocpp16_subprotocol_is_refused(ocpp_server):
    StationFactory(identity="SUB-1")

    async def scenario():
        async with open_charger(ocpp_server.url, "SUB-1", STATION_PASSWORD, subprotocols=["ocpp2.0.1"]):
            pass

    with pytest.raises(InvalidStatus):
        run(scenario())


def test_trailing_slash_url_is_accepted(ocpp_server):
    StationFactory(identity="SLASH-1")

    async def scenario():
        headers = auth_header("SLASH-1", STATION_PASSWORD)
        async with open_charger(ocpp_server.url, "SLASH-1/", STATION_PASSWORD, additional_headers=headers) as ws:
            return await Charger(ws).result("Heartbeat", {})

    assert "currentTime" in run(scenario())


def test_unknown_charger_registers_as_pending_until_accepted(django_db_setup):
    from tests.conftest import run_server

    with run_server(OCPP_REGISTER_UNKNOWN_AS_PENDING="1", OCPP_PENDING_RETRY_INTERVAL_S="30") as server:

        async def boot_and_heartbeat():
            async with open_charger(server.url, "NEW-1", "fresh-secret-0123456789") as ws:
                cp = Charger(ws)
                return await cp.result("BootNotification", BOOT), await cp.call("Heartbeat", {})

        boot, heartbeat = run(boot_and_heartbeat())
        assert boot["status"] == "Pending" and boot["interval"] == 30
        assert heartbeat[0] == 4 and heartbeat[2] == "SecurityError"
        station = ChargingStation.objects.get(identity="NEW-1")
        assert station.registration_status == "Pending"

        ChargingStation.objects.filter(pk=station.pk).update(registration_status="Accepted")
        boot, heartbeat = run(boot_and_heartbeat())
        assert boot["status"] == "Accepted" and boot["interval"] == 60
        assert heartbeat[0] == 3


def test_retried_start_transaction_returns_same_id(ocpp_server):
    StationFactory(identity="RETRY-1")
    start = {"connectorId": 1, "idTag": "ANY", "meterStart": 50, "timestamp": "2026-01-05T09:00:00Z"}

    async def scenario():
        async with open_charger(ocpp_server.url, "RETRY-1", STATION_PASSWORD) as ws:
            cp = Charger(ws)
            first = await cp.result("StartTransaction", start, unique_id="s1")
            again = await cp.result("StartTransaction", start, unique_id="s1")
            return first, again

    first, again = run(scenario())

    assert first["transactionId"] == again["transactionId"]
    assert first["idTagInfo"] == {"status": "Invalid"}  # unknown tag: recorded, and the charger told
    assert ChargingSession.objects.count() == 1


def test_retried_stop_transaction_changes_nothing(ocpp_server):
    StationFactory(identity="RETRY-2")

    async def scenario():
        async with open_charger(ocpp_server.url, "RETRY-2", STATION_PASSWORD) as ws:
            cp = Charger(ws)
            tx = (
                await cp.result(
                    "StartTransaction",
                    {"connectorId": 1, "idTag": "A", "meterStart": 0, "timestamp": "2026-01-05T09:00:00Z"},
                )
            )["transactionId"]
            stop = {"transactionId": tx, "meterStop": 5000, "timestamp": "2026-01-05T10:00:00Z"}
            await cp.result("StopTransaction", stop)
            retried = {**stop, "meterStop": 6000, "timestamp": "2026-01-05T10:05:00Z"}
            return await cp.result("StopTransaction", retried)

    answer = run(scenario())

    assert answer == {}
    session = ChargingSession.objects.get()
    assert (session.meter_stop, session.energy_wh) == (5000, 5000)
    assert session.stop_at.isoformat() == "2026-01-05T10:00:00+00:00"


def test_retried_meter_values_are_stored_once(ocpp_server):
    StationFactory(identity="RETRY-3")
    values = {
        "connectorId": 1,
        "meterValue": [{"timestamp": "2026-01-05T09:00:00Z", "sampledValue": [{"value": "12.5", "unit": "kWh"}]}],
    }

    async def scenario():
        async with open_charger(ocpp_server.url, "RETRY-3", STATION_PASSWORD) as ws:
            cp = Charger(ws)
            await cp.result("MeterValues", values, unique_id="m1")
            await cp.result("MeterValues", values, unique_id="m1")

    run(scenario())
    assert MeterSample.objects.count() == 1


def test_late_transaction_keeps_its_own_timestamps(ocpp_server):
    StationFactory(identity="LATE-1")

    async def scenario():
        async with open_charger(ocpp_server.url, "LATE-1", STATION_PASSWORD) as ws:
            cp = Charger(ws)
            tx = (
                await cp.result(
                    "StartTransaction",
                    {"connectorId": 2, "idTag": "A", "meterStart": 10, "timestamp": "2025-12-24T18:00:00+01:00"},
                )
            )["transactionId"]
            await cp.result(
                "StopTransaction", {"transactionId": tx, "meterStop": 20, "timestamp": "2025-12-24T19:00:00+01:00"}
            )

    run(scenario())
    session = ChargingSession.objects.get()
    assert session.start_at.isoformat() == "2025-12-24T17:00:00+00:00"
    assert session.stop_at.isoformat() == "2025-12-24T18:00:00+00:00"


def test_second_connection_replaces_the_first(ocpp_server):
    StationFactory(identity="DUP-1")

    async def scenario():
        first_ctx = open_charger(ocpp_server.url, "DUP-1", STATION_PASSWORD)
        first = await first_ctx.__aenter__()
        async with open_charger(ocpp_server.url, "DUP-1", STATION_PASSWORD) as second:
            with pytest.raises(ConnectionClosed):
                await asyncio.wait_for(first.recv(), 5)
            close_code = first.close_code
            answer = await Charger(second).result("Heartbeat", {})
            connected_while_second_open = await orm(lambda: ChargingStation.objects.get(identity="DUP-1").connected)
        return close_code, answer, connected_while_second_open

    close_code, answer, connected = run(scenario())

    assert close_code == 4000
    assert "currentTime" in answer
    assert connected is True
    assert eventually(lambda: not ChargingStation.objects.get(identity="DUP-1").connected)


def test_lenient_station_model_accepts_known_deviations(ocpp_server):
    StationFactory(identity="LEN-1", station_model=StationModel.objects.create(vendor="Odd", model="Y", lenient=True))
    StationFactory(identity="STRICT-1")
    sloppy = {
        "connectorId": "1",
        "errorCode": "noError",
        "status": "Available",
        "timestamp": "2026-01-05T09:00:00",
        "info": "x" * 80,
        "firmwareBuild": "abc",
    }

    async def send(identity):
        async with open_charger(ocpp_server.url, identity, STATION_PASSWORD) as ws:
            return await Charger(ws).call("StatusNotification", sloppy)

    lenient_answer, strict_answer = run(send("LEN-1")), run(send("STRICT-1"))

    assert lenient_answer[0] == 3
    assert strict_answer[0] == 4
    connector = Connector.objects.get(station__identity="LEN-1", connector_id=1)
    assert (connector.status, connector.error_code, len(connector.info)) == ("Available", "NoError", 50)
    assert connector.status_since.isoformat() == "2026-01-05T09:00:00+00:00"


def test_meter_readings_that_do_not_hold_together_are_flagged(ocpp_server):
    StationFactory(identity="METER-1")
    future = (timezone.now() + timedelta(days=2)).isoformat()

    async def scenario():
        async with open_charger(ocpp_server.url, "METER-1", STATION_PASSWORD) as ws:
            cp = Charger(ws)

            async def start(connector, meter_start, ts="2026-01-05T09:00:00Z"):
                payload = {"connectorId": connector, "idTag": "A", "meterStart": meter_start, "timestamp": ts}
                return (await cp.result("StartTransaction", payload))["transactionId"]

            below = await start(1, 5000)
            await cp.result(
                "StopTransaction", {"transactionId": below, "meterStop": 4000, "timestamp": "2026-01-05T10:00:00Z"}
            )
            backwards = await start(2, 100)
            for ts, value in (("2026-01-05T09:10:00Z", "900"), ("2026-01-05T09:20:00Z", "700")):
                await cp.result(
                    "MeterValues",
                    {
                        "connectorId": 2,
                        "transactionId": backwards,
                        "meterValue": [{"timestamp": ts, "sampledValue": [{"value": value}]}],
                    },
                )
            await cp.result(
                "StopTransaction", {"transactionId": backwards, "meterStop": 1200, "timestamp": "2026-01-05T10:00:00Z"}
            )
            from_future = await start(3, 0)
            await cp.result(
                "MeterValues",
                {
                    "connectorId": 3,
                    "transactionId": from_future,
                    "meterValue": [{"timestamp": future, "sampledValue": [{"value": "10"}]}],
                },
            )
            return below, backwards, from_future

    below, backwards, from_future = run(scenario())

    sessions = ChargingSession.objects.in_bulk([below, backwards, from_future])
    assert sessions[below].meter_flags == ["stop_below_start"]
    assert sessions[below].energy_wh is None
    assert sessions[backwards].meter_flags == ["register_backwards"]
    assert sessions[backwards].energy_wh is None
    assert sessions[from_future].meter_flags == ["sample_from_future"]


def test_messages_before_acceptance_are_refused_for_a_rejected_station(ocpp_server):
    StationFactory(identity="REJ-1", registration_status="Rejected")

    async def scenario():
        async with open_charger(ocpp_server.url, "REJ-1", STATION_PASSWORD) as ws:
            cp = Charger(ws)
            return await cp.result("BootNotification", BOOT), await cp.call(
                "StatusNotification", {"connectorId": 1, "errorCode": "NoError", "status": "Available"}
            )

    boot, status = run(scenario())
    assert boot["status"] == "Rejected"
    assert status[2] == "SecurityError"
    assert not Connector.objects.filter(station__identity="REJ-1", connector_id=1).exists()
