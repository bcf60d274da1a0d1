"""A minimal OCPP-J charger for tests: sends frames, reads answers, nothing more."""

import asyncio
import base64
import itertools
import json

from websockets.asyncio.client import ClientConnection, connect

_ids = itertools.count(1)


def auth_header(identity: str, password: str) -> dict:
    token = base64.b64encode(f"{identity}:{password}".encode()).decode()
    return {"Authorization": f"Basic {token}"}


class Charger:
    def __init__(self, ws: ClientConnection):
        self.ws = ws

    async def send_raw(self, text: str) -> None:
        await self.ws.send(text)

    async def recv(self, timeout: float = 5) -> list:
        return json.loads(await asyncio.wait_for(self.ws.recv(), timeout))

    async def call(self, action: str, payload: dict, unique_id: str | None = None) -> list:
        """Send a CALL and return the answer frame (CALLRESULT or CALLERROR)."""
        unique_id = unique_id or f"t{next(_ids)}"
        await self.ws.send(json.dumps([2, unique_id, action, payload]))
        answer = await self.recv()
        assert answer[1] == unique_id, f"answer {answer} does not match CALL {unique_id}"
        return answer

    async def result(self, action: str, payload: dict, unique_id: str | None = None) -> dict:
        answer = await self.call(action, payload, unique_id)
        assert answer[0] == 3, f"{action} got {answer}"
        return answer[2]

    async def nothing_pending(self, timeout: float = 0.3) -> bool:
        try:
            await asyncio.wait_for(self.ws.recv(), timeout)
        except TimeoutError:
            return True
        return False


def open_charger(url: str, identity: str, password: str, **kwargs):
    kwargs.setdefault("subprotocols", ["ocpp1.6"])
    kwargs.setdefault("additional_headers", auth_header(identity, password))
    kwargs.setdefault("open_timeout", 5)
    return connect(url + identity, **kwargs)


async def booted(url: str, identity: str, password: str):
    """Connect and boot; returns (websocket context, Charger)."""
    ctx = open_charger(url, identity, password)
    ws = await ctx.__aenter__()
    charger = Charger(ws)
    await charger.result("BootNotification", {"chargePointVendor": "Acme", "chargePointModel": "X1"})
    return ctx, charger
