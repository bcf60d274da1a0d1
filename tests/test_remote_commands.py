"""Remote commands, end to end: real server processes, Redis, a real worker, real websockets."""

import json
import subprocess
import sys
import threading
import time
import urllib.request
from urllib.error import HTTPError

import pytest
from django.core.management import call_command
from rest_framework.authtoken.models import Token

from config.celery import app as celery_app
from stations.models import ChargingStation, ConfigurationChange, ConfigurationKey, RemoteCommand, Reservation
from stations.services import commands
from tests.conftest import BASE_DIR, process_env, run_server, run_worker
from tests.factories import STATION_PASSWORD, StationFactory
from tests.helpers import eventually
from tests.ocpp_client import BackgroundCharger

pytestmark = pytest.mark.usefixtures("live_db")


def _api(server, token: str, identity: str, body: dict) -> tuple[int, dict]:
    request = urllib.request.Request(
        f"{server.http}/api/stations/{identity}/commands/",
        data=json.dumps(body).encode(),
        headers={"Authorization": f"Token {token}", "Content-Type": "application/json"},
        method="POST",
    )
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            return response.status, json.loads(response.read())
    except HTTPError as exc:
        return exc.code, json.loads(exc.read() or b"{}")


def _token(user) -> str:
    return Token.objects.create(user=user).key


def test_command_sent_through_another_server_process_reaches_the_charger(ocpp_server, actors):
    StationFactory(identity="XP-1")
    token = _token(actors.operator)
    with run_server() as other, BackgroundCharger(ocpp_server.url, "XP-1", STATION_PASSWORD) as charger:
        status, body = _api(other, token, "XP-1", {"action": "Reset", "payload": {"type": "Soft"}, "confirm": True})

    assert status == 201, body
    assert body["status"] == "accepted"
    assert body["response"] == {"status": "Accepted"}
    assert body["requested_by"] == actors.operator.username
    assert [c[2:] for c in charger.calls] == [["Reset", {"type": "Soft"}]]
    command = RemoteCommand.objects.get()
    assert (command.requested_by, command.requested_via) == (actors.operator, "api")
    assert command.sent_at and command.completed_at


@pytest.mark.filterwarnings("ignore::celery.exceptions.AlwaysEagerIgnored")  # send_task always goes to the broker
def test_command_sent_from_a_celery_worker_reaches_the_charger(ocpp_server):
    station = StationFactory(identity="WK-1")
    with BackgroundCharger(ocpp_server.url, "WK-1", STATION_PASSWORD) as charger, run_worker():
        celery_app.send_task(
            "stations.tasks.send_station_command",
            args=[station.pk, "TriggerMessage", {"requestedMessage": "StatusNotification"}, "worker: test"],
        )
        assert eventually(lambda: RemoteCommand.objects.filter(status="accepted").exists(), timeout=30)

    command = RemoteCommand.objects.get()
    assert (command.action, command.requested_via, command.requested_by) == ("TriggerMessage", "worker: test", None)
    assert charger.calls[0][2] == "TriggerMessage"


def test_send_command_cli_prints_the_outcome_and_exits_zero_on_callresult(ocpp_server):
    StationFactory(identity="CLI-1")
    answers = {
        "GetConfiguration": {"configurationKey": [{"key": "HeartbeatInterval", "readonly": False, "value": "60"}]}
    }
    with BackgroundCharger(ocpp_server.url, "CLI-1", STATION_PASSWORD, answers=answers):
        result = subprocess.run(
            [sys.executable, "manage.py", "send_command", "CLI-1", "GetConfiguration", "--timeout", "10"],
            cwd=BASE_DIR,
            env=process_env(),
            capture_output=True,
            text=True,
            timeout=60,
        )

    assert result.returncode == 0, result.stderr
    outcome = json.loads(result.stdout)
    assert outcome["status"] == "accepted"
    assert outcome["response"]["configurationKey"][0]["key"] == "HeartbeatInterval"


def test_send_command_cli_exits_nonzero_without_callresult():
    StationFactory(identity="CLI-2")
    with pytest.raises(SystemExit) as exited:
        call_command("send_command", "CLI-2", "ClearCache")
    assert exited.value.code == 1
    assert RemoteCommand.objects.get().status == "offline"


