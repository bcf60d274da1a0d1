"""Usage and availability of the network, computed by the database from the
append-only status history and the sessions.

The status history is a list of moments: each StatusEvent says "from now on,
this port is X". A port's interval is one event up to the next event of the
same port (LEAD over the port's events, ordered by arrival), the last one up to
the end of the period. Intervals are clipped to the period; the event before
the period's start says what the port was doing when it began.

Whole days are read from the daily roll-ups (stations/uptime/rollup.py builds them with the
`*_live` functions here, so both agree); only the rest, normally the minutes since today's last
roll-up, is computed from the history.

Times are turned into seconds since the epoch inside the query (`Epoch`), so
the arithmetic after that is plain numbers and the same SQL runs on SQLite
and PostgreSQL. Ports are connectors 1 and up: connector 0 speaks for the
whole station and is not a place a car can charge.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

from django.conf import settings
from django.db import connection, models
from django.db.models import Case, Count, F, Func, OuterRef, Q, QuerySet, Subquery, Sum, Value, When
from django.db.models.functions import Coalesce, ExtractHour, ExtractIsoWeekDay, Lead
from django.utils import timezone

from stations.models import (
    ChargingSession,
    ChargingStation,
    Connector,
    ConnectorStatus,
    PortUsageDay,
    Site,
    SiteBusyDay,
    SiteUsageHour,
    StatusEvent,
)
from stations.uptime import days as day_plan

try:
    from stations.uptime import selectors as uptime
except ImportError:  # an installation without the uptime roll-up: its panels say the figures are missing
    uptime = None

S = ConnectorStatus


class UsageState(models.TextChoices):
    """What a port's time was spent on."""

    CHARGING = "charging"
    OCCUPIED = "occupied", "occupied, not charging"
    AVAILABLE = "available"
    DOWN = "down", "down (faulted, unavailable, offline)"
    UNKNOWN = "unknown", "not reported"


# Reserved counts as occupied: the port is held for someone and nobody else can use it.
STATE_OF_STATUS: dict[str, UsageState] = {
    S.CHARGING: UsageState.CHARGING,
    S.PREPARING: UsageState.OCCUPIED,
    S.SUSPENDED_EV: UsageState.OCCUPIED,
    S.SUSPENDED_EVSE: UsageState.OCCUPIED,
    S.FINISHING: UsageState.OCCUPIED,
    S.RESERVED: UsageState.OCCUPIED,
    S.AVAILABLE: UsageState.AVAILABLE,
    S.FAULTED: UsageState.DOWN,
    S.UNAVAILABLE: UsageState.DOWN,
    S.OFFLINE: UsageState.DOWN,
    S.UNKNOWN: UsageState.UNKNOWN,
}
BUSY_STATES = (UsageState.CHARGING, UsageState.OCCUPIED)


class Epoch(Func):
    """Seconds since 1970-01-01 UTC, as a float, of a datetime column."""

    output_field = models.FloatField()

    def as_sqlite(self, compiler, conn, **extra):
        # Django stores UTC as "YYYY-MM-DD HH:MM:SS[.ffffff]"; julianday reads it, fractions included.
        return self.as_sql(compiler, conn, template="((julianday(%(expressions)s) - 2440587.5) * 86400.0)", **extra)

    def as_postgresql(self, compiler, conn, **extra):
        return self.as_sql(compiler, conn, template="EXTRACT(EPOCH FROM %(expressions)s)::double precision", **extra)


def _epoch(moment: datetime) -> float:
    return moment.timestamp()


def _state_case() -> Case:
    whens = [When(status=status, then=Value(state.value)) for status, state in STATE_OF_STATUS.items()]
    return Case(*whens, default=Value(UsageState.UNKNOWN.value), output_field=models.CharField())


def _history(start: datetime, end: datetime, ports: QuerySet[Connector]) -> QuerySet[StatusEvent]:
    """The ports' events that shape [start, end): those inside it, and each port's last one before it.

    The last event before the start comes from a subquery per port on the
    (connector, received_at) index, so a long history before the period is not read.
    """
    before = StatusEvent.objects.filter(connector=OuterRef("pk"), received_at__lt=start).order_by("-received_at", "-id")
    opening = ports.annotate(opening_event=Subquery(before.values("pk")[:1])).filter(opening_event__isnull=False)
    return StatusEvent.objects.filter(connector__in=ports).filter(
        Q(received_at__gte=start, received_at__lt=end) | Q(pk__in=opening.values("opening_event"))
    )


