#!/usr/bin/env python
"""A reference OCPP 1.6J central system for the load benchmark's comparison mode.

    python benchmarks/ocpp_reference.py --host 127.0.0.1 --port 8800
    python benchmarks/ocpp_reference.py --check      # does it answer as OCPP 1.6 says?

The `ocpp` library's own `ChargePoint` (its routing, its strict JSON-schema
validation of every request and answer, run in the loop's default executor as
the library does by default) on plain `websockets`, answering every message a
charger may send (the core profile and the security extension's notifications)
and persisting nothing. It takes the project's URL shape, `/ocpp/<identity>`
with the `ocpp1.6` subprotocol and HTTP Basic auth whose user is the identity;
the password is not checked (there is no database to check it against).

What it stands for: the cost of OCPP-J itself on this machine in Python
(websocket framing, JSON, schema validation, routing), so that the project's
figures can be read as a multiple of it. It uses uvloop when installed, as
uvicorn does for the project.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import binascii
import itertools
import json
import logging
import os
import re
import signal
import sys
from datetime import UTC, datetime
from http import HTTPStatus
from urllib.parse import unquote

from ocpp.routing import on
from ocpp.v16 import ChargePoint as LibraryChargePoint
from ocpp.v16 import call_result
from ocpp.v16.datatypes import IdTagInfo
from ocpp.v16.enums import Action, AuthorizationStatus, DataTransferStatus, RegistrationStatus
from websockets.asyncio.server import ServerConnection, serve
from websockets.exceptions import ConnectionClosed
from websockets.http11 import Request, Response

SUBPROTOCOL = "ocpp1.6"
PATH = re.compile(r"^/ocpp/(?P<identity>[^/?]+)/?(?:\?.*)?$")

# One counter for the whole process: transaction ids only ever increase, as a
# central system's must (a charger may still hold an older one after a reconnect).
_transaction_ids = itertools.count(1)


def now_iso() -> str:
    return datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def _accepted() -> IdTagInfo:
    return IdTagInfo(status=AuthorizationStatus.accepted)


class ChargePoint(LibraryChargePoint):
    """Every charger-initiated OCPP 1.6 action, answered without storing anything."""

    heartbeat_s = 60

    @on(Action.boot_notification)
    def on_boot_notification(self, charge_point_vendor: str, charge_point_model: str, **_) -> object:
        return call_result.BootNotification(
            current_time=now_iso(), interval=self.heartbeat_s, status=RegistrationStatus.accepted
        )

    @on(Action.heartbeat)
    def on_heartbeat(self, **_) -> object:
        return call_result.Heartbeat(current_time=now_iso())

    @on(Action.status_notification)
    def on_status_notification(self, connector_id: int, error_code: str, status: str, **_) -> object:
        return call_result.StatusNotification()

    @on(Action.authorize)
    def on_authorize(self, id_tag: str, **_) -> object:
        return call_result.Authorize(id_tag_info=_accepted())

    @on(Action.start_transaction)
    def on_start_transaction(self, connector_id: int, id_tag: str, meter_start: int, timestamp: str, **_) -> object:
        return call_result.StartTransaction(transaction_id=next(_transaction_ids), id_tag_info=_accepted())

    @on(Action.stop_transaction)
    def on_stop_transaction(self, meter_stop: int, timestamp: str, transaction_id: int, **kwargs) -> object:
        # idTagInfo only when the stop names a tag (OCPP 1.6, StopTransaction.conf).
        return call_result.StopTransaction(id_tag_info=_accepted() if kwargs.get("id_tag") else None)

    @on(Action.meter_values)
    def on_meter_values(self, connector_id: int, meter_value: list, **_) -> object:
        return call_result.MeterValues()

    @on(Action.data_transfer)
    def on_data_transfer(self, vendor_id: str, **_) -> object:
        # No vendor extension is known here: the answer OCPP 1.6 prescribes for that case.
        return call_result.DataTransfer(status=DataTransferStatus.unknown_vendor_id)

    @on(Action.diagnostics_status_notification)
    def on_diagnostics_status_notification(self, status: str, **_) -> object:
        return call_result.DiagnosticsStatusNotification()

    @on(Action.firmware_status_notification)
    def on_firmware_status_notification(self, status: str, **_) -> object:
        return call_result.FirmwareStatusNotification()

    @on(Action.security_event_notification)
    def on_security_event_notification(self, type: str, timestamp: str, **_) -> object:
        return call_result.SecurityEventNotification()

    @on(Action.log_status_notification)
    def on_log_status_notification(self, status: str, **_) -> object:
        return call_result.LogStatusNotification()

    @on(Action.signed_firmware_status_notification)
    def on_signed_firmware_status_notification(self, status: str, **_) -> object:
        return call_result.SignedFirmwareStatusNotification()


class SilentEmptyConnections(logging.Filter):
    """Drop the traceback websockets logs for a connection closed before sending a single byte: a port
    probe (the benchmark waits for the port that way) or a charger that gave up while queued. uvicorn
    ignores those silently; logging them would make the reference's log look worse than the project's."""

    def filter(self, record: logging.LogRecord) -> bool:
        exc = record.exc_info[1] if record.exc_info else None
        while exc is not None:
            if isinstance(exc, EOFError) and "after 0 bytes" in str(exc):
                return False
            exc = exc.__cause__
        return True


def basic_user(request: Request) -> str | None:
    header = request.headers.get("Authorization", "")
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "basic":
        return None
    try:
        user, sep, _password = base64.b64decode(token.strip(), validate=True).decode("utf-8").partition(":")
    except (binascii.Error, UnicodeDecodeError):
        return None
    return user if sep else None


def process_request(connection: ServerConnection, request: Request) -> Response | None:
    """Refuse, before the upgrade, what the project refuses: another path, or no Basic
    credentials for this identity (the subprotocol is websockets' own check: HTTP 400)."""
    match = PATH.match(request.path)
    if match is None:
        return connection.respond(HTTPStatus.NOT_FOUND, "Not Found\n")
    if basic_user(request) != unquote(match["identity"]):
        response = connection.respond(HTTPStatus.UNAUTHORIZED, "Unauthorized\n")
        response.headers["WWW-Authenticate"] = 'Basic realm="ocpp"'
        return response
    return None


async def handle(connection: ServerConnection) -> None:
    identity = unquote(PATH.match(connection.request.path)["identity"])
    charge_point = ChargePoint(identity, connection)
    try:
        await charge_point.start()
    except ConnectionClosed:
        pass


async def serve_forever(host: str, port: int, *, heartbeat_s: int, ping_s: float, max_size: int) -> None:
    ChargePoint.heartbeat_s = heartbeat_s
    loop = asyncio.get_running_loop()
    stop = loop.create_future()

    def stopping() -> None:
        if not stop.done():  # a second SIGTERM while closing is not an error
            stop.set_result(None)

    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stopping)
    async with serve(
        handle,
        host,
        port,
        subprotocols=[SUBPROTOCOL],
        process_request=process_request,
        # The project's server: pings every WS_PING s, refuses frames above
        # OCPP_MAX_FRAME_BYTES, and negotiates no compression with these chargers.
        ping_interval=ping_s or None,
        ping_timeout=ping_s or None,
        max_size=max_size,
        compression=None,
        # A fleet reconnecting at once must not be dropped by a short accept queue.
        backlog=2048,
    ):
        await stop


