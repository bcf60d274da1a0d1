"""Charge detail records: what each finished session was, used and cost, for export."""

from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime
from decimal import ROUND_HALF_UP, Decimal

from django.db.models import Max, QuerySet

from billing.models import Funding, PaymentMethod, SessionBilling
from billing.selectors import ENERGY_REGISTER, _readings
from stations.models import ChargingSession, MeterSample

# Stop reasons of a session that ended as the driver or operator meant it to.
NORMAL_STOP_REASONS = frozenset({"", "Local", "Remote", "EVDisconnected"})
NO_ENERGY = "NoEnergy"
POWER = "Power.Active.Import"
_POWER_TO_KW = {"W": Decimal("0.001"), "kW": Decimal(1)}
CHUNK = 500

COLUMNS = (
    "transaction_id",
    "station",
    "connector_id",
    "id_tag",
    "start",
    "end",
    "energy_kwh",
    "peak_kw",
    "currency",
    "lines",
    "net",
    "tax",
    "total",
    "payment_method",
    "error",
)


@dataclass(frozen=True)
class Cdr:
    transaction_id: int
    station: str
    connector_id: int
    id_tag: str
    start: datetime
    end: datetime
    energy_kwh: Decimal
    peak_kw: Decimal | None
    currency: str
    net: Decimal | None
    tax: Decimal | None
    total: Decimal | None
    payment_method: str
    error: str
    lines: list = field(default_factory=list)


def cdr_sessions(
    *, station: str = "", account_id: int | None = None, stopped_after=None, stopped_before=None
) -> QuerySet[ChargingSession]:
    """Finished sessions, in the order they ended, shaped for cdrs_build."""
    sessions = (
        ChargingSession.objects.filter(stop_at__isnull=False)
        .select_related("station", "connector", "billing__account")
        .order_by("stop_at", "id")
    )
    if station:
        sessions = sessions.filter(station__identity=station)
    if account_id:
        sessions = sessions.filter(billing__account_id=account_id)
    if stopped_after:
        sessions = sessions.filter(stop_at__gte=stopped_after)
    if stopped_before:
        sessions = sessions.filter(stop_at__lt=stopped_before)
    return sessions


def _kwh(wh) -> Decimal:
    return (Decimal(wh) / 1000).quantize(Decimal("0.001"), rounding=ROUND_HALF_UP)


def _kw(value: Decimal) -> Decimal:
    return value.quantize(Decimal("0.01"), rounding=ROUND_HALF_UP)


def _billing(session) -> SessionBilling | None:
    try:
        return session.billing
    except SessionBilling.DoesNotExist:
        return None


def _energy_wh(session, billing) -> int:
    if billing is not None and billing.energy_wh is not None:
        return billing.energy_wh
    if session.energy_wh is not None:
        return session.energy_wh
    if session.meter_stop is not None and not session.meter_flags:
        return max(0, session.meter_stop - session.meter_start)
    return 0


def _peak_from_readings(readings: tuple) -> Decimal | None:
    """The highest average power between two energy readings, in kW."""
    peak = None
    for (t0, wh0), (t1, wh1) in zip(readings, readings[1:], strict=False):
        hours = Decimal(str((t1 - t0).total_seconds())) / 3600
        if hours > 0 and wh1 >= wh0:
            kw = (wh1 - wh0) / 1000 / hours
            peak = kw if peak is None or kw > peak else peak
    return peak


def _error(session, energy_wh: int) -> str:
    if session.stop_reason not in NORMAL_STOP_REASONS:
        return session.stop_reason
    if energy_wh <= 0:
        return NO_ENERGY
    return ""


def _payment_method(account, methods: dict) -> str:
    if account is None:
        return ""
    if account.funding == Funding.CARD:
        method = methods.get(account.pk)
        return f"{method.brand or 'card'} {method.last4}".strip() if method else "card"
    return Funding(account.funding).value