def _intervals_sql(start: datetime, end: datetime, ports: QuerySet[Connector]) -> tuple[str, list]:
    """SQL of one row per event: port, station, site, state, and its interval in epoch seconds
    clipped to [start, end) (t0 < t1 for every row that counts)."""
    events = (
        _history(start, end, ports)
        .annotate(
            state=_state_case(),
            t_from=Epoch("received_at"),
            t_next=models.Window(
                Lead(Epoch("received_at")),
                partition_by=[F("connector_id")],
                order_by=[F("received_at").asc(), F("id").asc()],
            ),
            site_ref=F("station__site_id"),
        )
        .values("connector_id", "station_id", "site_ref", "state", "t_from", "t_next")
    )
    inner, params = events.query.sql_with_params()
    s, e = _epoch(start), _epoch(end)
    # Clipping with CASE rather than GREATEST/LEAST: SQLite has neither by that name.
    # The text is the ORM's compiled query and fixed names; every value travels as a parameter.
    sql = f"""
        SELECT connector_id, station_id, site_ref, state,
               CASE WHEN t_from < %s THEN %s ELSE t_from END AS t0,
               CASE WHEN t_next IS NULL OR t_next > %s THEN %s ELSE t_next END AS t1
        FROM ({inner}) AS events
    """  # noqa: S608
    return sql, [s, s, e, e, *params]


INTERVALS_TABLE = "usage_rollup_intervals"


@contextmanager
def intervals_table(start: datetime, end: datetime) -> Iterator[tuple[str, list]]:
    """Every port's intervals of [start, end) computed once into a temporary table, for the
    several aggregates a roll-up makes of the same day (each would read the history again)."""
    sql, params = _intervals_sql(start, end, _ports())
    with connection.cursor() as cursor:
        cursor.execute(f"DROP TABLE IF EXISTS {INTERVALS_TABLE}")
        # A fixed name and the ORM's compiled query; values travel as parameters.
        cursor.execute(
            f"CREATE TEMPORARY TABLE {INTERVALS_TABLE} AS SELECT * FROM ({sql}) AS iv WHERE t1 > t0",  # noqa: S608
            params,
        )
        cursor.execute(f"ANALYZE {INTERVALS_TABLE}")
    try:
        yield f"SELECT * FROM {INTERVALS_TABLE}", []  # noqa: S608 - a fixed name
    finally:
        with connection.cursor() as cursor:
            cursor.execute(f"DROP TABLE IF EXISTS {INTERVALS_TABLE}")


def _fetch(sql: str, params: Iterable) -> list[tuple]:
    with connection.cursor() as cursor:
        cursor.execute(sql, list(params))
        return cursor.fetchall()


# -- Utilisation -------------------------------------------------------------------


@dataclass
class Utilisation:
    """Seconds per state over a period, for one port, station, site or the network."""

    seconds: dict[str, float] = field(default_factory=dict)

    @classmethod
    def total(cls, parts) -> Utilisation:
        """The sum of several (the network from its sites, a site from its stations)."""
        whole = cls()
        for part in parts:
            for state, seconds in part.seconds.items():
                whole.seconds[state] = whole.seconds.get(state, 0.0) + seconds
        return whole

    @property
    def covered(self) -> float:
        return sum(self.seconds.values())

    def share(self, state: str) -> float:
        covered = self.covered
        return self.seconds.get(state, 0.0) / covered if covered else 0.0

    @property
    def shares(self) -> list[tuple[UsageState, float]]:
        return [(state, self.share(state)) for state in UsageState]

    @property
    def charging(self) -> float:
        return self.share(UsageState.CHARGING)

    @property
    def busy(self) -> float:
        return self.share(UsageState.CHARGING) + self.share(UsageState.OCCUPIED)

    @property
    def occupied(self) -> float:
        return self.share(UsageState.OCCUPIED)

    @property
    def available(self) -> float:
        return self.share(UsageState.AVAILABLE)

    @property
    def down(self) -> float:
        return self.share(UsageState.DOWN)


GROUP_COLUMNS = {"port": "connector_id", "station": "station_id", "site": "site_ref", "network": "0"}
# The same groups over PortUsageDay rows.
ROLLUP_GROUPS = {"port": "connector_id", "station": "station_id", "site": "station__site_id", "network": None}
STATE_COLUMNS = {
    UsageState.CHARGING: "charging_s",
    UsageState.OCCUPIED: "occupied_s",
    UsageState.AVAILABLE: "available_s",
    UsageState.DOWN: "down_s",
    UsageState.UNKNOWN: "unknown_s",
}


