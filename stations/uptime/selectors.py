"""Uptime reads: per port live from history, and reports over roll-ups plus live edges.

Stable for other apps (dashboard, alerts): `port_uptime`, `uptime_report`, `uptime_period_report`,
`period_bounds`, the `PortUptime` / `UptimeRow` shapes and the `PortUptimeDay` model.
"""

from collections import defaultdict
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from enum import StrEnum

from django.conf import settings
from django.db.models import Sum
from django.utils import timezone

from stations.models import Connector, ExclusionState, PortUptimeDay, UptimeExclusion, UptimeRollupDay

from . import days, history, intervals
from .intervals import Interval


@dataclass
class OutagePiece:
    """Part of an outage, wholly excluded (with the exclusion) or wholly not."""

    start: datetime
    end: datetime
    exclusion: UptimeExclusion | None = None

    @property
    def minutes(self) -> float:
        return (self.end - self.start).total_seconds() / 60


def _percent(period_s: float, outage_s: float, excluded_s: float) -> float | None:
    if period_s <= 0:
        return None
    return (period_s - (outage_s - excluded_s)) / period_s * 100


@dataclass
class PortUptime:
    """One port over a period. Seconds are exact; the minute properties are what reports show."""

    port_id: int
    period_s: float = 0
    outage_s: float = 0
    excluded_s: float = 0
    pieces: list[OutagePiece] = field(default_factory=list)

    def add(self, other: "PortUptime") -> None:
        self.period_s += other.period_s
        self.outage_s += other.outage_s
        self.excluded_s += other.excluded_s
        self.pieces.extend(other.pieces)

    @property
    def minutes(self) -> float:
        return self.period_s / 60

    @property
    def outage_minutes(self) -> float:
        return self.outage_s / 60

    @property
    def excluded_minutes(self) -> float:
        return self.excluded_s / 60

    @property
    def uptime_percent(self) -> float | None:
        return _percent(self.period_s, self.outage_s, self.excluded_s)

    @property
    def below_target(self) -> bool:
        percent = self.uptime_percent
        return percent is not None and percent < settings.UPTIME_TARGET_PERCENT


def _ports(station_ids: list[int] | None):
    """Ports of these stations (all with None); filtering by station keeps the statement short
    however many ports there are (no list of thousands of ids)."""
    ports = Connector.objects.filter(connector_id__gt=0)
    return ports if station_ids is None else ports.filter(station_id__in=station_ids)


def _exclusions_by_port(*, start: datetime, end: datetime, ports: dict[int, dict]) -> dict[int, list[UptimeExclusion]]:
    # Confirmed exclusions overlapping a window are few: read them all and match them here.
    found = UptimeExclusion.objects.filter(
        state=ExclusionState.CONFIRMED, starts_at__lt=end, ends_at__gt=start
    ).order_by("starts_at", "id")
    by_station: dict[int, list] = defaultdict(list)
    by_site: dict[int, list] = defaultdict(list)
    by_port: dict[int, list] = defaultdict(list)
    for exclusion in found:
        if exclusion.connector_id:
            by_port[exclusion.connector_id].append(exclusion)
        elif exclusion.station_id:
            by_station[exclusion.station_id].append(exclusion)
        else:
            by_site[exclusion.site_id].append(exclusion)
    return {
        port: by_port[port] + by_station[meta["station_id"]] + by_site.get(meta["station__site_id"], [])
        for port, meta in ports.items()
    }


def _pieces(outages: list[Interval], exclusions: list[UptimeExclusion]) -> list[OutagePiece]:
    pieces: list[OutagePiece] = []
    for start, end in outages:
        cuts = sorted(
            {start, end}
            | {e.starts_at for e in exclusions if start < e.starts_at < end}
            | {e.ends_at for e in exclusions if start < e.ends_at < end}
        )
        for a, b in zip(cuts, cuts[1:], strict=False):
            covering = next((e for e in exclusions if e.starts_at <= a and e.ends_at >= b), None)
            if pieces and pieces[-1].end == a and pieces[-1].exclusion is covering:
                pieces[-1].end = b
            else:
                pieces.append(OutagePiece(start=a, end=b, exclusion=covering))
    return pieces


def port_windows_live(
    *, start: datetime, end: datetime, station_ids: list[int] | None = None, with_pieces: bool = False
) -> dict[int, PortUptime]:
    """Every port's uptime over [start, end) computed from history now (no roll-ups)."""
    found = history.status_history(start=start, end=end, station_ids=station_ids)
    if not found:
        return {}
    runs = history.failing_runs(start=start, end=end, station_ids=station_ids)
    meta = {
        row["id"]: row
        for row in _ports(station_ids).values("id", "station_id", "station__site_id")
        if row["id"] in found
    }
    exclusions = _exclusions_by_port(start=start, end=end, ports=meta)
    result: dict[int, PortUptime] = {}
    for port, seen in found.items():
        begin = max(start, seen.seen_from)
        outages = intervals.clip(intervals.union(seen.status_outages + runs.get(port, [])), begin, end)
        excluded_cover = intervals.union((e.starts_at, e.ends_at) for e in exclusions.get(port, []))
        excluded = intervals.intersect(outages, excluded_cover)
        result[port] = PortUptime(
            port_id=port,
            period_s=(end - begin).total_seconds(),
            outage_s=intervals.seconds(outages),
            excluded_s=intervals.seconds(excluded),
            pieces=_pieces(outages, exclusions.get(port, [])) if with_pieces else [],
        )
    return result


