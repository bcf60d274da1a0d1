"""Authorisation, transactions and meter values.

Chargers retry what got no answer and replay what they stored while offline,
so every write here is idempotent: the same StartTransaction returns the same
transactionId, the same StopTransaction changes nothing the second time, and
each meter reading is stored once.
"""

import hashlib
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal, InvalidOperation

from django.conf import settings
from django.db import IntegrityError, transaction
from django.utils import timezone

from stations.models import (
    ChargingSession,
    Connector,
    MeterFlag,
    MeterSample,
    Reservation,
    ReservationStatus,
)

from . import events, live
from .authorisation import Purpose, id_tag_info
from .charger_memo import ChargerMemo, SessionMemo
from .clock import from_future

ENERGY_REGISTER = "Energy.Active.Import.Register"
UNIT_TO_WH = {"Wh": Decimal(1), "kWh": Decimal(1000)}


def _fingerprint(*parts: object) -> str:
    return hashlib.sha256("|".join(str(p) for p in parts).encode()).hexdigest()


@dataclass(frozen=True)
class StartResult:
    session: ChargingSession
    id_tag_info: dict
    created: bool


def session_start(
    *,
    station_id: int,
    connector_id: int,
    id_tag: str,
    meter_start: int,
    timestamp: datetime,
    reservation_id: int | None = None,
    now: datetime | None = None,
    memo: ChargerMemo | None = None,
) -> StartResult:
    """Open a transaction; a retried StartTransaction gets the first one back.

    The charger has already started (perhaps offline, hours ago): the
    transaction is recorded whatever the tag's status, and the answer's
    idTagInfo tells the charger whether to go on.
    """
    now = now or timezone.now()
    fingerprint = _fingerprint(connector_id, id_tag, meter_start, timestamp.isoformat(), reservation_id)
    existing = ChargingSession.objects.filter(station_id=station_id, start_fingerprint=fingerprint).first()
    info = id_tag_info(
        id_tag=id_tag,
        station_id=station_id,
        purpose=Purpose.START,
        session_id=existing.pk if existing else None,
        now=now,
    )
    if existing:
        return StartResult(session=existing, id_tag_info=info, created=False)
    flags = [MeterFlag.START_FROM_FUTURE.value] if from_future(timestamp, now) else []
    memo = memo if memo is not None else ChargerMemo()
    try:
        with transaction.atomic():
            connector_pk = connector_pk_for(station_id=station_id, connector_id=connector_id, memo=memo)
            session = ChargingSession.objects.create(
                station_id=station_id,
                connector_id=connector_pk,
                id_tag=id_tag,
                id_tag_status=info["status"],
                meter_start=meter_start,
                start_at=timestamp,
                reservation_id=reservation_id,
                start_fingerprint=fingerprint,
                meter_flags=flags,
            )
            if reservation_id is not None:
                Reservation.objects.filter(
                    pk=reservation_id, station_id=station_id, status=ReservationStatus.ACTIVE
                ).update(status=ReservationStatus.USED)
            live.station_changed(station_id)
            events.session_started(session.pk)
    except IntegrityError:
        # The same start arrived twice at once; the other one won.
        session = ChargingSession.objects.get(station_id=station_id, start_fingerprint=fingerprint)
        return StartResult(session=session, id_tag_info=info, created=False)
    # A new transaction has no readings yet: its first MeterValues need no read.
    memo.sessions[session.pk] = SessionMemo(
        pk=session.pk, meter_start=meter_start, meter_flags=frozenset(flags), last_register_known=True
    )
    return StartResult(session=session, id_tag_info=info, created=True)


@dataclass(frozen=True)
class StopResult:
    session: ChargingSession | None
    id_tag_info: dict | None
    stopped_now: bool