def cdrs_build(sessions) -> list[Cdr]:
    """CDRs of the given finished sessions (rows from cdr_sessions): three queries however many."""
    sessions = list(sessions)
    if not sessions:
        return []
    ids = [s.pk for s in sessions]
    peaks: dict[int, Decimal] = {}
    power = (
        MeterSample.objects.filter(session__in=ids, measurand=POWER, phase="", unit__in=_POWER_TO_KW)
        .values("session_id", "unit")
        .annotate(peak=Max("numeric_value"))
    )
    for row in power:
        if row["peak"] is not None:
            kw = row["peak"] * _POWER_TO_KW[row["unit"]]
            peaks[row["session_id"]] = max(kw, peaks.get(row["session_id"], kw))
    # Without power readings, the steepest rise of the energy register.
    samples: dict[int, list] = {}
    without_power = [pk for pk in ids if pk not in peaks]
    if without_power:
        rows = (
            MeterSample.objects.filter(
                session__in=without_power,
                measurand=ENERGY_REGISTER,
                phase="",
                numeric_value__isnull=False,
                unit__in=("Wh", "kWh"),
            )
            .order_by("timestamp", "id")
            .values_list("session_id", "timestamp", "numeric_value", "unit")
        )
        for session_id, timestamp, value, unit in rows:
            samples.setdefault(session_id, []).append((timestamp, value, unit))
    accounts = {b.account_id for b in map(_billing, sessions) if b is not None and b.account_id}
    methods = {
        m.account_id: m for m in PaymentMethod.objects.filter(account_id__in=accounts, is_default=True)
    } if accounts else {}  # fmt: skip
    records = []
    for session in sessions:
        billing = _billing(session)
        energy = _energy_wh(session, billing)
        peak = peaks.get(session.pk)
        if peak is None:
            peak = _peak_from_readings(
                _readings(session, session.start_at, session.stop_at, samples=samples.get(session.pk, []))
            )
        priced = billing is not None and billing.status == SessionBilling.Status.PRICED
        records.append(
            Cdr(
                transaction_id=session.pk,
                station=session.station.identity,
                connector_id=session.connector.connector_id,
                id_tag=session.id_tag,
                start=session.start_at,
                end=session.stop_at,
                energy_kwh=_kwh(energy),
                peak_kw=_kw(peak) if peak is not None else None,
                currency=billing.currency if billing else "",
                lines=billing.lines if priced else [],
                net=billing.net if priced else None,
                tax=billing.tax if priced else None,
                total=billing.total if priced else None,
                payment_method=_payment_method(billing.account if billing else None, methods),
                error=_error(session, energy),
            )
        )
    return records


def _lines_text(lines: list) -> str:
    return "; ".join(f"{line['description']}: {line['quantity']} {line['unit']} = {line['amount']}" for line in lines)


def _cell(value) -> str:
    text = "" if value is None else str(value)
    # A spreadsheet runs a cell that starts like a formula; an ID tag or stop reason comes from a charger.
    return "'" + text if text[:1] in ("=", "+", "-", "@", "\t", "\r") and not _is_number(text) else text


def _is_number(text: str) -> bool:
    try:
        Decimal(text)
    except ArithmeticError:
        return False
    return True


def cdrs_csv_rows(sessions: QuerySet[ChargingSession]) -> Iterator[list[str]]:
    """The CSV's rows, header first, read CHUNK sessions at a time (keyset pages, so
    a long period never sits in memory and each chunk costs the same queries)."""
    yield list(COLUMNS)
    last = None
    while True:
        chunk = sessions
        if last is not None:
            chunk = chunk.filter(stop_at__gte=last[0]).exclude(stop_at=last[0], id__lte=last[1])
        page = list(chunk[:CHUNK])
        if not page:
            return
        for cdr in cdrs_build(page):
            yield [
                _cell(cdr.transaction_id),
                _cell(cdr.station),
                _cell(cdr.connector_id),
                _cell(cdr.id_tag),
                cdr.start.isoformat(),
                cdr.end.isoformat(),
                _cell(cdr.energy_kwh),
                _cell(cdr.peak_kw),
                _cell(cdr.currency),
                _cell(_lines_text(cdr.lines)),
                _cell(cdr.net),
                _cell(cdr.tax),
                _cell(cdr.total),
                _cell(cdr.payment_method),
                _cell(cdr.error),
            ]
        last = (page[-1].stop_at, page[-1].pk)
