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


class BackgroundCharger:
    """A charger in its own thread that answers the server's CALLs, for tests written synchronously.

    `answers` maps an action to the CALLRESULT payload, or to ("error", code) for a CALLERROR,
    or to a callable taking the payload. `delay` holds each answer back.
    """

    def __init__(
        self,
        url: str,
        identity: str,
        password: str,
        answers: dict | None = None,
        delay: float = 0.0,
        followups: dict | None = None,
        close_after: tuple[str, ...] = (),
    ):
        self.url, self.identity, self.password = url, identity, password
        self.answers = answers or {}
        # action -> [(action, payload), ...] the charger sends after answering that action
        self.followups = followups or {}
        # actions after whose answer the charger drops its socket at once (a reboot)
        self.close_after = close_after
        self.delay = delay
        self.calls: list[list] = []
        self.max_outstanding_seen = 0
        self._outstanding = 0
        self._ready = __import__("threading").Event()
        self._stop: asyncio.Event | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread = None
        self.error: BaseException | None = None

    def __enter__(self):
        import threading

        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()
        if not self._ready.wait(10):
            raise RuntimeError(f"{self.identity} did not connect: {self.error}")
        if self.error:
            raise self.error
        return self

    def send(self, action: str, payload: dict) -> None:
        """Send a CALL of the charger's own from the test thread (its answer is skipped)."""
        frame = json.dumps([2, f"own-{len(self.calls)}-{action}", action, payload])
        asyncio.run_coroutine_threadsafe(self._ws.send(frame), self._loop).result(5)

    def __exit__(self, *exc):
        if self._loop and self._stop:
            self._loop.call_soon_threadsafe(self._stop.set)
        self._thread.join(10)

    def _run(self):
        try:
            asyncio.run(self._main())
        except BaseException as exc:  # reported to the test through __enter__ or .error
            self.error = exc
            self._ready.set()

    async def _main(self):
        self._loop = asyncio.get_running_loop()
        self._stop = asyncio.Event()
        async with open_charger(self.url, self.identity, self.password) as ws:
            await ws.send(
                json.dumps([2, "boot", "BootNotification", {"chargePointVendor": "T", "chargePointModel": "T"}])
            )
            await ws.recv()
            self._ws = ws
            self._ready.set()
            reader = asyncio.create_task(self._serve(ws))
            await self._stop.wait()
            reader.cancel()

    async def _serve(self, ws):
        async for message in ws:
            frame = json.loads(message)
            if frame[0] != 2:
                continue
            self.calls.append(frame)
            asyncio.create_task(self._answer(ws, frame))

    async def _answer(self, ws, frame):
        self._outstanding += 1
        self.max_outstanding_seen = max(self.max_outstanding_seen, self._outstanding)
        try:
            if self.delay:
                await asyncio.sleep(self.delay)
            _, unique_id, action, payload = frame
            answer = self.answers.get(action, {"status": "Accepted"})
            if callable(answer):
                answer = answer(payload)
            if answer is None:
                return  # never answer: the server must time out
            if isinstance(answer, tuple):
                await ws.send(json.dumps([4, unique_id, answer[1], "test error", {}]))
            else:
                await ws.send(json.dumps([3, unique_id, answer]))
            if action in self.close_after:
                await ws.close()
                return
            for n, (follow_action, follow_payload) in enumerate(self.followups.get(action, [])):
                # Our own CALLs; their answers are read and skipped by _serve.
                await ws.send(json.dumps([2, f"f-{unique_id}-{n}", follow_action, follow_payload]))
                await asyncio.sleep(0.05)
        finally:
            self._outstanding -= 1