def run(coro) -> None:
    try:
        import uvloop
    except ImportError:
        asyncio.run(coro)
    else:
        uvloop.run(coro)


# --------------------------------------------------------------------------
# Self-check: every action through the library's own charger side
# --------------------------------------------------------------------------


async def check(heartbeat_s: int = 60) -> list[str]:
    """Start the server on a free port and drive it as a charger would. The library's
    charger side validates every request and answer against the OCPP 1.6 schemas;
    the answers' values and the refusals are checked here. Returns the problems."""
    import socket

    from ocpp.v16 import ChargePoint as ChargerSide
    from ocpp.v16 import call
    from ocpp.v16.datatypes import MeterValue, SampledValue
    from websockets.asyncio.client import connect
    from websockets.exceptions import InvalidStatus

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    ChargePoint.heartbeat_s = heartbeat_s
    problems: list[str] = []

    def expect(condition: bool, what: str) -> None:
        if not condition:
            problems.append(what)

    def auth(user: str) -> dict:
        # Any password will do: the reference checks only that the user is the identity.
        return {"Authorization": "Basic " + base64.b64encode(f"{user}:anything".encode()).decode()}

    async with serve(handle, "127.0.0.1", port, subprotocols=[SUBPROTOCOL], process_request=process_request):
        base = f"ws://127.0.0.1:{port}"
        for label, url, headers, protocols, status in (
            ("no subprotocol", f"{base}/ocpp/CHK-1", auth("CHK-1"), None, 400),
            ("another subprotocol", f"{base}/ocpp/CHK-1", auth("CHK-1"), ["ocpp2.0.1"], 400),
            ("no credentials", f"{base}/ocpp/CHK-1", {}, [SUBPROTOCOL], 401),
            ("another identity's credentials", f"{base}/ocpp/CHK-1", auth("CHK-2"), [SUBPROTOCOL], 401),
            ("another path", f"{base}/other/CHK-1", auth("CHK-1"), [SUBPROTOCOL], 404),
        ):
            try:
                async with connect(url, additional_headers=headers, subprotocols=protocols):
                    problems.append(f"{label}: accepted")
            except InvalidStatus as exc:
                expect(exc.response.status_code == status, f"{label}: HTTP {exc.response.status_code}, not {status}")

        async with connect(f"{base}/ocpp/CHK%201", additional_headers=auth("CHK 1"),
                           subprotocols=[SUBPROTOCOL]) as ws:  # fmt: skip
            expect(ws.subprotocol == SUBPROTOCOL, f"subprotocol {ws.subprotocol!r}")
            charger = ChargerSide("CHK 1", ws)
            reader = asyncio.ensure_future(charger.start())
            stamp = now_iso()

            def is_time(value: object) -> bool:
                try:
                    datetime.fromisoformat(str(value).replace("Z", "+00:00"))
                except ValueError:
                    return False
                return True

            boot = await charger.call(call.BootNotification(charge_point_vendor="V", charge_point_model="M"))
            expect(boot.status == "Accepted" and boot.interval == heartbeat_s and is_time(boot.current_time),
                   f"BootNotification: {boot}")  # fmt: skip
            beat = await charger.call(call.Heartbeat())
            expect(is_time(beat.current_time), f"Heartbeat: {beat}")
            for status in ("Available", "Preparing", "Faulted"):
                answer = await charger.call(call.StatusNotification(
                    connector_id=1, error_code="NoError" if status != "Faulted" else "GroundFailure",
                    status=status, timestamp=stamp))  # fmt: skip
                expect(answer is not None, f"StatusNotification {status}: {answer}")
            answer = await charger.call(call.Authorize(id_tag="TAG-1"))
            expect(answer.id_tag_info["status"] == "Accepted", f"Authorize: {answer}")
            ids = []
            for meter_start in (100, 200):
                answer = await charger.call(
                    call.StartTransaction(connector_id=1, id_tag="TAG-1", meter_start=meter_start, timestamp=stamp)
                )
                expect(answer.id_tag_info["status"] == "Accepted", f"StartTransaction: {answer}")
                ids.append(answer.transaction_id)
            expect(ids[1] > ids[0], f"transaction ids do not increase: {ids}")
            answer = await charger.call(call.MeterValues(
                connector_id=1, transaction_id=ids[0],
                meter_value=[MeterValue(timestamp=stamp, sampled_value=[
                    SampledValue(value="150", measurand="Energy.Active.Import.Register", unit="Wh"),
                    SampledValue(value="7200.0", measurand="Power.Active.Import", unit="W"),
                    SampledValue(value="40", measurand="SoC", location="EV", unit="Percent"),
                ])],
            ))  # fmt: skip
            expect(answer is not None, f"MeterValues: {answer}")
            answer = await charger.call(
                call.StopTransaction(meter_stop=300, timestamp=stamp, transaction_id=ids[0], id_tag="TAG-1")
            )
            expect(answer.id_tag_info and answer.id_tag_info["status"] == "Accepted", f"StopTransaction: {answer}")
            answer = await charger.call(call.StopTransaction(meter_stop=300, timestamp=stamp, transaction_id=ids[1]))
            expect(answer.id_tag_info is None, f"StopTransaction without a tag: {answer}")
            answer = await charger.call(call.DataTransfer(vendor_id="com.example", message_id="x", data="y"))
            expect(answer.status == "UnknownVendorId", f"DataTransfer: {answer}")
            for request in (
                call.DiagnosticsStatusNotification(status="Uploaded"),
                call.FirmwareStatusNotification(status="Installed"),
                call.SecurityEventNotification(type="StartupOfTheDevice", timestamp=stamp, tech_info="check"),
                call.LogStatusNotification(status="Uploaded", request_id=1),
                call.SignedFirmwareStatusNotification(status="Installed", request_id=1),
            ):
                answer = await charger.call(request)
                expect(answer is not None, f"{type(request).__name__}: {answer}")
            reader.cancel()

            # Frames the library's charger side would refuse to send: the server's own validation answers them
            # (an incomplete payload is a ProtocolError in OCPP-J 1.6, 4.2.3).
            for frame, code in (
                ('[2,"b1","BootNotification",{"chargePointVendor":"V"}]', "ProtocolError"),
                # OCPP 1.6 spells it FormationViolation; the library answers 2.0.1's FormatViolation.
                ('[2,"b2","Heartbeat",{"x":1}]', ("FormationViolation", "FormatViolation")),
                ('[2,"b3","StatusNotification",{"connectorId":"one","errorCode":"NoError","status":"Available"}]',
                 "TypeConstraintViolation"),
                ('[2,"b4","NoSuchAction",{}]', "NotSupported"),
                ('[2,"b5","Reset",{"type":"Soft"}]', "NotImplemented"),
            ):  # fmt: skip
                await ws.send(frame)
                answer = json.loads(await asyncio.wait_for(ws.recv(), 5))
                codes = code if isinstance(code, tuple) else (code,)
                expect(answer[0] == 4 and answer[1] == frame.split('"')[1] and answer[2] in codes,
                       f"{frame} -> {answer}, expected {code}")  # fmt: skip
    return problems


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8800)
    parser.add_argument(
        "--heartbeat",
        type=int,
        default=int(os.environ.get("OCPP_HEARTBEAT_INTERVAL_S", "60")),
        help="interval handed out in BootNotification.conf (default OCPP_HEARTBEAT_INTERVAL_S or 60)",
    )
    parser.add_argument(
        "--ping",
        type=float,
        default=float(os.environ.get("WS_PING", "20")),
        help="websocket ping interval and timeout in s, 0 for none (default WS_PING or 20)",
    )
    parser.add_argument("--max-size", type=int, default=int(os.environ.get("OCPP_MAX_FRAME_BYTES", "65536")))
    parser.add_argument("--log-level", default="warning")
    parser.add_argument("--check", action="store_true", help="check the answers and refusals, then exit")
    args = parser.parse_args(argv)
    # The library logs every frame at INFO; at benchmark rates that would be most of the work.
    logging.basicConfig(level=args.log_level.upper(), format="%(asctime)s %(levelname)s %(name)s %(message)s")
    logging.getLogger("websockets.server").addFilter(SilentEmptyConnections())
    if args.check:
        problems: list[str] = []

        async def checked() -> None:
            problems.extend(await check(args.heartbeat))

        logging.getLogger("ocpp").setLevel(logging.CRITICAL)  # the refused frames are logged as errors
        logging.getLogger("websockets").setLevel(logging.CRITICAL)
        run(checked())
        for problem in problems:
            print(f"problem: {problem}", file=sys.stderr)
        print(f"reference OCPP server: {'OK' if not problems else f'{len(problems)} problem(s)'}")
        return 1 if problems else 0
    run(serve_forever(args.host, args.port, heartbeat_s=args.heartbeat, ping_s=args.ping, max_size=args.max_size))
    return 0


if __name__ == "__main__":
    sys.exit(main())