def test_command_to_a_station_that_is_not_connected_ends_offline_at_once():
    station = StationFactory(identity="OFF-1", connected=False)
    command = commands.command_send(station=station, action="ClearCache", requested_via="test")
    assert command.status == "offline"
    assert command.completed_at is not None


def test_command_to_a_station_whose_process_died_times_out():
    # The database still says connected, but no process holds the socket.
    station = StationFactory(identity="GONE-1", connected=True)
    started = time.monotonic()
    command = commands.command_send(station=station, action="ClearCache", requested_via="test", timeout_s=1)
    assert command.status == "timed_out"
    assert time.monotonic() - started < 10


def test_commands_left_open_are_expired_by_the_sweep():
    station = StationFactory(identity="GONE-2", connected=True)
    command = commands.command_create(station=station, action="ClearCache", requested_via="test", timeout_s=1)
    RemoteCommand.objects.filter(pk=command.pk).update(created_at=command.created_at.replace(year=2020))
    assert commands.commands_expire() == 1
    assert RemoteCommand.objects.get(pk=command.pk).status == "timed_out"


def test_charger_that_never_answers_times_out(ocpp_server):
    station = StationFactory(identity="MUTE-1")
    with BackgroundCharger(ocpp_server.url, "MUTE-1", STATION_PASSWORD, answers={"ClearCache": lambda p: None}):
        command = commands.command_send(station=station, action="ClearCache", requested_via="test", timeout_s=1)
    assert command.status == "timed_out"


@pytest.mark.parametrize(
    ("answer", "status", "error_code"),
    [
        ({"status": "Rejected"}, "rejected", ""),
        ({"status": "NotSupported"}, "not_supported", ""),
        (("error", "NotImplemented"), "not_supported", "NotImplemented"),
        (("error", "InternalError"), "error", "InternalError"),
        ({"status": "Perhaps"}, "error", "PropertyConstraintViolation"),
    ],
)
def test_outcome_follows_the_chargers_answer(ocpp_server, answer, status, error_code):
    station = StationFactory(identity="ANS-1")
    with BackgroundCharger(ocpp_server.url, "ANS-1", STATION_PASSWORD, answers={"ChangeConfiguration": answer}):
        command = commands.command_send(
            station=station,
            action="ChangeConfiguration",
            payload={"key": "HeartbeatInterval", "value": "120"},
            requested_via="test",
            timeout_s=10,
        )
    assert (command.status, command.error_code) == (status, error_code)


def test_commands_queue_one_outstanding_call_per_connection(ocpp_server):
    station = StationFactory(identity="Q-1")
    results = []
    answers = {"GetLocalListVersion": {"listVersion": 3}}
    with BackgroundCharger(ocpp_server.url, "Q-1", STATION_PASSWORD, answers=answers, delay=0.3) as charger:

        def send(action):
            results.append(commands.command_send(station=station, action=action, requested_via="test", timeout_s=10))

        threads = [
            threading.Thread(target=send, args=(a,)) for a in ("ClearCache", "GetLocalListVersion", "ClearCache")
        ]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(30)

    assert sorted(c.status for c in results) == ["accepted"] * 3
    assert len(charger.calls) == 3
    assert charger.max_outstanding_seen == 1


def test_configuration_is_stored_with_its_history(ocpp_server):
    station = StationFactory(identity="CFG-1")
    values = iter(["60", "300"])

    def report(payload):
        return {"configurationKey": [{"key": "HeartbeatInterval", "readonly": False, "value": next(values)}]}

    with BackgroundCharger(ocpp_server.url, "CFG-1", STATION_PASSWORD, answers={"GetConfiguration": report}):
        for _ in range(2):
            commands.command_send(station=station, action="GetConfiguration", requested_via="test", timeout_s=10)
        commands.command_send(
            station=station,
            action="ChangeConfiguration",
            payload={"key": "HeartbeatInterval", "value": "900"},
            requested_via="test",
            timeout_s=10,
        )

    assert ConfigurationKey.objects.get(station=station, key="HeartbeatInterval").value == "900"
    history = list(ConfigurationChange.objects.filter(station=station).order_by("changed_at", "id"))
    assert [(c.old_value, c.new_value) for c in history] == [(None, "60"), ("60", "300"), ("300", "900")]
    assert history[-1].command.action == "ChangeConfiguration"