def session_stop(
    *,
    station_id: int,
    transaction_id: int,
    meter_stop: int,
    timestamp: datetime,
    id_tag: str = "",
    reason: str = "Local",
    transaction_data: list[dict] | None = None,
    now: datetime | None = None,
    memo: ChargerMemo | None = None,
) -> StopResult:
    """Close a transaction once; a repeated stop changes nothing."""
    now = now or timezone.now()
    if memo is not None:
        memo.forget_session(transaction_id)
    info = (
        id_tag_info(id_tag=id_tag, station_id=station_id, purpose=Purpose.STOP, session_id=transaction_id, now=now)
        if id_tag
        else None
    )
    with transaction.atomic():
        session = ChargingSession.objects.select_for_update().filter(pk=transaction_id, station_id=station_id).first()
        if session is None:
            return StopResult(session=None, id_tag_info=info, stopped_now=False)
        if session.stop_at is not None:
            return StopResult(session=session, id_tag_info=info, stopped_now=False)
        flags = set(session.meter_flags)
        if transaction_data:
            rows = _store_readings(session.station_id, session.connector_id, session, transaction_data)
            flags |= _implausible_flags(rows)
        if meter_stop < session.meter_start:
            flags.add(MeterFlag.STOP_BELOW_START.value)
        if from_future(timestamp, now):
            flags.add(MeterFlag.STOP_FROM_FUTURE.value)
        flags |= _reading_flags(session, now=now, meter_stop=meter_stop, stop_at=timestamp)
        session.meter_stop = meter_stop
        session.stop_at = timestamp
        session.stop_reason = reason or "Local"
        session.stop_id_tag = id_tag or ""
        session.meter_flags = sorted(flags)
        # Energy is only derived from readings that hold together; flagged
        # sessions wait for an operator instead of being billed on bad data.
        session.energy_wh = None if flags else meter_stop - session.meter_start
        session.save(
            update_fields=[
                "meter_stop",
                "stop_at",
                "stop_reason",
                "stop_id_tag",
                "meter_flags",
                "energy_wh",
                "updated_at",
            ]
        )
        live.station_changed(station_id)
        events.session_stopped(session.pk)
    return StopResult(session=session, id_tag_info=info, stopped_now=True)


def meter_values_record(
    *,
    station_id: int,
    connector_id: int,
    meter_value: list[dict],
    transaction_id: int | None = None,
    now: datetime | None = None,
    memo: ChargerMemo | None = None,
) -> int:
    """Store MeterValues; returns how many readings the message carried.

    With the connection's memo a routine message is one INSERT: the connector,
    the transaction and its last register reading are already known.
    """
    now = now or timezone.now()
    if memo is None:
        memo = ChargerMemo()
    try:
        return _meter_values_store(station_id, connector_id, meter_value, transaction_id, now, memo)
    except IntegrityError:
        # A connector or transaction the memo knew was deleted meanwhile: read again.
        memo.connectors.pop(connector_id, None)
        if transaction_id is not None:
            memo.forget_session(transaction_id)
        return _meter_values_store(station_id, connector_id, meter_value, transaction_id, now, memo)


def _meter_values_store(
    station_id: int,
    connector_id: int,
    meter_value: list[dict],
    transaction_id: int | None,
    now: datetime,
    memo: ChargerMemo,
) -> int:
    connector_pk = connector_pk_for(station_id=station_id, connector_id=connector_id, memo=memo)
    session = _session_memo(station_id, transaction_id, memo) if transaction_id is not None else None
    rows = _readings(station_id, connector_pk, session.pk if session else None, meter_value)
    if session is None or not rows:
        MeterSample.objects.bulk_create(rows, ignore_conflicts=True)
        return len(rows)
    new_flags, latest = _new_reading_flags(session, rows, now=now)
    if new_flags <= session.meter_flags:
        MeterSample.objects.bulk_create(rows, ignore_conflicts=True)
    else:
        with transaction.atomic():
            MeterSample.objects.bulk_create(rows, ignore_conflicts=True)
            locked = ChargingSession.objects.select_for_update().only("meter_flags").get(pk=session.pk)
            flags = set(locked.meter_flags) | new_flags
            if flags != set(locked.meter_flags):
                locked.meter_flags = sorted(flags)
                locked.save(update_fields=["meter_flags", "updated_at"])
        session.meter_flags = frozenset(flags)
    if latest is not None and (session.last_register is None or latest[0] > session.last_register[0]):
        session.last_register = latest
    return len(rows)