def utilisation_live(
    *,
    start: datetime,
    end: datetime,
    by: str = "station",
    ports: QuerySet[Connector] | None = None,
    intervals: tuple[str, list] | None = None,
) -> dict[int, Utilisation]:
    """`utilisation` computed from the history alone (what the roll-ups store per day), or from
    `intervals` already computed (`intervals_table`). One query."""
    if end <= start:
        return {}
    intervals, params = intervals or _intervals_sql(start, end, _ports() if ports is None else ports)
    key = GROUP_COLUMNS[by]
    # PostgreSQL reads GROUP BY 0 as a column position: the network is grouped by state alone.
    group = f"{key}, state" if by != "network" else "state"
    rows = _fetch(
        f"""
        SELECT {key} AS grp, state, SUM(t1 - t0)
        FROM ({intervals}) AS intervals
        WHERE t1 > t0
        GROUP BY {group}
        """,  # noqa: S608 - the ORM's compiled query and fixed names; values are parameters
        params,
    )
    result: dict[int, Utilisation] = {}
    for group, state, seconds in rows:
        result.setdefault(group, Utilisation()).seconds[state] = float(seconds or 0)
    return result


def _add(into: dict[int, Utilisation], found: dict[int, Utilisation]) -> None:
    for group, part in found.items():
        whole = into.setdefault(group, Utilisation())
        for state, seconds in part.seconds.items():
            whole.seconds[state] = whole.seconds.get(state, 0.0) + seconds


def utilisation(
    *,
    start: datetime,
    end: datetime,
    by: str = "station",
    site_id: int | None = None,
    station_id: int | None = None,
    now: datetime | None = None,
) -> dict[int, Utilisation]:
    """Share of time charging, occupied, available and down, per port, station, site
    or for the whole network (key 0), over [start, end) (cut at `now`).

    Shares are of the time the history covers: a port added during the period
    counts from its first report. Whole days come from the daily usage roll-ups (today as
    far as it is rolled up), the rest from the history: a few queries, whatever the period.
    """
    end = min(end, now or timezone.now())
    if end <= start:
        return {}
    segments = day_plan.plan(start, end, day_plan.rolled_days(start.date(), end.date(), usage=True))
    result: dict[int, Utilisation] = {}
    if segments.rolled:
        rows = PortUsageDay.objects.filter(day__in=segments.rolled)
        if site_id:
            rows = rows.filter(station__site_id=site_id)
        if station_id:
            rows = rows.filter(station_id=station_id)
        group = ROLLUP_GROUPS[by]
        sums = {state.value: Sum(column) for state, column in STATE_COLUMNS.items()}
        if group:
            summed = [(row[group], row) for row in rows.values(group).annotate(**sums).order_by()]
        else:
            summed = [(0, rows.aggregate(**sums))]
        for key, row in summed:
            found = Utilisation({state.value: float(row[state]) for state in STATE_COLUMNS if row[state]})
            if found.seconds:
                _add(result, {key: found})
    ports = _ports(site_id=site_id, station_id=station_id)
    for a, b in segments.live:
        _add(result, utilisation_live(start=a, end=b, by=by, ports=ports))
    return result


def network_utilisation(**kwargs) -> Utilisation:
    return utilisation(by="network", **kwargs).get(0, Utilisation())


def _ports(*, site_id: int | None = None, station_id: int | None = None) -> QuerySet[Connector]:
    ports = Connector.objects.filter(connector_id__gt=0)
    if site_id:
        ports = ports.filter(station__site_id=site_id)
    if station_id:
        ports = ports.filter(station_id=station_id)
    return ports


# -- When people charge: hour of day and weekday, in each site's time zone -----------


def zone_or_none(name: str | None) -> ZoneInfo | None:
    try:
        return ZoneInfo(name) if name else None
    except (KeyError, ValueError):
        return None


def _local(extract, field_name: str, zones: list[str]) -> Case:
    """`extract` of the field in the time zone of the session's site (the portal's without one)."""
    default = timezone.get_current_timezone()
    whens = [
        When(station__site__time_zone=name, then=extract(field_name, tzinfo=zone))
        for name in zones
        if (zone := zone_or_none(name)) is not None
    ]
    return Case(*whens, default=extract(field_name, tzinfo=default), output_field=models.IntegerField())


@dataclass
class HourCell:
    sessions: int = 0
    energy_wh: int = 0


