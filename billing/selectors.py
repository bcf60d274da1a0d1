"""Reads for billing: what a session used, in the shape the pricing function takes."""

from datetime import datetime
from decimal import Decimal

from stations.models import ChargingSession, ConnectorStatus, MeterSample, StatusEvent

from .services.pricing import Usage

ENERGY_REGISTER = "Energy.Active.Import.Register"
_UNIT_TO_WH = {"Wh": Decimal(1), "kWh": Decimal(1000)}
# Connected, not drawing power.
IDLE_STATUSES = (ConnectorStatus.SUSPENDED_EV, ConnectorStatus.SUSPENDED_EVSE, ConnectorStatus.FINISHING)


def session_usage(session: ChargingSession, *, until: datetime | None = None, energy_wh: int | None = None) -> Usage:
    """What the session used up to its stop (or `until`, for the cost so far).

    With `energy_wh` (an operator's corrected figure for flagged readings) the
    readings are not trusted: that energy is spread evenly over the session.
    Two queries.
    """
    end = session.stop_at or until
    start = session.start_at
    if end is None or end < start:
        end = start
    if energy_wh is not None:
        readings = ((start, Decimal(0)), (end, Decimal(energy_wh)))
    else:
        readings = _readings(session, start, end)
    idle = _idle_intervals(session, start, end, readings)
    return Usage(start=start, end=end, readings=readings, idle=idle)


def _readings(session: ChargingSession, start: datetime, end: datetime) -> tuple:
    points = [(start, Decimal(session.meter_start))]
    samples = (
        MeterSample.objects.filter(
            session=session, measurand=ENERGY_REGISTER, phase="", numeric_value__isnull=False, unit__in=_UNIT_TO_WH
        )
        .order_by("timestamp", "id")
        .values_list("timestamp", "numeric_value", "unit")
    )
    for timestamp, value, unit in samples:
        if start <= timestamp <= end:
            points.append((timestamp, value * _UNIT_TO_WH[unit]))
    if session.meter_stop is not None and session.stop_at is not None:
        points.append((session.stop_at, Decimal(session.meter_stop)))
    # A register never runs backwards in a session we price (flagged ones go to review):
    # keep the points in time order with non-decreasing values.
    ordered = []
    for timestamp, wh in sorted(points, key=lambda point: point[0]):
        if ordered and wh < ordered[-1][1]:
            wh = ordered[-1][1]
        ordered.append((timestamp, wh))
    return tuple(ordered)


def _idle_intervals(session: ChargingSession, start: datetime, end: datetime, readings: tuple) -> tuple:
    """Idle: the connector reported a suspended or finishing state, or a reading
    interval of a minute or more added no energy."""
    intervals = []
    events = list(
        StatusEvent.objects.filter(connector_id=session.connector_id, received_at__lte=end)
        .filter(received_at__gte=start)
        .order_by("received_at", "id")
        .values_list("received_at", "charger_timestamp", "status")
    )
    for index, (received, charger_time, status) in enumerate(events):
        if status not in IDLE_STATUSES:
            continue
        since = charger_time if charger_time and start <= charger_time <= end else received
        following = events[index + 1] if index + 1 < len(events) else None
        until = (following[1] or following[0]) if following else end
        intervals.append((since, min(max(until, since), end)))
    for (t0, wh0), (t1, wh1) in zip(readings, readings[1:], strict=False):
        if wh1 == wh0 and (t1 - t0).total_seconds() >= 60:
            intervals.append((t0, t1))
    return tuple(intervals)