def connector_pk_for(*, station_id: int, connector_id: int, memo: ChargerMemo) -> int:
    """The connector's row id, created the first time a charger names it."""
    known = memo.connectors.get(connector_id)
    if known is not None:
        return known.pk
    connector, _ = Connector.objects.get_or_create(station_id=station_id, connector_id=connector_id)
    return memo.connector_remember(connector_id, connector.pk).pk


def _session_memo(station_id: int, transaction_id: int, memo: ChargerMemo) -> SessionMemo | None:
    known = memo.sessions.get(transaction_id)
    if known is not None:
        return known
    row = (
        ChargingSession.objects.filter(pk=transaction_id, station_id=station_id)
        .values_list("pk", "meter_start", "meter_flags")
        .first()
    )
    if row is None:
        return None  # readings of an unknown transaction are kept without one
    session = SessionMemo(pk=row[0], meter_start=row[1], meter_flags=frozenset(row[2]))
    session.last_register = _register_before(session.pk, None)
    session.last_register_known = True
    memo.sessions[transaction_id] = session
    return session


def _register_before(session_pk: int, before: datetime | None) -> tuple[datetime, Decimal] | None:
    """The session's latest energy register reading (before a time, if given)."""
    readings = MeterSample.objects.filter(
        session_id=session_pk, measurand=ENERGY_REGISTER, phase="", numeric_value__isnull=False
    )
    if before is not None:
        readings = readings.filter(timestamp__lt=before)
    previous = readings.order_by("-timestamp").only("timestamp", "measurand", "phase", "unit", "numeric_value").first()
    if previous is None or (wh := _register_wh(previous)) is None:
        return None
    return previous.timestamp, wh


def _store_readings(
    station_id: int, connector_pk: int, session: ChargingSession | None, meter_value: list[dict]
) -> list[MeterSample]:
    """Store readings; one already stored (a retried message) is skipped."""
    rows = _readings(station_id, connector_pk, session.pk if session else None, meter_value)
    MeterSample.objects.bulk_create(rows, ignore_conflicts=True)
    return rows


def _readings(station_id: int, connector_pk: int, session_pk: int | None, meter_value: list[dict]) -> list[MeterSample]:
    from stations.ocpp.validation import parse_datetime

    rows = []
    for entry in meter_value:
        timestamp = parse_datetime(entry["timestamp"])
        for sampled in entry["sampledValue"]:
            raw = sampled["value"]
            rows.append(
                MeterSample(
                    station_id=station_id,
                    connector_id=connector_pk,
                    session_id=session_pk,
                    timestamp=timestamp,
                    measurand=sampled.get("measurand", ENERGY_REGISTER),
                    phase=sampled.get("phase", ""),
                    unit=sampled.get("unit", "Wh"),
                    context=sampled.get("context", "Sample.Periodic"),
                    location=sampled.get("location", ""),
                    value_format=sampled.get("format", "Raw"),
                    value=raw,
                    numeric_value=_decimal(raw) if sampled.get("format", "Raw") == "Raw" else None,
                )
            )
    return rows


# No meter register reaches a terawatt-hour (10^12 Wh); a larger value is a
# corrupt or hostile reading. It is kept as sent, never used as a number.
MAX_PLAUSIBLE_READING = Decimal(10) ** 12
_READING_PLACES = Decimal("0.000001")  # MeterSample.numeric_value keeps six decimals


def _decimal(raw: str) -> Decimal | None:
    try:
        value = Decimal(raw)
    except (InvalidOperation, TypeError, ValueError):
        return None
    if not value.is_finite() or abs(value) >= MAX_PLAUSIBLE_READING:
        return None
    return value.quantize(_READING_PLACES)