@dataclass
class UsageByTime:
    """Sessions started (and the energy they delivered) by local weekday (1 Monday..7 Sunday) and hour."""

    cells: dict[tuple[int, int], HourCell]

    def by_hour(self) -> list[HourCell]:
        hours = [HourCell() for _ in range(24)]
        for (_, hour), cell in self.cells.items():
            hours[hour].sessions += cell.sessions
            hours[hour].energy_wh += cell.energy_wh
        return hours

    def by_weekday(self) -> list[HourCell]:
        days = [HourCell() for _ in range(7)]
        for (day, _), cell in self.cells.items():
            days[day - 1].sessions += cell.sessions
            days[day - 1].energy_wh += cell.energy_wh
        return days

    def grid(self) -> list[list[HourCell]]:
        """7 rows (Monday first) of 24 hours."""
        return [[self.cells.get((day, hour), HourCell()) for hour in range(24)] for day in range(1, 8)]

    @property
    def peak_hour(self) -> int | None:
        hours = self.by_hour()
        best = max(range(24), key=lambda h: hours[h].sessions)
        return best if hours[best].sessions else None

    @property
    def total_sessions(self) -> int:
        return sum(cell.sessions for cell in self.cells.values())

    @property
    def total_energy_wh(self) -> int:
        return sum(cell.energy_wh for cell in self.cells.values())


def usage_by_time_live(
    *, start: datetime, end: datetime, site_id: int | None = None, station_id: int | None = None
) -> UsageByTime:
    """`usage_by_time` from the sessions alone. Two queries: the time zones in use, then one
    grouped count."""
    sessions = ChargingSession.objects.filter(start_at__gte=start, start_at__lt=end)
    if site_id:
        sessions = sessions.filter(station__site_id=site_id)
    if station_id:
        sessions = sessions.filter(station_id=station_id)
    # Every zone the sites name (a few dozen at most), not only those with sessions: cheaper than a join.
    zones = sorted(Site.objects.values_list("time_zone", flat=True).distinct().order_by())
    rows = (
        sessions.annotate(local_day=_local(ExtractIsoWeekDay, "start_at", zones))
        .annotate(local_hour=_local(ExtractHour, "start_at", zones))
        .values("local_day", "local_hour")
        .annotate(count=Count("id"), energy=Coalesce(Sum("energy_wh"), 0))
        .order_by()
    )
    return UsageByTime(
        {(row["local_day"], row["local_hour"]): HourCell(row["count"], int(row["energy"])) for row in rows}
    )


def usage_by_time(
    *, start: datetime, end: datetime, site_id: int | None = None, station_id: int | None = None
) -> UsageByTime:
    """Sessions started in [start, end) by the weekday and hour on the site's clock, with
    their energy: whole days from the hourly roll-ups of the sites, the rest (today after the
    last roll-up) from the sessions. One station's are read from the sessions."""
    if station_id:
        return usage_by_time_live(start=start, end=end, site_id=site_id, station_id=station_id)
    segments = day_plan.plan(start, end, day_plan.rolled_days(start.date(), end.date(), usage=True))
    cells: dict[tuple[int, int], HourCell] = {}
    if segments.rolled:
        rows = SiteUsageHour.objects.filter(day__in=segments.rolled)
        if site_id:
            rows = rows.filter(site_id=site_id)
        summed = rows.values("weekday", "hour").annotate(n=Sum("sessions"), e=Sum("energy_wh")).order_by()
        for row in summed:
            if row["n"]:
                cells[(row["weekday"], row["hour"])] = HourCell(row["n"], int(row["e"] or 0))
    for a, b in segments.live:
        for key, cell in usage_by_time_live(start=a, end=b, site_id=site_id).cells.items():
            found = cells.setdefault(key, HourCell())
            found.sessions += cell.sessions
            found.energy_wh += cell.energy_wh
    return UsageByTime(cells)


def state_seconds_by_hour(
    *, start: datetime, end: datetime, intervals: tuple[str, list] | None = None
) -> list[tuple[int | None, datetime, str, float]]:
    """(site id, UTC hour, usage state, seconds) of every site's ports over [start, end), the
    history (or `intervals` already computed) cut at each UTC hour. One query."""
    first = start.replace(minute=0, second=0, microsecond=0)
    hours = []
    cursor = first
    while cursor < end:
        hours.append(cursor)
        cursor += timedelta(hours=1)
    if not hours:
        return []
    intervals, params = intervals or _intervals_sql(start, end, _ports())
    # Hour boundaries as parameters: one row per hour, the same statement on SQLite and PostgreSQL.
    table = " UNION ALL ".join(["SELECT %s AS n, %s AS hs, %s AS he"] * len(hours))
    bounds = [value for n, h in enumerate(hours) for value in (n, _epoch(h), _epoch(h) + 3600.0)]
    rows = _fetch(
        f"""
        SELECT site_ref, hours.n, state,
               SUM(CASE WHEN t1 < hours.he THEN t1 ELSE hours.he END
                   - CASE WHEN t0 > hours.hs THEN t0 ELSE hours.hs END)
        FROM ({intervals}) AS intervals
        JOIN ({table}) AS hours ON intervals.t0 < hours.he AND intervals.t1 > hours.hs
        WHERE t1 > t0
        GROUP BY site_ref, hours.n, state
        """,  # noqa: S608 - the ORM's compiled query and fixed names; values are parameters
        [*params, *bounds],
    )
    return [(site, hours[n], state, float(seconds or 0)) for site, n, state, seconds in rows]


