"""Reads for billing: what a session used, in the shape the pricing function takes."""

from datetime import datetime
from decimal import Decimal

from stations.models import ChargingSession, ConnectorStatus, MeterSample, StatusEvent
from stations.services.charging import ENERGY_REGISTER, UNIT_TO_WH

from .services.pricing import Usage

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


def _readings(session: ChargingSession, start: datetime, end: datetime, samples=None) -> tuple:
    """`samples`: the session's (timestamp, value, unit) energy readings when the caller
    fetched them already (many sessions at once); else they are read here."""
    points = [(start, Decimal(session.meter_start))]
    if samples is None:
        samples = (
            MeterSample.objects.filter(
                session=session, measurand=ENERGY_REGISTER, phase="", numeric_value__isnull=False, unit__in=UNIT_TO_WH
            )
            .order_by("timestamp", "id")
            .values_list("timestamp", "numeric_value", "unit")
        )
    for timestamp, value, unit in samples:
        if start <= timestamp <= end:
            points.append((timestamp, value * UNIT_TO_WH[unit]))
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


def _idle_intervals(session: ChargingSession, start: datetime, end: datetime, readings: tuple, events=None) -> tuple:
    """Idle: the connector reported a suspended or finishing state, or a reading
    interval of a minute or more added no energy. `events`: the connector's
    (received_at, charger_timestamp, status) in order, when fetched already."""
    intervals = []
    if events is None:
        events = list(
            StatusEvent.objects.filter(connector_id=session.connector_id, received_at__lte=end)
            .filter(received_at__gte=start)
            .order_by("received_at", "id")
            .values_list("received_at", "charger_timestamp", "status")
        )
    else:
        events = [event for event in events if start <= event[0] <= end]
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


def sessions_usage(sessions: list[ChargingSession], *, until: datetime) -> dict[int, Usage]:
    """session_usage for many sessions in two queries (lists of running sessions)."""
    if not sessions:
        return {}
    samples: dict[int, list] = {}
    rows = (
        MeterSample.objects.filter(
            session__in=[s.pk for s in sessions],
            measurand=ENERGY_REGISTER,
            phase="",
            numeric_value__isnull=False,
            unit__in=UNIT_TO_WH,
        )
        .order_by("timestamp", "id")
        .values_list("session_id", "timestamp", "numeric_value", "unit")
    )
    for session_id, timestamp, value, unit in rows:
        samples.setdefault(session_id, []).append((timestamp, value, unit))
    earliest = min(s.start_at for s in sessions)
    events: dict[int, list] = {}
    status_rows = (
        StatusEvent.objects.filter(
            connector_id__in={s.connector_id for s in sessions}, received_at__gte=earliest, received_at__lte=until
        )
        .order_by("received_at", "id")
        .values_list("connector_id", "received_at", "charger_timestamp", "status")
    )
    for connector_id, received, charger_time, status in status_rows:
        events.setdefault(connector_id, []).append((received, charger_time, status))
    usages = {}
    for session in sessions:
        end = session.stop_at or until
        start = session.start_at
        if end < start:
            end = start
        readings = _readings(session, start, end, samples=samples.get(session.pk, []))
        idle = _idle_intervals(session, start, end, readings, events=events.get(session.connector_id, []))
        usages[session.pk] = Usage(start=start, end=end, readings=readings, idle=idle)
    return usages


def price_json(billing) -> dict | None:
    """A priced session's stored price, as the API and pages show it."""
    if billing is None or billing.status != billing.Status.PRICED or billing.total is None:
        return None
    return {
        "currency": billing.currency,
        "lines": billing.lines,
        "net": str(billing.net),
        "tax": str(billing.tax),
        "total": str(billing.total),
    }


def _cost_json(result) -> dict:
    return {
        "currency": result.currency,
        "lines": result.lines_json(),
        "net": str(result.net),
        "tax": str(result.tax),
        "total": str(result.total),
    }


def session_money(sessions: list[ChargingSession], *, now: datetime | None = None) -> dict[int, dict]:
    """For stations' pages and API: each session's final `price` (once priced) and,
    while it runs, its `cost_so_far` by the same pricing function as the final
    price. Three queries, plus two when any of them is running with a tariff."""
    from django.utils import timezone

    from billing.models import SessionBilling

    from .services import tariffs
    from .services.pricing import price

    if not sessions:
        return {}
    now = now or timezone.now()
    billings = {
        b.session_id: b
        for b in SessionBilling.objects.filter(session_id__in=[s.pk for s in sessions]).select_related(
            "tariff_version__tariff"
        )
    }
    running = [s for s in sessions if s.stop_at is None and getattr(billings.get(s.pk), "tariff_version_id", None)]
    zones = dict(
        ChargingSession.objects.filter(pk__in=[s.pk for s in running]).values_list("pk", "station__site__time_zone")
    ) if running else {}  # fmt: skip
    usages = sessions_usage(running, until=now)
    money = {}
    for session in sessions:
        billing = billings.get(session.pk)
        cost = None
        if session.pk in usages:
            terms = tariffs.terms_of(billing.tariff_version, time_zone=zones.get(session.pk) or "UTC")
            cost = _cost_json(price(terms, usages[session.pk]))
        money[session.pk] = {"price": price_json(billing), "cost_so_far": cost}
    return money
