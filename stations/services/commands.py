"""Remote commands: any process asks, the process holding the charger's socket sends.

    command_request()  ─► who may send it, confirmed?  (the catalogue's rules; CommandRefused)
    command_send()  ─► RemoteCommand row (pending) ─► channel layer group of the station
                        └► the OCPP consumer holding the socket claims it (sent), sends the
                           CALL, waits for the answer or its timeout, and calls command_complete()

The row is the truth: every outcome is recorded there with compare-and-swap
on the open statuses, so a late answer, a waiter that gave up and the expiry
sweep can race without a command ending twice. Callers may wait for the
outcome (a reply channel makes that immediate) or return at once.
"""

import asyncio
import logging
import time
import weakref
from datetime import datetime, timedelta

from asgiref.sync import async_to_sync
from channels import DEFAULT_CHANNEL_LAYER
from channels.layers import channel_layers, get_channel_layer
from django.db import transaction
from django.utils import timezone

from stations.models import (
    OPEN_COMMAND_STATUSES,
    ChargingStation,
    CommandStatus,
    RemoteCommand,
    Reservation,
    ReservationStatus,
)
from stations.ocpp.protocol import ErrorCode, OcppError
from stations.ocpp.validation import validate

from . import command_access, configuration, diagnostics, live
from .command_catalogue import ACTIONS, CATALOGUE, Action

logger = logging.getLogger(__name__)

DEFAULT_TIMEOUT_S = 30.0

# The `status` values of CALLRESULTs and what they mean for the command.
_ACCEPTED = {"Accepted", "Scheduled", "Unlocked", "RebootRequired"}
_NOT_SUPPORTED = {"NotSupported", "NotImplemented", "VersionMismatch"}
_ERROR_NOT_SUPPORTED = {ErrorCode.NOT_IMPLEMENTED, ErrorCode.NOT_SUPPORTED}


class CommandRefused(ValueError):
    """A command that will not be sent, and why, in words for the person who asked.

    `reason` says which rule refused it; `field` names what to correct (the
    request's "action", "payload" or "confirm"), so a page or the API can show
    the message beside it.
    """

    UNKNOWN = "unknown"
    PERMISSION = "permission"
    CONFIRMATION = "confirmation"
    PAYLOAD = "payload"
    _FIELDS = {UNKNOWN: "action", PERMISSION: None, CONFIRMATION: "confirm", PAYLOAD: "payload"}

    def __init__(self, message: str, *, reason: str = PAYLOAD):
        super().__init__(message)
        self.reason = reason
        self.field = self._FIELDS[reason]

    @property
    def forbidden(self) -> bool:
        return self.reason == self.PERMISSION


# The name the command line and older callers catch.
CommandInvalid = CommandRefused


def _catalogued(action: str) -> Action:
    spec = CATALOGUE.get(action)
    if spec is None:
        raise CommandRefused(f"unknown command {action!r}; one of: {', '.join(ACTIONS)}", reason=CommandRefused.UNKNOWN)
    return spec


def station_group(station_id: int) -> str:
    return f"ocpp.station.{station_id}"


def command_create(
    *,
    station: ChargingStation,
    action: str,
    payload: dict | None = None,
    requested_by=None,
    requested_via: str = "",
    timeout_s: float = DEFAULT_TIMEOUT_S,
) -> RemoteCommand:
    """Validate and record a command. It is not sent until dispatched."""
    _catalogued(action)
    if not 1 <= timeout_s <= 600:
        raise CommandRefused("timeout must be between 1 and 600 seconds")
    payload = dict(payload or {})
    with transaction.atomic():
        reservation = None
        if action == "ReserveNow":
            reservation = _reservation_for(station, payload)
            payload["reservationId"] = reservation.pk
        if action == "GetDiagnostics" and not payload.get("location"):
            payload["location"] = "placeholder"  # replaced below, once the command has an id
        try:
            payload, _ = validate(action, payload)
        except OcppError as exc:
            raise CommandRefused(f"{action} payload: {exc.description}") from None
        command = RemoteCommand.objects.create(
            station=station,
            action=action,
            payload=payload,
            requested_by=requested_by if getattr(requested_by, "is_authenticated", False) else None,
            requested_via=requested_via or (f"user {requested_by.get_username()}" if requested_by else "system"),
            timeout_s=timeout_s,
        )
        if action == "GetDiagnostics" and payload["location"] == "placeholder":
            command.payload["location"] = diagnostics.diagnostics_upload_grant(command=command)
            command.save(update_fields=["payload"])
        if not ChargingStation.objects.filter(pk=station.pk, connected=True).exists():
            _finish(command.pk, CommandStatus.OFFLINE, error_description="station is not connected")
            command.refresh_from_db()
        live.station_changed(station.pk)
    return command