def utilisation_by_hour(*, start: datetime, end: datetime, site_id: int | None = None, now=None) -> list[Utilisation]:
    """Utilisation per hour of the day on each site's clock (24 entries), over [start, end): whole
    days from the hourly roll-ups of the sites, the rest from the history."""
    end = min(end, now or timezone.now())
    hours = [Utilisation() for _ in range(24)]
    if end <= start:
        return hours
    segments = day_plan.plan(start, end, day_plan.rolled_days(start.date(), end.date(), usage=True))
    if segments.rolled:
        rows = SiteUsageHour.objects.filter(day__in=segments.rolled)
        if site_id:
            rows = rows.filter(site_id=site_id)
        sums = {state.value: Sum(column) for state, column in STATE_COLUMNS.items()}
        for row in rows.values("hour").annotate(**sums).order_by():
            _add_seconds(hours[row["hour"]], {state: float(row[state] or 0) for state in STATE_COLUMNS})
    if segments.live:
        zones = site_zones()
        for a, b in segments.live:
            for site, hour, state, seconds in state_seconds_by_hour(start=a, end=b):
                if site_id and site != site_id:
                    continue
                _add_seconds(hours[hour.astimezone(zones.get(site) or _portal_zone()).hour], {state: seconds})
    return hours


def _add_seconds(into: Utilisation, seconds: dict[str, float]) -> None:
    for state, value in seconds.items():
        if value:
            into.seconds[state] = into.seconds.get(state, 0.0) + value


def _portal_zone():
    return timezone.get_current_timezone()


def site_zones() -> dict[int, ZoneInfo | None]:
    """Each site's time zone (None where the name is not one). One query."""
    return {pk: zone_or_none(name) for pk, name in Site.objects.values_list("pk", "time_zone")}


# -- Sites where every port is taken at once -------------------------------------------


@dataclass
class AllBusy:
    site: Site
    ports: int
    periods: int
    seconds: float
    longest: float
    period_seconds: float

    @property
    def share(self) -> float:
        return self.seconds / self.period_seconds if self.period_seconds else 0.0

    @property
    def average(self) -> float:
        return self.seconds / self.periods if self.periods else 0.0


@dataclass
class BusySpan:
    """All-busy periods of one site over [start, end) (epoch seconds), summed; `lead` is the
    length of a period running from `start`, `trail` of one running to `end` (0 if none)."""

    start: float
    end: float
    periods: int = 0
    seconds: float = 0.0
    longest: float = 0.0
    lead: float = 0.0
    trail: float = 0.0

    @classmethod
    def of(cls, start: float, end: float, periods: list[tuple[float, float]]) -> BusySpan:
        span = cls(start, end, len(periods), sum(b - a for a, b in periods))
        span.longest = max((b - a for a, b in periods), default=0.0)
        span.lead = next((b - a for a, b in periods if a <= start), 0.0)
        span.trail = next((b - a for a, b in periods if b >= end), 0.0)
        return span


def busy_totals(spans: list[BusySpan]) -> tuple[int, float, float]:
    """(periods, seconds, longest) of consecutive spans of one site, a period that runs across
    the border of two spans counted once, at its whole length."""
    periods, seconds, longest = 0, 0.0, 0.0
    running = 0.0  # the period still open at the end of the span before
    previous_end = None
    for span in sorted(spans, key=lambda s: s.start):
        continues = running > 0 and span.lead > 0 and previous_end == span.start
        periods += span.periods - continues
        seconds += span.seconds
        longest = max(longest, span.longest)
        whole = span.periods == 1 and span.lead >= span.end - span.start
        if continues:
            running += span.lead
            longest = max(longest, running)
            if not whole:
                running = span.trail
        else:
            running = span.trail
        previous_end = span.end
    return periods, seconds, longest


