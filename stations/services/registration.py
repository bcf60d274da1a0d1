"""Registering stations, checking them at the handshake, and BootNotification."""

from dataclasses import dataclass
from datetime import datetime

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from stations.models import ChargingStation, Connector, RegistrationStatus, Site, StationModel

from . import credentials, liveness
from .charger_memo import ChargerMemo, ConnectorMemo

IDENTITY_MAX_LENGTH = 48


class RegistrationError(ValueError):
    pass


def _check_identity(identity: str) -> None:
    if not identity or len(identity) > IDENTITY_MAX_LENGTH:
        raise RegistrationError(f"identity must be 1 to {IDENTITY_MAX_LENGTH} characters")
    if not identity.isprintable() or "/" in identity or " " in identity:
        raise RegistrationError(f"identity {identity!r} may not contain '/', spaces or control characters")


def _check_password(password: str) -> None:
    try:
        credentials.check_password_rules(password)
    except credentials.WeakPassword as exc:
        raise RegistrationError(str(exc)) from None


@dataclass(frozen=True)
class Registered:
    station: ChargingStation
    password: str
    created: bool


def station_register(*, identity: str, password: str | None = None, site_name: str | None = None) -> Registered:
    """Register a station (or set a new password on a known one)."""
    _check_identity(identity)
    password = password or credentials.generate_password()
    _check_password(password)
    with transaction.atomic():
        site = Site.objects.get_or_create(name=site_name)[0] if site_name else None
        station, created = ChargingStation.objects.select_for_update().get_or_create(
            identity=identity,
            defaults={
                "site": site,
                "password_hash": credentials.hash_password(password),
                "heartbeat_interval": settings.OCPP_HEARTBEAT_INTERVAL_S,
            },
        )
        if not created:
            station.password_hash = credentials.hash_password(password)
            fields = ["password_hash"]
            if site is not None:
                station.site = site
                fields.append("site")
            station.save(update_fields=fields)
    return Registered(station=station, password=password, created=created)


def stations_register_bulk(*, entries: list[tuple[str, str]], site_name: str | None = None) -> tuple[int, int]:
    """Register many (identity, password) pairs at once; returns (created, updated).

    One query per batch instead of one per station, so 10,000 lines take seconds.
    """
    seen: set[str] = set()
    for line_no, (identity, password) in enumerate(entries, start=1):
        try:
            _check_identity(identity)
            _check_password(password)
        except RegistrationError as exc:
            raise RegistrationError(f"line {line_no}: {exc}") from None
        if identity in seen:
            raise RegistrationError(f"line {line_no}: {identity} appears twice")
        seen.add(identity)
    with transaction.atomic():
        site = Site.objects.get_or_create(name=site_name)[0] if site_name else None
        existing = {
            s.identity: s for s in ChargingStation.objects.filter(identity__in=seen).only("id", "identity", "site")
        }
        new, changed = [], []
        for identity, password in entries:
            hashed = credentials.hash_password(password)
            if identity in existing:
                station = existing[identity]
                station.password_hash = hashed
                if site is not None:
                    station.site = site
                changed.append(station)
            else:
                new.append(
                    ChargingStation(
                        identity=identity,
                        site=site,
                        password_hash=hashed,
                        heartbeat_interval=settings.OCPP_HEARTBEAT_INTERVAL_S,
                    )
                )
        ChargingStation.objects.bulk_create(new, batch_size=1000)
        ChargingStation.objects.bulk_update(changed, ["password_hash", "site"], batch_size=1000)
    return len(new), len(changed)


@dataclass(frozen=True)
class HandshakeResult:
    station_id: int
    identity: str
    registration_status: str
    lenient: bool
    memo: ChargerMemo


def station_authenticate(*, identity: str, password: str | None) -> HandshakeResult | None:
    """Check a charger at the websocket handshake (security profile 1).

    Returns None to refuse it. An unknown identity is refused, or registered
    as Pending when OCPP_REGISTER_UNKNOWN_AS_PENDING is on.
    """
    station = (
        ChargingStation.objects.select_related("station_model")
        .only(
            "id",
            "identity",
            "password_hash",
            "registration_status",
            "offline",
            "vendor",
            "model",
            "station_model__lenient",
        )
        .filter(identity=identity)
        .first()
    )
    if station is None:
        if not settings.OCPP_REGISTER_UNKNOWN_AS_PENDING or not password:
            return None
        try:
            _check_identity(identity)
            _check_password(password)
        except RegistrationError:
            return None
        station, _ = ChargingStation.objects.get_or_create(
            identity=identity,
            defaults={
                "password_hash": credentials.hash_password(password),
                "registration_status": RegistrationStatus.PENDING,
                "heartbeat_interval": settings.OCPP_HEARTBEAT_INTERVAL_S,
            },
        )
    if not password or not station.password_hash:
        return None
    if not credentials.verify_password(password, station.password_hash):
        return None
    return HandshakeResult(
        station_id=station.pk,
        identity=station.identity,
        registration_status=station.registration_status,
        lenient=bool(station.station_model and station.station_model.lenient),
        memo=_memo_for(station),
    )