def _reservation_for(station: ChargingStation, payload: dict) -> Reservation:
    try:
        expires = datetime.fromisoformat(str(payload["expiryDate"]))
        connector_id, id_tag = int(payload["connectorId"]), str(payload["idTag"])
    except (KeyError, TypeError, ValueError) as exc:
        raise CommandRefused(f"ReserveNow needs connectorId, idTag and expiryDate: {exc}") from None
    if expires.tzinfo is None:
        raise CommandRefused("ReserveNow expiryDate needs a time zone")
    return Reservation.objects.create(station=station, connector_id=connector_id, id_tag=id_tag, expires_at=expires)


async def dispatch(command: RemoteCommand, *, wait: bool, extra_wait_s: float = 2.0) -> str | None:
    """Hand a command to whichever process holds the socket; optionally wait for its outcome.

    Returns the final status when waiting and an answer came, else None.
    """
    if not command.is_open:
        return command.status
    message = {"type": "ocpp.command", "station_id": command.station_id, "command_id": command.pk, "reply_to": None}
    if not wait:
        await get_channel_layer().group_send(station_group(command.station_id), message)
        return None
    layer = _layer_for_this_loop()
    message["reply_to"] = await layer.new_channel()
    await layer.group_send(station_group(command.station_id), message)
    try:
        reply = await asyncio.wait_for(layer.receive(message["reply_to"]), command.timeout_s + extra_wait_s)
    except TimeoutError:
        return None
    return reply["status"]


# channels_redis lets one event loop at a time receive on a layer instance, and
# sync callers in several threads each run their own loop: one instance per loop
# (a new instance per call would pile a close hook per call onto a long-lived loop).
_layers_by_loop: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()


def _layer_for_this_loop():
    loop = asyncio.get_running_loop()
    layer = _layers_by_loop.get(loop)
    if layer is None:
        layer = _layers_by_loop[loop] = channel_layers.make_backend(DEFAULT_CHANNEL_LAYER)
    return layer


def command_send(
    *,
    station: ChargingStation,
    action: str,
    payload: dict | None = None,
    requested_by=None,
    requested_via: str = "",
    timeout_s: float = DEFAULT_TIMEOUT_S,
    wait: bool = True,
) -> RemoteCommand:
    """Create, dispatch and (when `wait`) wait for a command, from sync code.

    No permission or confirmation is asked here: people's commands go through
    command_request. When nobody answers within the timeout (the station's
    process died, the charger is silent) the command ends as timed out, never
    open forever.
    """
    in_transaction = transaction.get_connection().in_atomic_block
    if wait and in_transaction:
        raise RuntimeError("wait for a command outside a transaction: the server must see the row first")
    command = command_create(
        station=station,
        action=action,
        payload=payload,
        requested_by=requested_by,
        requested_via=requested_via,
        timeout_s=timeout_s,
    )
    if in_transaction:
        # The socket holder reads the row, so the message goes out once it is committed.
        transaction.on_commit(lambda: async_to_sync(dispatch)(command, wait=False))
        return command
    async_to_sync(dispatch)(command, wait=wait)
    return _ended_or_timed_out(command) if wait else command