def busy_periods(
    *, start: datetime, end: datetime, site_id: int | None = None, intervals: tuple[str, list] | None = None
) -> dict[int, list[tuple[float, float]]]:
    """Per site, the periods (epoch seconds) in [start, end) in which every one of its ports was
    occupied (charging or held) at the same time.

    Each occupied interval adds one at its start and takes one away at its end;
    the changes of a site at the same instant are summed first (a port going
    from Charging to Finishing is no gap), and a running sum over the site's
    changes is the number of ports occupied from that instant to the next. A
    period is a run of consecutive instants where that number reaches the
    site's port count. One query. The occupied intervals are MATERIALIZED: both halves of the
    UNION read them, and computing the window over the history twice doubled the time.
    `intervals` already computed (`intervals_table`, every port) may stand in for the history.
    """
    if end <= start:
        return {}
    ports = _ports(site_id=site_id).filter(station__site__isnull=False)
    intervals, params = intervals or _intervals_sql(start, end, ports)
    port_counts, count_params = _port_counts(ports).query.sql_with_params()
    busy = ", ".join(["%s"] * len(BUSY_STATES))
    sql = f"""
        WITH occupied AS MATERIALIZED (
            SELECT site_ref, t0, t1 FROM ({intervals}) AS intervals
            WHERE t1 > t0 AND state IN ({busy}) AND site_ref IS NOT NULL
        ),
        changes AS (
            SELECT site_ref, t, SUM(d) AS d FROM (
                SELECT site_ref, t0 AS t, 1 AS d FROM occupied
                UNION ALL
                SELECT site_ref, t1 AS t, -1 AS d FROM occupied
            ) AS deltas
            GROUP BY site_ref, t
        ),
        running AS (
            SELECT site_ref, t,
                   SUM(d) OVER (PARTITION BY site_ref ORDER BY t ROWS UNBOUNDED PRECEDING) AS taken,
                   LEAD(t) OVER (PARTITION BY site_ref ORDER BY t) AS t_next
            FROM changes
        ),
        flagged AS (
            SELECT running.site_ref, t, t_next,
                   CASE WHEN taken >= port_counts.n THEN 1 ELSE 0 END AS full_site
            FROM running JOIN ({port_counts}) AS port_counts ON port_counts.site_key = running.site_ref
        ),
        starts AS (
            SELECT site_ref, t, t_next, full_site,
                   CASE WHEN full_site = 1
                        AND COALESCE(LAG(full_site) OVER (PARTITION BY site_ref ORDER BY t), 0) = 0
                        THEN 1 ELSE 0 END AS starts_period
            FROM flagged
        ),
        islands AS (
            SELECT site_ref, t, t_next, full_site,
                   SUM(starts_period) OVER (PARTITION BY site_ref ORDER BY t ROWS UNBOUNDED PRECEDING) AS period_no
            FROM starts
        )
        SELECT site_ref, MIN(t), MAX(t_next)
        FROM islands WHERE full_site = 1 AND t_next IS NOT NULL
        GROUP BY site_ref, period_no
    """  # noqa: S608 - the ORM's compiled queries and fixed names; values are parameters
    found: dict[int, list[tuple[float, float]]] = {}
    for site_ref, t0, t1 in _fetch(sql, [*params, *[state.value for state in BUSY_STATES], *count_params]):
        found.setdefault(site_ref, []).append((float(t0), float(t1)))
    for periods in found.values():
        periods.sort()
    return found


def _port_counts(ports: QuerySet[Connector]) -> QuerySet:
    return (
        ports.annotate(site_key=F("station__site_id"))
        .values("site_key")
        .annotate(n=Count("id"))
        .values("site_key", "n")
        .order_by()
    )


def all_busy_sites(
    *, start: datetime, end: datetime, site_id: int | None = None, now: datetime | None = None, limit: int = 20
) -> list[AllBusy]:
    """Sites where every port was occupied (charging or held) at the same time, with how
    often, for how long in all and at the longest, busiest first.

    Whole days come from the daily roll-up of those periods (today as far as it is rolled up),
    the rest from the history (`busy_periods`); a period across midnight counts once. A few
    queries, whatever the period.
    """
    end = min(end, now or timezone.now())
    if end <= start:
        return []
    segments = day_plan.plan(start, end, day_plan.rolled_days(start.date(), end.date(), usage=True))
    spans: dict[int, list[BusySpan]] = {}
    if segments.rolled:
        through = day_plan.rolled_days(min(segments.rolled), max(segments.rolled), usage=True)
        rows = SiteBusyDay.objects.filter(day__in=segments.rolled)
        if site_id:
            rows = rows.filter(site_id=site_id)
        for row in rows:
            begins = day_plan.day_start(row.day)
            ends = through.get(row.day) or begins + timedelta(days=1)
            spans.setdefault(row.site_id, []).append(
                BusySpan(_epoch(begins), _epoch(ends), row.periods, row.seconds, row.longest_s, row.lead_s, row.trail_s)
            )
    for a, b in segments.live:
        for site, periods in busy_periods(start=a, end=b, site_id=site_id).items():
            spans.setdefault(site, []).append(BusySpan.of(_epoch(a), _epoch(b), periods))
    totals = {site: busy_totals(found) for site, found in spans.items()}
    ranked = sorted(((site, *t) for site, t in totals.items() if t[0]), key=lambda r: (-r[2], r[0]))[:limit]
    if not ranked:
        return []
    sites = Site.objects.in_bulk([row[0] for row in ranked])
    counts = dict(_port_counts(_ports(site_id=site_id)).values_list("site_key", "n"))
    span = (end - start).total_seconds()
    return [
        AllBusy(
            site=sites[site_ref],
            ports=counts.get(site_ref, 0),
            periods=periods,
            seconds=float(total),
            longest=float(longest),
            period_seconds=span,
        )
        for site_ref, periods, total, longest in ranked
        if site_ref in sites
    ]