def _implausible_flags(rows: list[MeterSample]) -> set[str]:
    """A raw reading that is no plausible number makes the session's energy untrustworthy."""
    if any(row.value_format == "Raw" and row.numeric_value is None for row in rows):
        return {MeterFlag.IMPLAUSIBLE_READING.value}
    return set()


def _register_wh(sample: MeterSample) -> Decimal | None:
    """The sample's total energy register in Wh, or None if it is another quantity."""
    if sample.measurand != ENERGY_REGISTER or sample.phase or sample.unit not in UNIT_TO_WH:
        return None
    if sample.numeric_value is None:
        return None
    return sample.numeric_value * UNIT_TO_WH[sample.unit]


def _new_reading_flags(
    session: SessionMemo, rows: list[MeterSample], *, now: datetime
) -> tuple[set[str], tuple[datetime, Decimal] | None]:
    """Check new readings against the start and the reading stored just before
    them; returns the flags and the newest register reading among them."""
    flags = {MeterFlag.SAMPLE_FROM_FUTURE.value for row in rows if from_future(row.timestamp, now)}
    flags |= _implausible_flags(rows)
    new = sorted((row.timestamp, wh) for row in rows if (wh := _register_wh(row)) is not None)
    if not new:
        return flags, None
    last = session.last_register
    if session.last_register_known and (last is None or last[0] < new[0][0]):
        previous = last  # the newest stored reading comes before all of these
    else:
        previous = _register_before(session.pk, new[0][0])  # a late or replayed message
    values = [Decimal(session.meter_start)]
    if previous is not None:
        values.append(previous[1])
    values += [wh for _, wh in new]
    if any(later < earlier for earlier, later in zip(values, values[1:], strict=False)):
        flags.add(MeterFlag.REGISTER_BACKWARDS.value)
    return flags, new[-1]


def _reading_flags(
    session: ChargingSession, *, now: datetime, meter_stop: int | None = None, stop_at: datetime | None = None
) -> set[str]:
    """Check the session's energy register: it may never run backwards, never
    rise faster than a charger can deliver, and no reading may come from the future."""
    flags: set[str] = set()
    samples = MeterSample.objects.filter(session=session, numeric_value__isnull=False).only(
        "timestamp", "measurand", "unit", "numeric_value", "phase"
    )
    points = [(session.start_at, Decimal(session.meter_start))]
    for sample in samples.order_by("timestamp", "id"):
        if from_future(sample.timestamp, now):
            flags.add(MeterFlag.SAMPLE_FROM_FUTURE.value)
        if (wh := _register_wh(sample)) is not None:
            points.append((sample.timestamp, wh))
    # A stop below the start is flagged as such by the caller.
    if meter_stop is not None and meter_stop >= session.meter_start:
        points.append((stop_at or now, Decimal(meter_stop)))
    values = [wh for _, wh in points]
    if any(later < earlier for earlier, later in zip(values, values[1:], strict=False)):
        flags.add(MeterFlag.REGISTER_BACKWARDS.value)
    if _beyond_power(points):
        flags.add(MeterFlag.ENERGY_BEYOND_POWER.value)
    return flags


# Clock jitter between a charger's readings: this much more is never suspicious.
_POWER_SLACK_WH = Decimal(1000)


def _beyond_power(points: list[tuple[datetime, Decimal]]) -> bool:
    """True when the register rose faster than the most powerful charger delivers:
    the sign of a lifetime total taken for a session's start (910 kWh in 5 minutes)."""
    limit_w = Decimal(settings.OCPP_MAX_CHARGER_POWER_KW) * 1000
    for (t0, wh0), (t1, wh1) in zip(points, points[1:], strict=False):
        hours = Decimal(str(max((t1 - t0).total_seconds(), 0.0))) / 3600
        if wh1 - wh0 > limit_w * hours + _POWER_SLACK_WH:
            return True
    return False