def _ended_or_timed_out(command: RemoteCommand) -> RemoteCommand:
    command.refresh_from_db()
    if command.is_open:
        _finish(command.pk, CommandStatus.TIMED_OUT, error_description="no answer within the timeout")
        command.refresh_from_db()
    return command


def command_check(*, station: ChargingStation, action: str, by, confirmed: bool) -> None:
    """May `by` (a user; None for the system) send `action` to `station` now?

    Raises CommandRefused: an action OCPP 1.6 does not let us send, one this
    person may not send here, or one that interrupts the station and was not
    confirmed. The payload is judged when the command is created.
    """
    spec = _catalogued(action)
    if not command_access.can_send(by, station, action):
        raise CommandRefused(f"you may not send {action} to {station.identity}", reason=CommandRefused.PERMISSION)
    if spec.disruptive and not confirmed:
        raise CommandRefused(
            f"{action} interrupts the station: confirm it to send it", reason=CommandRefused.CONFIRMATION
        )


def command_request(
    *,
    station: ChargingStation,
    action: str,
    payload: dict | None = None,
    by,
    confirmed: bool = False,
    via: str = "",
    wait: bool = False,
    timeout_s: float = DEFAULT_TIMEOUT_S,
    send: bool = True,
) -> RemoteCommand:
    """Ask a charger to act: the one way people and the system do it.

    `by` is the person asking, or None for the system (remediation, maintenance),
    which then names itself in `via`. Refusals (unknown action, permission,
    missing confirmation, a payload against the OCPP schema) raise
    CommandRefused before anything is recorded. With `send=False` the command is
    only recorded, for a caller that keeps its own step row with it in the same
    transaction and sends it with command_outcome once that is committed.
    """
    if by is None and not via:
        raise ValueError("the system names itself in `via` when no person asks")
    command_check(station=station, action=action, by=by, confirmed=confirmed)
    if not send:
        return command_create(
            station=station, action=action, payload=payload, requested_by=by, requested_via=via, timeout_s=timeout_s
        )
    return command_send(
        station=station,
        action=action,
        payload=payload,
        requested_by=by,
        requested_via=via,
        timeout_s=timeout_s,
        wait=wait,
    )


def command_outcome(*, command: RemoteCommand, poll_s: float = 0.25, grace_s: float = 5.0) -> RemoteCommand:
    """How a command recorded earlier ended, sending it only if no process has.

    For a caller picking up after itself (a retried task): a pending command is
    dispatched (claiming it is compare-and-swap, so a second message for it sends
    nothing twice); one already sent is waited for on its row, since whoever was
    told its answer is gone; an ended one is returned as it is.
    """
    command.refresh_from_db()
    if command.status == CommandStatus.PENDING:
        async_to_sync(dispatch)(command, wait=True)
    elif command.status == CommandStatus.SENT:
        deadline = (command.sent_at or command.created_at) + timedelta(seconds=command.timeout_s + grace_s)
        while command.is_open and timezone.now() < deadline:
            time.sleep(poll_s)
            command.refresh_from_db(fields=["status"])
    else:
        return command
    return _ended_or_timed_out(command)


def command_claim(*, command_id: int, unique_id: str, now: datetime | None = None) -> RemoteCommand | None:
    """The socket holder takes a pending command to send it; None if it is no longer pending."""
    now = now or timezone.now()
    claimed = RemoteCommand.objects.filter(pk=command_id, status=CommandStatus.PENDING).update(
        status=CommandStatus.SENT, unique_id=unique_id, sent_at=now
    )
    return RemoteCommand.objects.get(pk=command_id) if claimed else None


