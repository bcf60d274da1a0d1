"""The charger's side of an OCPP-J 1.6 connection, without any behaviour.

`OcppLink` keeps one charger connected: it opens the websocket (subprotocol
ocpp1.6, HTTP Basic auth), reconnects with doubling backoff and jitter, and
for each connection runs a reader beside the behaviour's `online` coroutine.
`OcppConnection` is one open websocket: framing, at most one CALL of ours
outstanding (OCPP-J allows one per side), and routing of incoming frames:
answers go to the waiting CALL, the server's CALLs to a responder, so they
are answered even while we wait for the answer to ours.

What to count is left to an `Observer`: the simulator keeps a few totals,
the load benchmark keeps them per phase. Nothing here imports Django.
"""

import asyncio
import base64
import itertools
import json
import random
import time
from collections.abc import Awaitable, Callable
from urllib.parse import quote

from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed
from websockets.typing import Subprotocol

# What a server CALL is answered with: the frame to send back, and what to do once it is sent.
Followup = Callable[[], Awaitable[None]]
Responder = Callable[[str, object, object], tuple[list, Followup | None]]


class CallFailed(Exception):
    """One of our CALLs got no CALLRESULT."""


class NotConnected(CallFailed):
    pass


class CallTimeout(CallFailed):
    pass


class CallErrored(CallFailed):
    def __init__(self, code: str, description: str):
        super().__init__(f"{code}: {description}")
        self.code = code


class Observer:
    """What a transport reports. Every hook is a no-op here; override the ones you count."""

    def connecting(self) -> None: ...

    def connected(self, handshake_ms: float) -> None: ...

    def connect_failed(self, reason: str) -> None: ...

    def disconnected(self, close_code: int | None) -> None: ...

    def call_sent(self, action: str) -> None: ...

    def call_answered(self, action: str, ms: float) -> None: ...

    def call_errored(self, action: str, ms: float, code: str, description: str) -> None: ...

    def call_timed_out(self, action: str) -> None: ...

    def call_lost(self, action: str) -> None: ...

    def server_call(self, action: object) -> None: ...

    def frame_dropped(self, why: str, raw: str | bytes) -> None: ...

    def reconnecting(self, delay_s: float, reason: str, failures: int) -> None: ...

    def failed(self, exc: BaseException) -> None:
        """A bug in the behaviour or the responder; the link reconnects rather than die."""


def not_supported(unique_id: str, action: object = None, payload: object = None) -> tuple[list, None]:
    """A responder for a charger that implements none of the server's CALLs."""
    return [4, unique_id, "NotSupported", "not supported by this charger", {}], None


def _resolve(future: asyncio.Future, value: object) -> None:
    if not future.done():
        future.set_result(value)


_TIMEOUT = object()


class OcppConnection:
    """One open websocket: our CALLs one at a time, every incoming frame routed."""

    def __init__(
        self,
        ws: ClientConnection,
        *,
        responder: Responder,
        observer: Observer,
        call_timeout_s: float,
        ids: itertools.count,
        spawn: Callable[[Awaitable[None]], object] = asyncio.ensure_future,
    ):
        self.ws = ws
        self.responder = responder
        self.observer = observer
        self.call_timeout_s = call_timeout_s
        self._ids = ids
        self._spawn = spawn
        self._lock = asyncio.Lock()
        self._pending: tuple[str, asyncio.Future] | None = None
        self.closed = False

    async def call(self, action: str, payload: dict) -> dict:
        """Send one CALL and return its CALLRESULT payload.

        Raises CallTimeout, CallErrored, or NotConnected when the socket is
        gone (before or while waiting). Timeouts use the loop's timer rather
        than asyncio.wait_for: no task per CALL, which matters at 10,000 chargers.
        """
        async with self._lock:
            if self.closed:
                raise NotConnected(action)
            loop = asyncio.get_running_loop()
            unique_id = str(next(self._ids))
            future = loop.create_future()
            self._pending = (unique_id, future)
            timer = loop.call_later(self.call_timeout_s, _resolve, future, _TIMEOUT)
            started = time.perf_counter()
            self.observer.call_sent(action)
            try:
                await self.ws.send(json.dumps([2, unique_id, action, payload], separators=(",", ":")))
                answer = await future
            except (ConnectionClosed, NotConnected):
                self.observer.call_lost(action)
                raise NotConnected(action) from None
            finally:
                timer.cancel()
                self._pending = None
        if answer is _TIMEOUT:
            self.observer.call_timed_out(action)
            raise CallTimeout(f"{action}: no answer in {self.call_timeout_s}s")
        ms = (time.perf_counter() - started) * 1000.0
        if answer[0] == 4:
            code, description = (list(answer[2:4]) + ["", ""])[:2]
            self.observer.call_errored(action, ms, str(code), str(description))
            raise CallErrored(str(code), str(description))
        self.observer.call_answered(action, ms)
        return answer[2] if len(answer) > 2 and isinstance(answer[2], dict) else {}

    async def read(self) -> None:
        """Route frames until the socket closes; never waits on a CALL of our own."""
        try:
            async for raw in self.ws:
                try:
                    frame = json.loads(raw)
                    kind, unique_id = frame[0], frame[1]
                except (ValueError, TypeError, IndexError, KeyError):
                    self.observer.frame_dropped("unreadable", raw)
                    continue
                if kind == 2:
                    self.observer.server_call(frame[2] if len(frame) > 2 else None)
                    answer, followup = self.responder(unique_id, *frame[2:4])
                    await self.ws.send(json.dumps(answer, separators=(",", ":")))
                    if followup is not None:
                        self._spawn(followup())
                    continue
                pending = self._pending
                if kind in (3, 4) and pending is not None and pending[0] == unique_id:
                    _resolve(pending[1], frame)
                else:
                    self.observer.frame_dropped("matches no CALL of ours", raw)
        except ConnectionClosed:
            pass
        finally:
            self.closed = True
            if self._pending is not None and not self._pending[1].done():
                self._pending[1].set_exception(NotConnected("connection closed"))

    async def close(self) -> None:
        # Under the CALL lock: a CALL already on its way is answered (or times out) first.
        async with self._lock:
            await self.ws.close()


