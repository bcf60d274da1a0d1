"""The OCPP-J websocket endpoint: one consumer per charger connection.

It authenticates at the handshake, parses frames, routes CALLs to the 1.6
handlers and logs every frame in and out. It holds no business rules.
"""

import asyncio
import base64
import binascii
import logging
import uuid
from http import HTTPStatus
from urllib.parse import unquote

from channels.consumer import get_handler_name
from channels.exceptions import StopConsumer
from channels.generic.websocket import AsyncWebsocketConsumer
from channels.layers import get_channel_layer
from django.conf import settings

from stations.models import FrameDirection, RegistrationStatus
from stations.services import commands, diagnostics, liveness, registration
from stations.services.frame_log import frame_record, seen_writer

from . import v16
from .admission import handshake_gate
from .local_sockets import local_sockets
from .protocol import (
    CALL,
    CALLERROR,
    CALLRESULT,
    ErrorCode,
    FrameError,
    OcppError,
    call,
    call_error,
    call_result,
    parse_frame,
    storable,
)
from .threads import db
from .throttle import MAX_WAIT_S, auth_throttle

logger = logging.getLogger(__name__)

SUBPROTOCOL = "ocpp1.6"
# Close code for a connection replaced by a newer one of the same charger.
CLOSE_REPLACED = 4000
# RFC 6455: the peer broke a rule of ours (here: no BootNotification in time).
CLOSE_POLICY_VIOLATION = 1008


def basic_auth(scope: dict) -> tuple[str, str] | None:
    for name, value in scope.get("headers", []):
        if name.lower() != b"authorization":
            continue
        scheme, _, token = value.decode("latin-1").partition(" ")
        if scheme.lower() != "basic":
            return None
        try:
            decoded = base64.b64decode(token.strip(), validate=True).decode("utf-8")
        except (binascii.Error, UnicodeDecodeError):
            return None
        username, sep, password = decoded.partition(":")
        return (username, password) if sep else None
    return None


