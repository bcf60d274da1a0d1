"""The price of a charging session: a pure function of the tariff terms and the usage.

The same function gives the live cost of a running session (usage so far)
and the final price, so the two never disagree.

Method, stated once:
- Time-of-use windows are wall-clock times in the site's time zone. A window
  edge that falls in the hour skipped when clocks go forward is taken at the
  jump (the first instant whose wall time is at or after it); an edge in the
  repeated hour when clocks go back is taken at its first occurrence.
- Energy between two consecutive register readings is spread evenly over the
  time between them; where a window edge falls between two readings, each side
  gets its share by time. Energy therefore follows the readings on each side of
  every boundary, and no reading is needed at the boundary itself.
- Charging time is the session's time minus its idle time; idle time is when
  the vehicle is connected but draws no power (the caller derives it from
  status reports and readings). Idle minutes are billed after the grace period,
  which is subtracted once from the session's idle total.
- Every line is rounded to the currency's minor unit, half up; the net is the
  sum of the rounded lines; a minimum or maximum adjusts the net with a line of
  its own; tax is the net times the rate, rounded the same way. Prices exclude tax.
"""

from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from decimal import ROUND_HALF_UP, Decimal
from zoneinfo import ZoneInfo

ZERO = Decimal("0")
_MINOR_UNITS = {"JPY": 0, "KRW": 0, "ISK": 0, "CLP": 0, "HUF": 2}


def minor_unit(currency: str) -> Decimal:
    return Decimal(1).scaleb(-_MINOR_UNITS.get(currency.upper(), 2))


def round_money(amount: Decimal, currency: str) -> Decimal:
    return amount.quantize(minor_unit(currency), rounding=ROUND_HALF_UP)


@dataclass(frozen=True)
class Period:
    """A time-of-use window; a price left as None falls back to the terms' own."""

    days: frozenset[int]  # Monday 0 .. Sunday 6: the day the window starts on
    start: time
    end: time  # not after start: the window ends on the next day
    price_per_kwh: Decimal | None = None
    price_per_minute: Decimal | None = None

    @property
    def label(self) -> str:
        return f"{self.start:%H:%M}-{self.end:%H:%M}"


@dataclass(frozen=True)
class Terms:
    currency: str
    time_zone: str = "UTC"
    price_per_kwh: Decimal = ZERO
    price_per_minute: Decimal = ZERO
    idle_price_per_minute: Decimal = ZERO
    idle_grace_minutes: int = 0
    session_fee: Decimal = ZERO
    minimum_price: Decimal | None = None
    maximum_price: Decimal | None = None
    tax_rate: Decimal = ZERO
    periods: tuple[Period, ...] = ()


@dataclass(frozen=True)
class Usage:
    start: datetime
    end: datetime
    # Energy register readings in Wh, in time order, the start and end included.
    readings: tuple[tuple[datetime, Decimal], ...]
    idle: tuple[tuple[datetime, datetime], ...] = ()


@dataclass(frozen=True)
class Line:
    kind: str  # energy, time, idle, fee, minimum, maximum, tax
    description: str
    quantity: Decimal
    unit: str
    unit_price: Decimal
    amount: Decimal

    def as_json(self) -> dict:
        return {
            "kind": self.kind,
            "description": self.description,
            "quantity": str(self.quantity),
            "unit": self.unit,
            "unit_price": str(self.unit_price),
            "amount": str(self.amount),
        }


@dataclass(frozen=True)
class Price:
    currency: str
    lines: tuple[Line, ...]
    net: Decimal
    tax: Decimal
    total: Decimal
    energy_wh: Decimal = ZERO
    extra: dict = field(default_factory=dict)

    def lines_json(self) -> list[dict]:
        return [line.as_json() for line in self.lines]


# --- time-of-use timeline -------------------------------------------------


def local_to_utc(wall: datetime, zone: ZoneInfo) -> datetime:
    """The UTC instant of a wall-clock time (see the module's method for gaps and folds)."""
    first = wall.replace(tzinfo=zone, fold=0).astimezone(UTC)
    if first.astimezone(zone).replace(tzinfo=None) == wall:
        return first
    # In a gap: the first instant whose wall time is at or after `wall` is the jump.
    lower = wall.replace(tzinfo=zone, fold=1).astimezone(UTC)
    low, high = min(lower, first), max(lower, first)
    while high - low > timedelta(seconds=1):
        middle = low + (high - low) / 2
        if middle.astimezone(zone).replace(tzinfo=None) >= wall:
            high = middle
        else:
            low = middle
    return high.replace(microsecond=0) if high.microsecond else high


def _windows(period: Period, zone: ZoneInfo, start: datetime, end: datetime) -> list[tuple[datetime, datetime]]:
    """The UTC spans of one period's windows that overlap [start, end]."""
    spans = []
    first_day: date = start.astimezone(zone).date() - timedelta(days=1)
    last_day: date = end.astimezone(zone).date()
    day = first_day
    while day <= last_day:
        if day.weekday() in period.days:
            opens = local_to_utc(datetime.combine(day, period.start), zone)
            close_day = day if period.end > period.start else day + timedelta(days=1)
            closes = local_to_utc(datetime.combine(close_day, period.end), zone)
            if closes > start and opens < end:
                spans.append((max(opens, start), min(closes, end)))
        day += timedelta(days=1)
    return spans