class LiveWindows:
    """Live computations of windows already asked for, so a page that reads several periods
    ending now (a month, six weeks) computes today's live part once."""

    def __init__(self):
        self._found: dict[tuple, dict[int, PortUptime]] = {}

    def get(self, *, start: datetime, end: datetime, station_ids: list[int] | None) -> dict[int, PortUptime]:
        key = (start, end, None if station_ids is None else tuple(sorted(station_ids)))
        if key not in self._found:
            self._found[key] = port_windows_live(start=start, end=end, station_ids=station_ids)
        return self._found[key]


def ports_uptime(
    *,
    start: datetime,
    end: datetime,
    station_ids: list[int] | None = None,
    now: datetime | None = None,
    live: LiveWindows | None = None,
) -> dict[int, PortUptime]:
    """Every port's uptime over [start, end): roll-ups for the days that have them (today as far
    as it is rolled up), live for the rest.

    The period stops at `now`: time to come is neither up nor down. Pass one `live` to several
    calls to compute a live window they share once.
    """
    start, end = start.astimezone(UTC), min(end, now or timezone.now()).astimezone(UTC)
    if end <= start:
        return {}
    segments = days.plan(start, end, days.rolled_days(start.date(), end.date()))
    totals: dict[int, PortUptime] = {}
    if segments.rolled:
        rows = PortUptimeDay.objects.filter(day__in=segments.rolled)
        if station_ids is not None:
            rows = rows.filter(station_id__in=station_ids)
        summed = rows.values("connector_id").annotate(p=Sum("period_s"), o=Sum("outage_s"), x=Sum("excluded_s"))
        for row in summed.order_by():
            totals[row["connector_id"]] = PortUptime(
                port_id=row["connector_id"], period_s=row["p"], outage_s=row["o"], excluded_s=row["x"]
            )
    live = live or LiveWindows()
    for a, b in segments.live:
        for port, figures in live.get(start=a, end=b, station_ids=station_ids).items():
            totals.setdefault(port, PortUptime(port_id=port)).add(figures)
    return totals


def network_uptime(
    *, periods: list[tuple[datetime, datetime]], now: datetime, live: LiveWindows | None = None
) -> list[PortUptime]:
    """The whole network's uptime figures for each of several periods (weeks, say), from the
    network's daily totals kept with the roll-ups plus the live rest: one row per day, not per
    port. One query for the totals, and the live parts (shared through `live`)."""
    end = now.astimezone(UTC)
    periods = [(a.astimezone(UTC), min(b, end).astimezone(UTC)) for a, b in periods]
    periods = [(a, b) for a, b in periods if b > a]
    if not periods:
        return []
    first, last = min(a for a, _ in periods).date(), max(b for _, b in periods).date()
    totals = {row.day: row for row in UptimeRollupDay.objects.filter(day__gte=first, day__lte=last)}
    rolled = {day: row.through for day, row in totals.items()}
    live = live or LiveWindows()
    found = []
    for a, b in periods:
        segments = days.plan(a, b, rolled)
        whole = PortUptime(0)
        for day in segments.rolled:
            whole.add(PortUptime(0, totals[day].period_s, totals[day].outage_s, totals[day].excluded_s))
        for x, y in segments.live:
            for f in live.get(start=x, end=y, station_ids=None).values():
                whole.add(PortUptime(0, f.period_s, f.outage_s, f.excluded_s))
        found.append(whole)
    return found


def port_uptime(*, connector: Connector, start: datetime, end: datetime, now: datetime | None = None) -> PortUptime:
    """One port over [start, end) (roll-ups plus live); zero minutes if it did not exist yet."""
    found = ports_uptime(start=start, end=end, station_ids=[connector.station_id], now=now)
    return found.get(connector.pk, PortUptime(port_id=connector.pk))


class GroupBy(StrEnum):
    PORT = "port"
    STATION = "station"
    SITE = "site"
    MODEL = "model"
    NETWORK = "network"


@dataclass
class UptimeRow:
    """A line of an uptime report: one port, station, site, vendor/model, or the network."""

    key: dict
    figures: PortUptime
    ports: int = 0
    ports_below_target: int = 0

    @property
    def uptime_percent(self) -> float | None:
        return self.figures.uptime_percent

    @property
    def below_target(self) -> bool:
        return self.figures.below_target


def _key(group_by: GroupBy, meta: dict) -> tuple:
    if group_by == GroupBy.PORT:
        return ("port", meta["id"], meta["station__identity"], meta["connector_id"])
    if group_by == GroupBy.STATION:
        return ("station", meta["station_id"], meta["station__identity"])
    if group_by == GroupBy.SITE:
        return ("site", meta["station__site_id"], meta["station__site__name"])
    if group_by == GroupBy.MODEL:
        return ("model", meta["station__vendor"], meta["station__model"])
    return ("network",)