def station_open(*, identity: str, password: str | None, connection_id: str) -> HandshakeResult | None:
    """A charger's handshake: check it and let this connection take the station over,
    in one trip to a database thread (a reconnect storm is thousands of these)."""
    result = station_authenticate(identity=identity, password=password)
    if result is not None:
        liveness.station_connected(
            station_id=result.station_id, connection_id=connection_id, was_offline=result.memo.offline
        )
    return result


def _memo_for(station: ChargingStation) -> ChargerMemo:
    """Read once per connection what the charger's routine frames will need."""
    memo = ChargerMemo(
        station_model_id=station.station_model_id,
        vendor=station.vendor,
        model=station.model,
        offline=station.offline,
        lenient=bool(station.station_model and station.station_model.lenient),
    )
    for row in Connector.objects.filter(station_id=station.pk).values(
        "pk",
        "connector_id",
        "status",
        "error_code",
        "vendor_error_code",
        "vendor_id",
        "info",
        "status_since",
        "status_clock_trusted",
    ):
        connector_id = row.pop("connector_id")
        memo.connectors[connector_id] = ConnectorMemo(**row, status_known=True)
    return memo


@dataclass(frozen=True)
class BootResult:
    status: str
    interval: int
    lenient: bool


def station_boot(
    *,
    station_id: int,
    vendor: str,
    model: str,
    serial_number: str = "",
    firmware_version: str = "",
    iccid: str = "",
    imsi: str = "",
    meter_type: str = "",
    meter_serial_number: str = "",
    now: datetime | None = None,
    memo: ChargerMemo | None = None,
) -> BootResult:
    """Record a BootNotification and decide the registration answer.

    The registration status is read afresh (an operator may have accepted the
    charger since it connected); with the connection's memo the station's model
    and connector 0 need no further reads when they did not change.
    """
    now = now or timezone.now()
    memo = memo if memo is not None else ChargerMemo()
    status, lenient = (
        ChargingStation.objects.filter(pk=station_id).values_list("registration_status", "station_model__lenient").get()
    )
    memo.lenient = bool(lenient)
    if memo.station_model_id is None or (memo.vendor, memo.model) != (vendor, model):
        station_model, _ = StationModel.objects.get_or_create(vendor=vendor, model=model)
        memo.station_model_id, memo.lenient = station_model.pk, station_model.lenient
        memo.vendor, memo.model = vendor, model
    ChargingStation.objects.filter(pk=station_id).update(
        station_model_id=memo.station_model_id,
        vendor=vendor,
        model=model,
        serial_number=serial_number,
        firmware_version=firmware_version,
        iccid=iccid,
        imsi=imsi,
        meter_type=meter_type,
        meter_serial_number=meter_serial_number,
        last_boot_at=now,
        last_message_at=now,
        heartbeat_interval=settings.OCPP_HEARTBEAT_INTERVAL_S,
    )
    if 0 not in memo.connectors:
        connector, _ = Connector.objects.get_or_create(station_id=station_id, connector_id=0)
        memo.connector_remember(0, connector.pk)
    if status == RegistrationStatus.ACCEPTED:
        interval = settings.OCPP_HEARTBEAT_INTERVAL_S
    else:
        interval = settings.OCPP_PENDING_RETRY_INTERVAL_S
    return BootResult(status=status, interval=interval, lenient=memo.lenient)


def station_set_registration(*, station: ChargingStation, status: str) -> None:
    """Accept or reject a station; it learns the answer at its next BootNotification."""
    if status not in RegistrationStatus.values:
        raise RegistrationError(f"unknown registration status {status!r}")
    ChargingStation.objects.filter(pk=station.pk).update(registration_status=status)
    station.registration_status = status
