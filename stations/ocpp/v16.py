"""OCPP 1.6 charger-initiated messages: each handler turns a CALL into service calls.

Handlers hold no rules and no SQL; their database work runs through
threads.db, off the event loop.
"""

import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

from django.utils import timezone

from stations.models import RegistrationStatus
from stations.services import authorisation, charging, registration, stations_info, status
from stations.services.charger_memo import ChargerMemo

from .protocol import ErrorCode, OcppError
from .threads import db
from .validation import parse_datetime, validate

logger = logging.getLogger(__name__)


@dataclass
class Connection:
    """What the server knows of one charger's open websocket."""

    station_id: int
    identity: str
    registration_status: str
    lenient: bool
    booted: bool = False
    # What routine frames need, so they cost no reads (services/charger_memo.py).
    memo: ChargerMemo = field(default_factory=ChargerMemo)


def _now_iso() -> str:
    return timezone.now().isoformat().replace("+00:00", "Z")


async def boot_notification(conn: Connection, p: dict) -> dict:
    result = await db(
        registration.station_boot,
        station_id=conn.station_id,
        vendor=p["chargePointVendor"],
        model=p["chargePointModel"],
        serial_number=p.get("chargePointSerialNumber") or p.get("chargeBoxSerialNumber", ""),
        firmware_version=p.get("firmwareVersion", ""),
        iccid=p.get("iccid", ""),
        imsi=p.get("imsi", ""),
        meter_type=p.get("meterType", ""),
        meter_serial_number=p.get("meterSerialNumber", ""),
        memo=conn.memo,
    )
    conn.registration_status = result.status
    conn.booted = True
    conn.lenient = result.lenient
    return {"status": result.status, "currentTime": _now_iso(), "interval": result.interval}


async def heartbeat(conn: Connection, p: dict) -> dict:
    # The last-seen time is written in batches by the consumer for every frame.
    return {"currentTime": _now_iso()}


async def status_notification(conn: Connection, p: dict) -> dict:
    await db(
        status.connector_status_report,
        station_id=conn.station_id,
        connector_id=p["connectorId"],
        status=p["status"],
        error_code=p["errorCode"],
        info=p.get("info", ""),
        vendor_id=p.get("vendorId", ""),
        vendor_error_code=p.get("vendorErrorCode", ""),
        timestamp=parse_datetime(p["timestamp"]) if "timestamp" in p else None,
        memo=conn.memo,
    )
    return {}


async def authorize(conn: Connection, p: dict) -> dict:
    return {"idTagInfo": await db(authorisation.id_tag_info, id_tag=p["idTag"], station_id=conn.station_id)}


async def start_transaction(conn: Connection, p: dict) -> dict:
    result = await db(
        charging.session_start,
        station_id=conn.station_id,
        connector_id=p["connectorId"],
        id_tag=p["idTag"],
        meter_start=p["meterStart"],
        timestamp=parse_datetime(p["timestamp"]),
        reservation_id=p.get("reservationId"),
        memo=conn.memo,
    )
    return {"transactionId": result.session.pk, "idTagInfo": result.id_tag_info}


async def stop_transaction(conn: Connection, p: dict) -> dict:
    result = await db(
        charging.session_stop,
        station_id=conn.station_id,
        transaction_id=p["transactionId"],
        meter_stop=p["meterStop"],
        timestamp=parse_datetime(p["timestamp"]),
        id_tag=p.get("idTag", ""),
        reason=p.get("reason", "Local"),
        transaction_data=p.get("transactionData"),
        memo=conn.memo,
    )
    if result.session is None:
        logger.warning("%s stopped unknown transaction %s", conn.identity, p["transactionId"])
    return {"idTagInfo": result.id_tag_info} if result.id_tag_info else {}


async def meter_values(conn: Connection, p: dict) -> dict:
    await db(
        charging.meter_values_record,
        station_id=conn.station_id,
        connector_id=p["connectorId"],
        transaction_id=p.get("transactionId"),
        meter_value=p["meterValue"],
        memo=conn.memo,
    )
    return {}


async def data_transfer(conn: Connection, p: dict) -> dict:
    # No vendor extensions are implemented; the frame log keeps the content.
    return {"status": "UnknownVendorId"}


async def diagnostics_status_notification(conn: Connection, p: dict) -> dict:
    await db(stations_info.diagnostics_status_record, station_id=conn.station_id, status=p["status"])
    return {}


async def firmware_status_notification(conn: Connection, p: dict) -> dict:
    await db(stations_info.firmware_status_record, station_id=conn.station_id, status=p["status"])
    return {}


async def acknowledge(conn: Connection, p: dict) -> dict:
    """Security-extension notifications: the frame log is their record."""
    return {}


Handler = Callable[[Connection, dict], Awaitable[dict]]

HANDLERS: dict[str, Handler] = {
    "BootNotification": boot_notification,
    "Heartbeat": heartbeat,
    "StatusNotification": status_notification,
    "Authorize": authorize,
    "StartTransaction": start_transaction,
    "StopTransaction": stop_transaction,
    "MeterValues": meter_values,
    "DataTransfer": data_transfer,
    "DiagnosticsStatusNotification": diagnostics_status_notification,
    "FirmwareStatusNotification": firmware_status_notification,
    "SecurityEventNotification": acknowledge,
    "LogStatusNotification": acknowledge,
    "SignedFirmwareStatusNotification": acknowledge,
}

# OCPP 1.6 actions that only the central system may send, and security
# extension requests we do not serve: known, but not supported from a charger.
NOT_SUPPORTED = {
    "CancelReservation",
    "ChangeAvailability",
    "ChangeConfiguration",
    "ClearCache",
    "ClearChargingProfile",
    "GetCompositeSchedule",
    "GetConfiguration",
    "GetDiagnostics",
    "GetLocalListVersion",
    "RemoteStartTransaction",
    "RemoteStopTransaction",
    "ReserveNow",
    "Reset",
    "SendLocalList",
    "SetChargingProfile",
    "TriggerMessage",
    "UnlockConnector",
    "UpdateFirmware",
    "CertificateSigned",
    "DeleteCertificate",
    "ExtendedTriggerMessage",
    "GetInstalledCertificateIds",
    "GetLog",
    "InstallCertificate",
    "SignCertificate",
    "SignedUpdateFirmware",
}


async def dispatch(conn: Connection, action: str, payload: dict) -> dict:
    """Answer one CALL from a charger, or raise OcppError for a CALLERROR."""
    handler = HANDLERS.get(action)
    if handler is None:
        if action in NOT_SUPPORTED:
            raise OcppError(ErrorCode.NOT_SUPPORTED, f"{action} is not supported from a charge point")
        raise OcppError(ErrorCode.NOT_IMPLEMENTED, f"Unknown action {action!r}")
    if action != "BootNotification" and conn.registration_status != RegistrationStatus.ACCEPTED:
        # Until it is accepted a charger may send nothing but BootNotification.
        raise OcppError(
            ErrorCode.SECURITY_ERROR,
            f"{action} refused: registration is {conn.registration_status}; send BootNotification",
        )
    payload, warnings = validate(action, payload, lenient=conn.lenient)
    for warning in warnings:
        logger.warning("%s %s accepted leniently: %s", conn.identity, action, warning)
    return await handler(conn, payload)