def test_reservation_is_kept_and_its_id_sent(ocpp_server):
    station = StationFactory(identity="RES-1")
    with BackgroundCharger(ocpp_server.url, "RES-1", STATION_PASSWORD) as charger:
        command = commands.command_send(
            station=station,
            action="ReserveNow",
            payload={"connectorId": 1, "idTag": "TAG1", "expiryDate": "2030-01-01T10:00:00Z"},
            requested_via="test",
            timeout_s=10,
        )
    reservation = Reservation.objects.get()
    assert command.status == "accepted"
    assert charger.calls[0][3]["reservationId"] == reservation.pk
    assert reservation.status == "active"


def test_diagnostics_upload_is_stored_against_the_station(ocpp_server):
    station = StationFactory(identity="DIAG-1")
    with BackgroundCharger(
        ocpp_server.url, "DIAG-1", STATION_PASSWORD, answers={"GetDiagnostics": {"fileName": "d.zip"}}
    ):
        command = commands.command_send(station=station, action="GetDiagnostics", requested_via="test", timeout_s=10)
    location = command.payload["location"]
    upload_url = ocpp_server.http + location[location.index("/uploads/") :]
    request = urllib.request.Request(upload_url, data=b"log lines", method="PUT", headers={"X-Filename": "d.zip"})
    with urllib.request.urlopen(request, timeout=10) as response:
        assert response.status == 201
    assert station.diagnostics_files.get().size == len(b"log lines")
    forged = urllib.request.Request(
        upload_url.replace("/uploads/diagnostics/", "/uploads/diagnostics/x"), data=b"x", method="PUT"
    )
    with pytest.raises(HTTPError) as refused:
        urllib.request.urlopen(forged, timeout=10)
    assert refused.value.code == 403


def test_idle_connection_on_the_redis_channel_layer_still_receives_commands(ocpp_server):
    """channels_redis blocks on Redis reads; a client socket timeout (redis-py 8's default) would drop the
    consumer after a few seconds of silence, and the command below would time out."""
    station = StationFactory(identity="IDLE-1")
    with BackgroundCharger(ocpp_server.url, "IDLE-1", STATION_PASSWORD):
        time.sleep(15)
        command = commands.command_send(station=station, action="ClearCache", requested_via="test", timeout_s=5)
        still_connected = ChargingStation.objects.get(pk=station.pk).connected
    assert command.status == "accepted"
    assert still_connected


@pytest.mark.parametrize(
    ("actor", "action", "payload", "expected"),
    [
        ("support", "RemoteStartTransaction", {"idTag": "T1"}, 201),
        ("support", "UnlockConnector", {"connectorId": 1}, 400),  # disruptive, not confirmed
        ("support", "Reset", {"type": "Soft"}, 403),
        ("technician", "Reset", {"type": "Soft"}, 403),
        ("dispatcher", "ClearCache", {}, 403),
        ("outsider", "RemoteStartTransaction", {"idTag": "T1"}, 403),
        ("operator", "Reset", {"type": "Sometimes"}, 400),
        ("operator", "Explode", {}, 400),
    ],
)
def test_command_api_boundaries(ocpp_server, actors, actor, action, payload, expected):
    StationFactory(identity="PERM-1")
    token = _token(getattr(actors, actor))
    with BackgroundCharger(ocpp_server.url, "PERM-1", STATION_PASSWORD):
        status, body = _api(ocpp_server, token, "PERM-1", {"action": action, "payload": payload, "timeout": 5})
    assert status == expected, body
    assert RemoteCommand.objects.count() == (1 if expected == 201 else 0)


def test_answer_before_the_charger_drops_its_socket_is_recorded(ocpp_server):
    """A charger answers Reset and closes its socket at once to reboot: the answer counts."""
    station = StationFactory(identity="BOOT-1")
    with BackgroundCharger(ocpp_server.url, "BOOT-1", STATION_PASSWORD, close_after=("Reset",)):
        started = time.monotonic()
        command = commands.command_send(
            station=station, action="Reset", payload={"type": "Soft"}, requested_via="test", timeout_s=10
        )
        waited = time.monotonic() - started
    assert command.status == "accepted"
    assert waited < 5  # the waiting caller is told at once, not after its timeout