# -- Now, and faults ------------------------------------------------------------------


@dataclass
class NetworkNow:
    ports: int
    available: int
    charging: int
    occupied: int
    faulted: int
    unavailable: int
    offline: int
    stations: int
    stations_offline: int

    @property
    def other(self) -> int:
        counted = self.available + self.charging + self.occupied + self.faulted + self.unavailable + self.offline
        return self.ports - counted


def network_now(*, site_id: int | None = None) -> NetworkNow:
    """The ports by what they are doing now; a port of a station marked offline is offline
    whatever it last reported. One query."""
    ports = _ports(site_id=site_id)
    online = Q(station__offline=False)
    occupied = [status for status, state in STATE_OF_STATUS.items() if state == UsageState.OCCUPIED]
    figures = ports.aggregate(
        ports=Count("id"),
        available=Count("id", filter=online & Q(status=S.AVAILABLE)),
        charging=Count("id", filter=online & Q(status=S.CHARGING)),
        occupied=Count("id", filter=online & Q(status__in=occupied)),
        faulted=Count("id", filter=online & Q(status=S.FAULTED)),
        unavailable=Count("id", filter=online & Q(status=S.UNAVAILABLE)),
        offline=Count("id", filter=Q(station__offline=True) | Q(status=S.OFFLINE)),
        stations=Count("station", distinct=True),
        stations_offline=Count("station", distinct=True, filter=Q(station__offline=True)),
    )
    return NetworkNow(**figures)


# -- Periods -----------------------------------------------------------------------


# Periods are whole UTC days, today's so far included (as uptime counts days): all but today
# come from the daily roll-ups.
PERIODS = {
    "24h": ("Yesterday and today", 2),
    "7d": ("Last 7 days", 7),
    "30d": ("Last 30 days", 30),
    "90d": ("Last 90 days", 90),
}
DEFAULT_PERIOD = "30d"


def period_bounds(key: str | None, now: datetime) -> tuple[str, datetime, datetime]:
    """A named period: that many UTC days up to now, today the last of them; an unknown name is
    the default one."""
    key = key if key in PERIODS else DEFAULT_PERIOD
    today = now.astimezone(UTC).date()
    return key, day_plan.day_start(today - timedelta(days=PERIODS[key][1] - 1)), now


# -- Pages -----------------------------------------------------------------------------


@dataclass
class SiteUsage:
    site: Site
    ports: int
    utilisation: Utilisation
    uptime_percent: float | None = None


@dataclass
class StationUsage:
    station: ChargingStation
    utilisation: Utilisation


def sites_usage(*, start: datetime, end: datetime, now: datetime | None = None) -> tuple[list[SiteUsage], Utilisation]:
    """Every site with its port count and utilisation, the most charged first, and the
    network's (its sites' and the stations' without one). Two queries."""
    by_site = utilisation(start=start, end=end, by="site", now=now)
    sites = Site.objects.annotate(
        ports=Count("stations__connectors", filter=Q(stations__connectors__connector_id__gt=0))
    ).order_by("name")
    rows = [SiteUsage(site, site.ports, by_site.get(site.pk, Utilisation())) for site in sites]
    network = Utilisation.total(by_site.values())
    return sorted(rows, key=lambda row: (-row.utilisation.charging, row.site.name)), network


def stations_usage(
    *, start: datetime, end: datetime, site_id: int | None = None, now: datetime | None = None
) -> list[StationUsage]:
    """The stations (of a site) with their utilisation, the most charged first. Two queries."""
    by_station = utilisation(start=start, end=end, by="station", site_id=site_id, now=now)
    stations = ChargingStation.objects.select_related("site").order_by("identity")
    if site_id:
        stations = stations.filter(site_id=site_id)
    rows = [StationUsage(station, by_station.get(station.pk, Utilisation())) for station in stations]
    return sorted(rows, key=lambda row: (-row.utilisation.charging, row.station.identity))


@dataclass
class PortUsage:
    connector: Connector
    utilisation: Utilisation
    uptime_percent: float | None = None