class Backoff:
    """Doubling reconnect delays with jitter, so a fleet does not come back in lock-step."""

    def __init__(self, first_s: float = 1.0, max_s: float = 60.0, rng: random.Random | None = None):
        self.first_s = first_s
        self.max_s = max_s
        self.rng = rng or random.Random()
        self.failures = 0

    def reset(self) -> None:
        self.failures = 0

    def next_delay(self) -> float:
        self.failures += 1
        ceiling = min(self.max_s, self.first_s * 2.0 ** min(self.failures - 1, 30))
        return ceiling * self.rng.uniform(0.5, 1.0)


def connect_failure_reason(exc: BaseException) -> str:
    """A short reason for a failed handshake: the HTTP status, the errno, or the exception's name."""
    response = getattr(exc, "response", None)
    if response is not None and getattr(response, "status_code", None):
        return f"HTTP {response.status_code}"
    if isinstance(exc, OSError) and exc.errno:
        return f"{type(exc).__name__} errno {exc.errno}"
    return type(exc).__name__


class OcppLink:
    """Keeps one charger connected until `stop()`: connect, serve, back off, again.

    `online(connection)` is the behaviour for one connection; the link ends it
    when the socket closes, and closes the socket when it returns.
    """

    def __init__(
        self,
        base_url: str,
        identity: str,
        password: str,
        *,
        responder: Responder = not_supported,
        observer: Observer | None = None,
        call_timeout_s: float = 30.0,
        open_timeout_s: float = 30.0,
        backoff: Backoff | None = None,
        spawn: Callable[[Awaitable[None]], object] = asyncio.ensure_future,
        **connect_options,
    ):
        self.identity = identity
        self.url = base_url.rstrip("/") + "/" + quote(identity, safe="")
        token = base64.b64encode(f"{identity}:{password}".encode()).decode()
        self.headers = {"Authorization": f"Basic {token}"}
        self.responder = responder
        self.observer = observer or Observer()
        self.call_timeout_s = call_timeout_s
        self.open_timeout_s = open_timeout_s
        self.backoff = backoff or Backoff()
        self.spawn = spawn
        # Chargers rarely negotiate compression, and it costs memory per connection.
        self.connect_options = {"compression": None, "close_timeout": 5, **connect_options}
        self.connection: OcppConnection | None = None
        self.stopping = False
        self.last_close_reason = ""
        self._reconnect_after: float | None = None
        self._ids = itertools.count(1)

    def reconnect_after(self, seconds: float) -> None:
        """The next reconnect waits this long instead of backing off (a charger rebooting)."""
        self._reconnect_after = seconds

    async def open(self) -> OcppConnection | None:
        """One connection attempt; None (and the observer told why) when it fails."""
        self.observer.connecting()
        started = time.perf_counter()
        try:
            ws = await connect(
                self.url,
                subprotocols=[Subprotocol("ocpp1.6")],
                additional_headers=self.headers,
                open_timeout=self.open_timeout_s,
                **self.connect_options,
            )
        except Exception as exc:  # noqa: BLE001 - every failed handshake is retried, whatever went wrong
            self.last_close_reason = connect_failure_reason(exc)
            self.observer.connect_failed(self.last_close_reason)
            return None
        self.observer.connected((time.perf_counter() - started) * 1000.0)
        return OcppConnection(
            ws,
            responder=self.responder,
            observer=self.observer,
            call_timeout_s=self.call_timeout_s,
            ids=self._ids,
            spawn=self.spawn,
        )

    async def serve(self, connection: OcppConnection, online: Callable[[OcppConnection], Awaitable[None]]) -> None:
        """Run the reader and the behaviour side by side until either ends."""
        self.connection = connection
        reader = asyncio.ensure_future(connection.read())
        work = asyncio.ensure_future(online(connection))
        try:
            await asyncio.wait({reader, work}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            self.connection = None
            connection.closed = True
            work.cancel()
            if not reader.done():
                await connection.ws.close()
            for result in await asyncio.gather(reader, work, return_exceptions=True):
                if isinstance(result, Exception) and not isinstance(result, CallFailed | ConnectionClosed):
                    self.observer.failed(result)
            code = connection.ws.close_code
            self.last_close_reason = f"closed {code if code is not None else 1006}"
            self.observer.disconnected(code)

    async def run(
        self,
        online: Callable[[OcppConnection], Awaitable[None]],
        *,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    ) -> None:
        """Stay connected, reconnecting after a pause, until stop()."""
        while not self.stopping:
            connection = await self.open()
            if connection is not None:
                await self.serve(connection, online)
            if self.stopping:
                break
            if self._reconnect_after is not None:
                delay, self._reconnect_after = self._reconnect_after, None
                self.observer.reconnecting(delay, self.last_close_reason, 0)
            else:
                delay = self.backoff.next_delay()
                self.observer.reconnecting(delay, self.last_close_reason, self.backoff.failures)
            await sleep(delay)

    async def stop(self) -> None:
        """No more reconnects; close the current connection."""
        self.stopping = True
        if self.connection is not None:
            await self.connection.close()