def command_complete(
    *,
    command_id: int,
    answer: list | None,
    connection_lost: bool = False,
    now: datetime | None = None,
) -> RemoteCommand:
    """Record how a sent command ended: its CALLRESULT/CALLERROR frame, or None for no answer."""
    now = now or timezone.now()
    command = RemoteCommand.objects.select_related("station").get(pk=command_id)
    if answer is None:
        if connection_lost:
            _finish(command_id, CommandStatus.OFFLINE, error_description="connection closed before the answer")
        else:
            _finish(command_id, CommandStatus.TIMED_OUT, error_description="no answer within the timeout")
    elif answer[0] == 4:
        code, description = str(answer[2]), str(answer[3]) if len(answer) > 3 else ""
        status = CommandStatus.NOT_SUPPORTED if code in _ERROR_NOT_SUPPORTED else CommandStatus.ERROR
        _finish(command_id, status, error_code=code, error_description=description)
    else:
        response = answer[2]
        try:
            validate(f"{command.action}Response", response)
        except OcppError as exc:
            _finish(
                command_id,
                CommandStatus.ERROR,
                response=response,
                error_code=exc.code,
                error_description=exc.description,
            )
        else:
            with transaction.atomic():
                if _finish(command_id, _status_of(response), response=response):
                    command.refresh_from_db()
                    _apply_effects(command, response, now=now)
    command.refresh_from_db()
    return command


def _status_of(response: dict) -> str:
    value = response.get("status")
    if value is None or value in _ACCEPTED:
        return CommandStatus.ACCEPTED
    if value in _NOT_SUPPORTED:
        return CommandStatus.NOT_SUPPORTED
    return CommandStatus.REJECTED


def _finish(command_id: int, status: str, **fields) -> bool:
    """Compare-and-swap an open command to its outcome; False if it had already ended."""
    with transaction.atomic():
        ended = RemoteCommand.objects.filter(pk=command_id, status__in=OPEN_COMMAND_STATUSES).update(
            status=status, completed_at=timezone.now(), **fields
        )
        if ended:
            station_id = RemoteCommand.objects.values_list("station_id", flat=True).get(pk=command_id)
            live.station_changed(station_id)
            _after_outcome(command_id, status)
    return bool(ended)


def _after_outcome(command_id: int, status: str) -> None:
    if status == CommandStatus.ACCEPTED:
        return
    command = RemoteCommand.objects.only("action", "payload").get(pk=command_id)
    if command.action == "ReserveNow" and "reservationId" in command.payload:
        Reservation.objects.filter(pk=command.payload["reservationId"], status=ReservationStatus.REQUESTED).update(
            status=ReservationStatus.REFUSED
        )


def _apply_effects(command: RemoteCommand, response: dict, *, now: datetime) -> None:
    """What an accepted answer changes in our own records."""
    action, payload = command.action, command.payload
    if action == "GetConfiguration":
        configuration.configuration_reported(
            station_id=command.station_id,
            keys=response.get("configurationKey", []),
            command=command,
            now=now,
        )
    elif action == "ChangeConfiguration":
        configuration.configuration_changed(
            station_id=command.station_id, key=payload["key"], value=payload["value"], command=command, now=now
        )
    elif action == "ReserveNow":
        Reservation.objects.filter(pk=payload["reservationId"]).update(status=ReservationStatus.ACTIVE)
    elif action == "CancelReservation":
        Reservation.objects.filter(pk=payload["reservationId"], station_id=command.station_id).update(
            status=ReservationStatus.CANCELLED
        )


def commands_expire(*, now: datetime | None = None, grace_s: float = 5.0) -> int:
    """End commands nobody answered: their process died or they never reached one."""
    now = now or timezone.now()
    expired = 0
    open_commands = RemoteCommand.objects.filter(status__in=OPEN_COMMAND_STATUSES).only("id", "created_at", "timeout_s")
    for command in open_commands:
        if command.created_at + timedelta(seconds=command.timeout_s + grace_s) < now:
            expired += _finish(command.pk, CommandStatus.TIMED_OUT, error_description="no answer within the timeout")
    return expired


def commands_fail_open_for_connection(*, command_ids: list[int]) -> None:
    """The connection closed: commands it still held end as offline."""
    for command_id in command_ids:
        _finish(command_id, CommandStatus.OFFLINE, error_description="connection closed before the answer")