class OcppConsumer(AsyncWebsocketConsumer):
    # No channel (and no receive loop) per socket: this process's one reader
    # hands each socket the messages for its station (local_sockets.py).
    channel_layer_alias = None
    conn: v16.Connection | None = None
    ended = False
    accepted = False
    replaced_while_opening = False
    boot_deadline: asyncio.TimerHandle | None = None

    async def __call__(self, scope, receive, send) -> None:
        """Whatever ends this connection, the station is never left shown connected."""
        try:
            await super().__call__(scope, receive, send)
        finally:
            if not self.ended:
                await asyncio.shield(self._end_connection())

    async def connect(self) -> None:
        identity = storable(unquote(self.scope["url_route"]["kwargs"]["identity"]))
        if SUBPROTOCOL not in self.scope.get("subprotocols", []):
            logger.info("refused %s: no %s subprotocol offered", identity, SUBPROTOCOL)
            await self.close()
            return
        address = (self.scope.get("client") or ("", 0))[0]
        if not await auth_throttle.wait_turn(address):
            logger.warning("refused %s from %s: too many wrong passwords from that address", identity, address)
            await self._refuse_handshake(HTTPStatus.TOO_MANY_REQUESTS, retry_after_s=int(MAX_WAIT_S))
            return
        async with handshake_gate.admitted() as admitted:
            if not admitted:
                logger.debug("refused %s: too many handshakes in progress; told to retry", identity)
                await self._refuse_handshake(
                    HTTPStatus.SERVICE_UNAVAILABLE, retry_after_s=settings.OCPP_BUSY_RETRY_AFTER_S
                )
                return
            await self._open(identity, address)

    async def _open(self, identity: str, address: str) -> None:
        """Check the charger's password, accept the socket and take the station over."""
        credentials = basic_auth(self.scope)
        password = credentials[1] if credentials and credentials[0] == identity else None
        connection_id = uuid.uuid4().hex
        result = await db(registration.station_open, identity=identity, password=password, connection_id=connection_id)
        if result is None:
            auth_throttle.failed(address)
            logger.info("refused %s: unknown identity or wrong password", identity)
            await self.close()
            return
        self.conn = v16.Connection(
            station_id=result.station_id,
            identity=result.identity,
            registration_status=result.registration_status,
            lenient=result.lenient,
            memo=result.memo,
        )
        self.connection_id = connection_id
        self.group = commands.station_group(result.station_id)
        # Our own CALLs go out one at a time (OCPP allows one outstanding per
        # side) from a task of their own, started with the first command, so
        # waiting for a charger's answer never blocks reading its own CALLs.
        self.outbox: asyncio.Queue = asyncio.Queue()
        self.awaiting: dict[str, asyncio.Future] = {}
        self.held: dict[int, str | None] = {}  # commands taken for this socket -> their reply channel
        self.closed = False
        self.sender_idle = asyncio.Event()
        self.sender_idle.set()
        self.sender: asyncio.Task | None = None
        # Any older connection of this charger, in any server process, closes. This
        # socket joins its station before it is accepted, so a still newer
        # connection that opens the moment this one is accepted replaces it too.
        await get_channel_layer().group_send(
            self.group,
            {"type": "ocpp.replaced", "station_id": result.station_id, "connection_id": self.connection_id},
        )
        await local_sockets.join(result.station_id, self)
        await self.accept(SUBPROTOCOL)
        self.accepted = True
        if self.replaced_while_opening:
            await self.close(code=CLOSE_REPLACED)
            return
        if self.conn.registration_status != RegistrationStatus.ACCEPTED:
            self.boot_deadline = asyncio.get_running_loop().call_later(settings.OCPP_BOOT_TIMEOUT_S, self._boot_overdue)

    async def _refuse_handshake(self, status: HTTPStatus, *, retry_after_s: int) -> None:
        """Refuse the upgrade with an HTTP status that tells the charger to come back
        (the ASGI websocket.http.response extension), not a bare 403."""
        if "websocket.http.response" not in self.scope.get("extensions", {}):
            await self.close()
            return
        body = f"{status.phrase}; retry in {retry_after_s} s".encode()
        await self.base_send(
            {
                "type": "websocket.http.response.start",
                "status": int(status),
                "headers": [(b"retry-after", str(retry_after_s).encode()), (b"content-type", b"text/plain")],
            }
        )
        await self.base_send({"type": "websocket.http.response.body", "body": body})

    def _boot_overdue(self) -> None:
        """A station not yet accepted must boot; an accepted one may reconnect without
        rebooting (OCPP 1.6 asks for BootNotification only after a restart)."""
        if self.conn is not None and not self.conn.booted and not self.ended:
            logger.warning(
                "%s sent no BootNotification in %s s; closing", self.conn.identity, settings.OCPP_BOOT_TIMEOUT_S
            )
            asyncio.get_running_loop().create_task(self.close(code=CLOSE_POLICY_VIOLATION))

    async def dispatch(self, message: dict) -> None:
        """Route a message to its handler, without Channels' per-message hop to the
        shared sync thread to close old database connections: no handler here uses
        the ORM on the event loop (threads.db runs in pool threads and closes its own).

        A failure while handling one message is logged and the connection lives:
        one bad frame must not cost the charger its socket."""
        handler = getattr(self, get_handler_name(message), None)
        if handler is None:
            logger.warning("no handler for message type %r", message.get("type"))
            return
        if message["type"] in ("websocket.connect", "websocket.disconnect"):
            await handler(message)
            return
        try:
            await handler(message)
        except Exception:
            logger.exception("%s: %s failed", self.conn.identity if self.conn else "?", message["type"])

    async def websocket_disconnect(self, message: dict) -> None:
        """Channels' own version also closes old database connections through the
        one shared sync thread: in a reconnect storm, thousands of refused and
        abandoned handshakes queued there. This consumer's database work runs in
        its own pool threads, which close their own."""
        await self._end_connection()
        raise StopConsumer()

    async def _end_connection(self) -> None:
        if self.ended:
            return
        self.ended = True
        if self.conn is None:
            return
        if self.boot_deadline is not None:
            self.boot_deadline.cancel()
        try:
            await local_sockets.leave(self.conn.station_id, self)
        except Exception:
            # The channel layer is down; the group entry expires on its own.
            logger.exception("%s: could not leave the command group", self.conn.identity)
        try:
            await self._end_commands()
        finally:
            await db(liveness.station_disconnected, station_id=self.conn.station_id, connection_id=self.connection_id)

    async def _end_commands(self) -> None:
        # A command whose answer already arrived (a charger answers Reset, then
        # closes to reboot) is recorded as answered; one still waiting ends as
        # offline at once. Then the sender stops, and what it never sent too.
        self.closed = True
        for waiting in self.awaiting.values():
            if not waiting.done():
                waiting.set_result(None)
        try:
            await asyncio.wait_for(asyncio.shield(self.sender_idle.wait()), 10)
        except TimeoutError:
            logger.warning("%s: command in progress did not finish recording", self.conn.identity)
        if self.sender is not None:
            self.sender.cancel()
        if self.held:
            held, self.held = self.held, {}
            await db(commands.commands_fail_open_for_connection, command_ids=sorted(held))
            for command_id, reply_to in held.items():
                await self._reply(reply_to, command_id, "offline")

    async def layer_message(self, message: dict) -> None:
        """A message for this charger's station, from this process's channel reader."""
        await self.dispatch(message)

    async def ocpp_replaced(self, event: dict) -> None:
        if event["connection_id"] == self.connection_id:
            return
        if not self.accepted:
            # Closing a socket mid-handshake breaks the server's websocket; close once accepted.
            self.replaced_while_opening = True
            return
        logger.info("%s: connection replaced by a newer one", self.conn.identity if self.conn else "?")
        await self.close(code=CLOSE_REPLACED)

    async def ocpp_command(self, event: dict) -> None:
        """A command for this charger, from any process."""
        self.held[event["command_id"]] = event.get("reply_to")
        self.outbox.put_nowait(event["command_id"])
        if self.sender is None and not self.closed:
            self.sender = asyncio.get_running_loop().create_task(self._send_commands())

    async def _send_commands(self) -> None:
        while True:
            command_id = await self.outbox.get()
            if self.closed:
                continue  # left in `held`: disconnect() ends it as offline
            self.sender_idle.clear()
            try:
                try:
                    status = await self._send_command(command_id)
                except Exception:
                    logger.exception("%s: command %s failed", self.conn.identity, command_id)
                    status = None
                reply_to = self.held.pop(command_id, None)
                if status:
                    await self._reply(reply_to, command_id, status)
            finally:
                # Idle only once the outcome is recorded and the caller told.
                self.sender_idle.set()

    async def _reply(self, reply_to: str | None, command_id: int, status: str) -> None:
        """Tell a caller waiting for this command how it ended."""
        if reply_to:
            await get_channel_layer().send(
                reply_to, {"type": "command.done", "command_id": command_id, "status": status}
            )

    async def _send_command(self, command_id: int) -> str | None:
        unique_id = uuid.uuid4().hex
        command = await db(commands.command_claim, command_id=command_id, unique_id=unique_id)
        if command is None:
            return None  # ended already (timed out while queued, or claimed by an older socket)
        loop = asyncio.get_running_loop()
        answer_future = loop.create_future()
        self.awaiting[unique_id] = answer_future
        raw = call(unique_id, command.action, await self._payload_to_send(command))
        elapsed = (command.sent_at - command.created_at).total_seconds()
        try:
            await self._send_logged(raw, CALL, command.action, unique_id)
            answer = await asyncio.wait_for(answer_future, max(1.0, command.timeout_s - elapsed))
        except TimeoutError:
            answer = None
        finally:
            self.awaiting.pop(unique_id, None)
        result = await db(
            commands.command_complete,
            command_id=command_id,
            answer=answer,
            connection_lost=answer is None and self.closed,
        )
        return result.status

    async def _payload_to_send(self, command) -> dict:
        """An upload address made without PUBLIC_BASE_URL names where this charger reached us."""
        if not diagnostics.upload_location_unresolved(command.action, command.payload):
            return command.payload
        scope = self.scope
        base_url = diagnostics.upload_base_url(
            scheme=scope.get("scheme", "ws"), headers=scope.get("headers", []), server=scope.get("server")
        )
        return await db(diagnostics.diagnostics_upload_locate, command_id=command.pk, base_url=base_url)

    async def receive(self, text_data: str | None = None, bytes_data: bytes | None = None) -> None:
        conn = self.conn
        text = text_data if text_data is not None else (bytes_data or b"").decode("utf-8", "replace")
        seen_writer.add(conn.station_id)
        try:
            frame = parse_frame(text)
        except FrameError as exc:
            frame_record(
                station_id=conn.station_id,
                direction=FrameDirection.IN,
                raw=text,
                message_type=exc.message_type,
                unique_id=exc.unique_id or "",
                error_code=exc.code,
            )
            logger.warning("%s sent a malformed frame: %s", conn.identity, exc.description)
            if exc.answerable:
                await self._send_error(exc.unique_id, exc)
            return
        frame_record(
            station_id=conn.station_id,
            direction=FrameDirection.IN,
            raw=text,
            message_type=frame.message_type,
            action=frame.action,
            unique_id=frame.unique_id,
            error_code=frame.error_code,
        )
        if frame.message_type == CALL:
            await self._answer_call(frame.unique_id, frame.action, frame.payload)
            return
        waiting = self.awaiting.get(frame.unique_id)
        if waiting is None or waiting.done():
            logger.warning("%s answered %s, which matches no CALL we sent; dropped", conn.identity, frame.unique_id)
            return
        if frame.message_type == CALLRESULT:
            waiting.set_result([CALLRESULT, frame.unique_id, frame.payload])
        else:
            waiting.set_result(
                [CALLERROR, frame.unique_id, frame.error_code, frame.error_description, frame.error_details]
            )

    async def _answer_call(self, unique_id: str, action: str, payload: dict) -> None:
        try:
            response = await v16.dispatch(self.conn, action, payload)
        except OcppError as exc:
            await self._send_error(unique_id, exc, action=action)
            return
        except Exception:
            logger.exception("%s: %s failed", self.conn.identity, action)
            await self._send_error(
                unique_id, OcppError(ErrorCode.INTERNAL_ERROR, f"{action} could not be processed"), action=action
            )
            return
        await self._send_logged(call_result(unique_id, response), CALLRESULT, action, unique_id)

    async def _send_error(self, unique_id: str, exc: OcppError, action: str = "") -> None:
        raw = call_error(unique_id, exc.code, exc.description, exc.details)
        await self._send_logged(raw, CALLERROR, action, unique_id, error_code=exc.code)

    async def _send_logged(
        self, raw: str, message_type: int, action: str, unique_id: str, error_code: str = ""
    ) -> None:
        """Every frame we send goes into the frame log."""
        await self.send(text_data=raw)
        frame_record(
            station_id=self.conn.station_id,
            direction=FrameDirection.OUT,
            raw=raw,
            message_type=message_type,
            action=action,
            unique_id=unique_id,
            error_code=error_code,
        )