def station_ports_usage(*, station: ChargingStation, start: datetime, end: datetime, now=None) -> list[PortUsage]:
    """The station's ports with their utilisation. Two queries."""
    by_port = utilisation(start=start, end=end, by="port", station_id=station.pk, now=now)
    ports = _ports(station_id=station.pk).order_by("connector_id")
    return [PortUsage(port, by_port.get(port.pk, Utilisation())) for port in ports]


# -- Uptime on the dashboard and the pages (figures from stations.uptime) ---------------------


@dataclass
class WorstPort:
    station: str
    connector_id: int
    uptime_percent: float


@dataclass
class UptimeOverview:
    start: datetime
    end: datetime
    target: float
    network: float | None
    ports: int
    ports_below_target: int
    worst: list[WorstPort]
    weeks: list[tuple[datetime, float | None]]

    @property
    def meets_target(self) -> bool:
        return self.network is not None and self.network >= self.target


def uptime_overview(*, now: datetime, worst: int = 5, weeks: int = 6) -> UptimeOverview | None:
    """This month's uptime of the network against the target, its worst ports, and the
    network's uptime week by week (weeks from Monday 00:00 UTC, as uptime counts UTC days).

    The month per port reads the daily roll-ups plus the live rest of today, the weeks the
    network's daily totals kept with the roll-ups; the live rest is computed once for both.
    A fixed number of queries whatever the number of ports. None without the uptime roll-up.
    """
    if uptime is None:
        return None
    live = uptime.LiveWindows()
    [(month_start, month_end)] = uptime.period_bounds(uptime.Period.MONTH, now.astimezone(UTC).date())
    per_port = uptime.uptime_report(start=month_start, end=min(month_end, now), group_by="port", now=now, live=live)
    total = uptime.PortUptime(0)
    for row in per_port:
        total.add(uptime.PortUptime(0, row.figures.period_s, row.figures.outage_s, row.figures.excluded_s))
    ranked = sorted(
        (row for row in per_port if row.uptime_percent is not None and row.uptime_percent < 100),
        key=lambda row: (row.uptime_percent, row.key["station"], row.key["connector_id"]),
    )
    today = now.astimezone(UTC).date()
    this_week = today - timedelta(days=today.weekday())
    week_starts = [this_week - timedelta(weeks=n) for n in range(weeks - 1, -1, -1)]
    starts = [datetime.combine(first, datetime.min.time(), tzinfo=UTC) for first in week_starts]
    figures = uptime.network_uptime(periods=[(a, a + timedelta(weeks=1)) for a in starts], now=now, live=live)
    by_week = [(a, f.uptime_percent) for a, f in zip(starts, figures, strict=True)]
    return UptimeOverview(
        start=month_start,
        end=min(month_end, now),
        target=uptime_target(),
        network=total.uptime_percent,
        ports=len(per_port),
        ports_below_target=sum(row.below_target for row in per_port),
        worst=[WorstPort(row.key["station"], row.key["connector_id"], row.uptime_percent) for row in ranked[:worst]],
        weeks=by_week,
    )


def ports_uptime_this_month(*, station_ids: list[int], now: datetime) -> dict[int, float | None]:
    """Uptime % this month (UTC) of the given stations' ports, by connector id."""
    if uptime is None:
        return {}
    [(month_start, month_end)] = uptime.period_bounds(uptime.Period.MONTH, now.astimezone(UTC).date())
    found = uptime.ports_uptime(start=month_start, end=min(month_end, now), station_ids=station_ids, now=now)
    return {port: figures.uptime_percent for port, figures in found.items()}


def sites_uptime_this_month(*, now: datetime) -> dict[int, float | None]:
    """Uptime % this month (UTC) per site."""
    if uptime is None:
        return {}
    [(month_start, month_end)] = uptime.period_bounds(uptime.Period.MONTH, now.astimezone(UTC).date())
    rows = uptime.uptime_report(start=month_start, end=min(month_end, now), group_by="site", now=now)
    return {row.key["site_id"]: row.uptime_percent for row in rows}


def site_uptime_this_month(*, site_id: int, now: datetime) -> float | None:
    """Uptime % this month (UTC) of the site's ports together."""
    if uptime is None:
        return None
    [(month_start, month_end)] = uptime.period_bounds(uptime.Period.MONTH, now.astimezone(UTC).date())
    station_ids = list(ChargingStation.objects.filter(site_id=site_id).values_list("pk", flat=True))
    if not station_ids:
        return None
    rows = uptime.uptime_report(
        start=month_start, end=min(month_end, now), group_by="network", station_ids=station_ids, now=now
    )
    return rows[0].uptime_percent if rows else None


def uptime_target() -> float | None:
    return getattr(settings, "UPTIME_TARGET_PERCENT", None)