_KEY_NAMES = {
    "port": ("port_id", "station", "connector_id"),
    "station": ("station_id", "station"),
    "site": ("site_id", "site"),
    "model": ("vendor", "model"),
    "network": (),
}


def uptime_report(
    *,
    start: datetime,
    end: datetime,
    group_by: GroupBy | str = GroupBy.PORT,
    station_ids: list[int] | None = None,
    now: datetime | None = None,
    live: LiveWindows | None = None,
) -> list[UptimeRow]:
    """Uptime over [start, end) per port, station, site, vendor/model or for the whole network.

    A group's figure sums its ports' minutes (not an average of percentages); `ports_below_target`
    counts its ports under UPTIME_TARGET_PERCENT.
    """
    group_by = GroupBy(group_by)
    per_port = ports_uptime(start=start, end=end, station_ids=station_ids, now=now, live=live)
    meta = _ports(station_ids).values(
        "id", "connector_id", "station_id", "station__identity", "station__site_id", "station__site__name",
        "station__vendor", "station__model",
    )  # fmt: skip
    rows: dict[tuple, UptimeRow] = {}
    for port in meta:
        figures = per_port.get(port["id"])
        if figures is None:  # not there yet in the period
            continue
        key = _key(group_by, port)
        row = rows.get(key)
        if row is None:
            row = rows[key] = UptimeRow(key=dict(zip(_KEY_NAMES[key[0]], key[1:], strict=True)), figures=PortUptime(0))
        row.figures.add(PortUptime(0, figures.period_s, figures.outage_s, figures.excluded_s))
        row.ports += 1
        row.ports_below_target += figures.below_target
    if group_by == GroupBy.PORT:
        for row in rows.values():
            row.figures.port_id = row.key["port_id"]
    return sorted(rows.values(), key=lambda row: tuple(str(value) for value in row.key.values()))


class Period(StrEnum):
    MONTH = "month"
    QUARTER = "quarter"
    TRAILING_12_MONTHS = "trailing_12_months"


def _month_start(year: int, month: int) -> datetime:
    year, month = year + (month - 1) // 12, (month - 1) % 12 + 1
    return datetime(year, month, 1, tzinfo=UTC)


def period_bounds(period: Period | str, on: date) -> list[tuple[datetime, datetime]]:
    """The months making up the period that contains `on` (UTC): one for a month, three for a
    quarter, and for the trailing 12 months the 12 whole months before `on`'s month."""
    period = Period(period)
    if period == Period.MONTH:
        firsts = [(on.year, on.month)]
    elif period == Period.QUARTER:
        first = (on.month - 1) // 3 * 3 + 1
        firsts = [(on.year, first + i) for i in range(3)]
    else:
        firsts = [(on.year, on.month - 12 + i) for i in range(12)]
    return [(_month_start(y, m), _month_start(y, m + 1)) for y, m in firsts]


def uptime_period_report(
    *,
    period: Period | str,
    on: date,
    group_by: GroupBy | str = GroupBy.PORT,
    station_ids: list[int] | None = None,
    now: datetime | None = None,
) -> list[UptimeRow]:
    """The report for a month, a quarter or the trailing 12 months, computed month by month:
    each month's minutes (period, outage, excluded) are added up, as 23 CFR 680.116(b) asks."""
    combined: dict[tuple, UptimeRow] = {}
    months = period_bounds(period, on)
    per_month = [
        {
            tuple(r.key.items()): r
            for r in uptime_report(start=a, end=b, group_by=group_by, station_ids=station_ids, now=now)
        }
        for a, b in months
    ]
    for key in {key for month in per_month for key in month}:
        rows = [month[key] for month in per_month if key in month]
        total = UptimeRow(key=dict(key), figures=PortUptime(rows[0].figures.port_id))
        for row in rows:
            total.figures.add(row.figures)
            total.ports = max(total.ports, row.ports)
        combined[key] = total
    # Ports below target over the whole period, not per month.
    if GroupBy(group_by) != GroupBy.PORT:
        ports = uptime_period_report(period=period, on=on, group_by=GroupBy.PORT, station_ids=station_ids, now=now)
        below = {row.key["port_id"] for row in ports if row.below_target}
        _count_below(combined, below, GroupBy(group_by), station_ids)
    return sorted(combined.values(), key=lambda row: tuple(str(value) for value in row.key.values()))


def _count_below(
    rows: dict[tuple, UptimeRow], below: set[int], group_by: GroupBy, station_ids: list[int] | None
) -> None:
    meta = _ports(station_ids).values(
        "id", "connector_id", "station_id", "station__identity", "station__site_id", "station__site__name",
        "station__vendor", "station__model",
    )  # fmt: skip
    for row in rows.values():
        row.ports_below_target = 0
    for port in meta:
        if port["id"] not in below:
            continue
        key = _key(group_by, port)
        names = _KEY_NAMES[key[0]]
        row = rows.get(tuple(zip(names, key[1:], strict=True)))
        if row is not None:
            row.ports_below_target += 1