def timeline(terms: Terms, start: datetime, end: datetime) -> list[tuple[datetime, datetime, Period | None]]:
    """[start, end] cut into consecutive spans, each under one period (the first
    listed wins where windows overlap) or none."""
    zone = ZoneInfo(terms.time_zone)
    marks: list[tuple[datetime, datetime, int]] = []
    for index, period in enumerate(terms.periods):
        marks += [(a, b, index) for a, b in _windows(period, zone, start, end)]
    cuts = sorted({start, end, *(a for a, _, _ in marks), *(b for _, b, _ in marks)})
    spans = []
    for a, b in zip(cuts, cuts[1:], strict=False):
        covering = [index for (s, e, index) in marks if s <= a and e >= b]
        spans.append((a, b, terms.periods[min(covering)] if covering else None))
    return spans or [(start, end, None)]


def _overlap(a0: datetime, a1: datetime, b0: datetime, b1: datetime) -> Decimal:
    seconds = (min(a1, b1) - max(a0, b0)).total_seconds()
    return Decimal(str(seconds)) if seconds > 0 else ZERO


def _seconds(a: datetime, b: datetime) -> Decimal:
    return Decimal(str((b - a).total_seconds()))


# --- the price ------------------------------------------------------------


def price(terms: Terms, usage: Usage) -> Price:
    cur = terms.currency
    spans = timeline(terms, usage.start, usage.end) if usage.end > usage.start else []
    energy_by_span = _energy_by_span(spans, usage.readings)
    idle = _merged(usage.idle, usage.start, usage.end)
    lines: list[Line] = []

    # Energy and charging time per time-of-use span, merged per price.
    energy: dict[tuple[str, Decimal], Decimal] = {}
    minutes: dict[tuple[str, Decimal], Decimal] = {}
    for (a, b, period), wh in zip(spans, energy_by_span, strict=True):
        label = period.label if period else "standard"
        kwh_price = period.price_per_kwh if period and period.price_per_kwh is not None else terms.price_per_kwh
        minute_price = (
            period.price_per_minute if period and period.price_per_minute is not None else terms.price_per_minute
        )
        energy[(label, kwh_price)] = energy.get((label, kwh_price), ZERO) + wh / 1000
        idle_seconds = sum((_overlap(a, b, i0, i1) for i0, i1 in idle), ZERO)
        charging = (_seconds(a, b) - idle_seconds) / 60
        minutes[(label, minute_price)] = minutes.get((label, minute_price), ZERO) + charging

    for (label, unit_price), kwh in energy.items():
        if unit_price and kwh:
            lines.append(
                Line(
                    "energy", f"Energy ({label})", _shown(kwh, 3), "kWh", unit_price, round_money(kwh * unit_price, cur)
                )
            )
    for (label, unit_price), mins in minutes.items():
        if unit_price and mins:
            lines.append(
                Line(
                    "time",
                    f"Charging time ({label})",
                    _shown(mins, 2),
                    "min",
                    unit_price,
                    round_money(mins * unit_price, cur),
                )  # fmt: skip
            )
    idle_minutes = sum((_seconds(i0, i1) for i0, i1 in idle), ZERO) / 60
    billable_idle = max(ZERO, idle_minutes - terms.idle_grace_minutes)
    if terms.idle_price_per_minute and billable_idle:
        lines.append(
            Line(
                "idle",
                f"Idle time after {terms.idle_grace_minutes} min grace",
                _shown(billable_idle, 2),
                "min",
                terms.idle_price_per_minute,
                round_money(billable_idle * terms.idle_price_per_minute, cur),
            )  # fmt: skip
        )
    if terms.session_fee:
        lines.append(
            Line("fee", "Session fee", Decimal(1), "session", terms.session_fee, round_money(terms.session_fee, cur))
        )

    net = sum((line.amount for line in lines), ZERO)
    if terms.minimum_price is not None and net < terms.minimum_price:
        adjustment = round_money(terms.minimum_price - net, cur)
        lines.append(Line("minimum", "Minimum price", Decimal(1), "session", adjustment, adjustment))
        net += adjustment
    if terms.maximum_price is not None and net > terms.maximum_price:
        adjustment = round_money(terms.maximum_price - net, cur)
        lines.append(Line("maximum", "Maximum price", Decimal(1), "session", adjustment, adjustment))
        net += adjustment
    tax = round_money(net * terms.tax_rate, cur)
    total_energy = sum(energy_by_span, ZERO)
    return Price(cur, tuple(lines), net, tax, net + tax, energy_wh=total_energy)


def _shown(quantity: Decimal, places: int) -> Decimal:
    return quantity.quantize(Decimal(1).scaleb(-places), rounding=ROUND_HALF_UP)


def _energy_by_span(spans: list, readings: tuple[tuple[datetime, Decimal], ...]) -> list[Decimal]:
    """Each span's share of the energy, by time between consecutive readings."""
    shares = [ZERO] * len(spans)
    if not spans:
        return shares
    for (t0, wh0), (t1, wh1) in zip(readings, readings[1:], strict=False):
        delta = wh1 - wh0
        if delta <= 0:
            continue
        length = _seconds(t0, t1)
        for index, (a, b, _) in enumerate(spans):
            if length > 0:
                part = _overlap(t0, t1, a, b)
                if part:
                    shares[index] += delta * part / length
            elif a <= t0 < b or (index == len(spans) - 1 and t0 == b):
                shares[index] += delta
                break
    return shares


def _merged(
    intervals: tuple[tuple[datetime, datetime], ...], start: datetime, end: datetime
) -> list[tuple[datetime, datetime]]:
    """Intervals clipped to [start, end], overlaps merged (idle time is never counted twice)."""
    clipped = sorted((max(a, start), min(b, end)) for a, b in intervals if min(b, end) > max(a, start))
    merged: list[tuple[datetime, datetime]] = []
    for a, b in clipped:
        if merged and a <= merged[-1][1]:
            merged[-1] = (merged[-1][0], max(merged[-1][1], b))
        else:
            merged.append((a, b))
    return merged
