"""The system as production runs it: a server process dies under load and comes back."""

import asyncio
import json
import threading

import pytest
from websockets.exceptions import ConnectionClosed, InvalidHandshake, InvalidStatus

from stations.models import ChargingSession, ChargingStation
from stations.services import registration
from tests.conftest import _free_port, run_server
from tests.helpers import eventually
from tests.ocpp_client import open_charger

pytestmark = pytest.mark.usefixtures("live_db")

CHARGERS = 100
PASSWORD = "restart-test-secret-0001"


async def _call(ws, unique_id: str, action: str, payload: dict) -> dict:
    await ws.send(json.dumps([2, unique_id, action, payload]))
    while True:
        frame = json.loads(await asyncio.wait_for(ws.recv(), 10))
        if frame[0] == 3 and frame[1] == unique_id:
            return frame[2]


async def _connect_with_retry(url: str, identity: str):
    for attempt in range(100):
        try:
            return await open_charger(url, identity, PASSWORD).__aenter__()
        except (OSError, InvalidHandshake, InvalidStatus, TimeoutError):
            await asyncio.sleep(0.1 + (attempt % 5) * 0.05)
    raise RuntimeError(f"{identity} could not reconnect")


def test_server_restart_with_100_chargers_loses_and_duplicates_nothing(django_db_setup):
    registration.stations_register_bulk(entries=[(f"RS-{n:03d}", PASSWORD) for n in range(CHARGERS)])
    port = _free_port()
    starts = {
        f"RS-{n:03d}": {"connectorId": 1, "idTag": "T", "meterStart": 1000 * n, "timestamp": "2026-02-01T10:00:00Z"}
        for n in range(CHARGERS)
    }

    async def before_restart(url):
        sockets, tx = {}, {}

        async def one(identity):
            ws = await _connect_with_retry(url, identity)
            await _call(ws, "b", "BootNotification", {"chargePointVendor": "T", "chargePointModel": "T"})
            tx[identity] = (await _call(ws, "s", "StartTransaction", starts[identity]))["transactionId"]
            sockets[identity] = ws

        await asyncio.gather(*(one(i) for i in starts))
        return sockets, tx

    async def after_restart(url, old_sockets):
        for ws in old_sockets.values():
            with pytest.raises(ConnectionClosed):
                await asyncio.wait_for(ws.recv(), 10)
        retried, stopped = {}, {}

        async def one(identity):
            ws = await _connect_with_retry(url, identity)
            # The answer to the start may have been lost with the server: the charger retries it.
            retried[identity] = (await _call(ws, "s", "StartTransaction", starts[identity]))["transactionId"]
            stop = {
                "transactionId": retried[identity],
                "meterStop": int(starts[identity]["meterStart"]) + 500,
                "timestamp": "2026-02-01T11:00:00Z",
            }
            await _call(ws, "t1", "StopTransaction", stop)
            stopped[identity] = await _call(ws, "t2", "StopTransaction", stop)  # and the stop, twice
            await ws.close()

        await asyncio.gather(*(one(i) for i in starts))
        return retried

    phase_one_done, server_back = threading.Event(), threading.Event()
    outcome = {}

    async def scenario(url):
        sockets, outcome["tx"] = await before_restart(url)
        phase_one_done.set()
        await asyncio.to_thread(server_back.wait, 60)
        outcome["retried"] = await after_restart(url, sockets)

    chargers = threading.Thread(target=lambda: asyncio.run(scenario(f"ws://127.0.0.1:{port}/ocpp/")))
    with run_server(port=port) as server:
        chargers.start()
        assert phase_one_done.wait(60)
        assert eventually(lambda: ChargingStation.objects.filter(connected=True).count() == CHARGERS)
        server.process.kill()  # no shutdown, no goodbye
        server.process.wait()
    with run_server(port=port):
        server_back.set()
        chargers.join(120)

    assert outcome["retried"] == outcome["tx"]
    sessions = ChargingSession.objects.all()
    assert sessions.count() == CHARGERS
    assert {s.energy_wh for s in sessions} == {500}
    assert not sessions.filter(stop_at__isnull=True).exists()
