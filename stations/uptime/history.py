"""Outage intervals per port, computed in the database from the status history.

One query per window: each port's events, with connector 0's events of its station merged in,
ordered by arrival; running counts carry the last known state of each stream forward (the same
SQL on SQLite and PostgreSQL, which both lack nothing here but IGNORE NULLS), LEAD gives each
state's end, and consecutive down states are merged (gaps and islands), so only the outages, not
the events, come back to Python. Runs of failed sessions come from a second windowed query.
"""

from collections import defaultdict
from dataclasses import dataclass, field
from datetime import UTC, datetime

from django.conf import settings
from django.db import connection

from stations.models import ChargingSession

from . import rules
from .intervals import Interval


@dataclass
class PortHistory:
    """What a window's history says about one port: when it is known from, and its outages."""

    port_id: int
    seen_from: datetime
    status_outages: list[Interval] = field(default_factory=list)
    failing_runs: list[Interval] = field(default_factory=list)


def _param(moment: datetime):
    return connection.ops.adapt_datetimefield_value(moment)


def _moment(value) -> datetime:
    """A time as the database hands it back from raw SQL (SQLite: text in UTC)."""
    if isinstance(value, str):
        value = datetime.fromisoformat(value)
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    return value.astimezone(UTC)


def _up_list() -> str:
    # Our own enum values, never input: safe to write into the statement.
    return ", ".join(f"'{status.value}'" for status in rules.UP_STATUSES)


def _status_sql(station_filter: str) -> str:
    down = f"CASE WHEN e.status IN ({_up_list()}) THEN 0 ELSE 1 END"
    # Only our enum values and placeholders are written into the text; values travel as parameters.
    return f"""
WITH conn AS (
    SELECT id AS cid, station_id AS sid, connector_id AS num FROM stations_connector {station_filter}
),
ev AS (
    SELECT e.connector_id AS cid, e.received_at AS t, e.id AS eid, {down} AS down
    FROM stations_statusevent e JOIN conn ON conn.cid = e.connector_id
    WHERE e.received_at >= %s AND e.received_at < %s
    UNION ALL
    -- The state each connector was in when the window opened.
    SELECT e.connector_id, %s, e.id, {down}
    FROM conn JOIN stations_statusevent e ON e.id = (
        SELECT e2.id FROM stations_statusevent e2
        WHERE e2.connector_id = conn.cid AND e2.received_at < %s
        ORDER BY e2.received_at DESC, e2.id DESC LIMIT 1
    )
),
stream AS (
    SELECT conn.cid AS port, ev.t, ev.eid, ev.down AS own_down, CAST(NULL AS INTEGER) AS st_down
    FROM ev JOIN conn ON conn.cid = ev.cid WHERE conn.num > 0
    UNION ALL
    SELECT p.cid, ev.t, ev.eid, CAST(NULL AS INTEGER), ev.down
    FROM ev JOIN conn z ON z.cid = ev.cid AND z.num = 0
    JOIN conn p ON p.sid = z.sid AND p.num > 0
),
filled AS (
    SELECT port, t, eid, own_down, st_down,
        COUNT(own_down) OVER (PARTITION BY port ORDER BY t, eid ROWS UNBOUNDED PRECEDING) AS og,
        COUNT(st_down) OVER (PARTITION BY port ORDER BY t, eid ROWS UNBOUNDED PRECEDING) AS sg
    FROM stream
),
state AS (
    -- Each group holds one report and the rows after it: its value is the state carried forward.
    SELECT port, t, eid,
        MAX(own_down) OVER (PARTITION BY port, og) AS own,
        MAX(st_down) OVER (PARTITION BY port, sg) AS st
    FROM filled
),
iv AS (
    SELECT port, t, eid,
        LEAD(t) OVER (PARTITION BY port ORDER BY t, eid) AS t_next,
        -- NULL before the port's first report: it did not exist yet.
        CASE WHEN own IS NULL THEN NULL WHEN own = 1 OR st = 1 THEN 1 ELSE 0 END AS down
    FROM state
),
marked AS (
    SELECT port, t, eid, t_next, down,
        LAG(down) OVER (PARTITION BY port ORDER BY t, eid) AS prev_down
    FROM iv
),
islands AS (
    SELECT port, t, t_next, down,
        SUM(CASE WHEN down = 1 AND prev_down = 1 THEN 0 ELSE 1 END)
            OVER (PARTITION BY port ORDER BY t, eid ROWS UNBOUNDED PRECEDING) AS g
    FROM marked
)
SELECT port, 0, MIN(t), NULL FROM iv WHERE down IS NOT NULL GROUP BY port
UNION ALL
SELECT port, 1, MIN(t), MAX(COALESCE(t_next, %s)) FROM islands WHERE down = 1 GROUP BY port, g
"""  # noqa: S608


def _station_filter(station_ids: list[int] | None) -> tuple[str, list]:
    if station_ids is None:
        return "", []
    if not station_ids:
        return "WHERE 1 = 0", []
    return f"WHERE station_id IN ({', '.join(['%s'] * len(station_ids))})", list(station_ids)


def status_history(*, start: datetime, end: datetime, station_ids: list[int] | None = None) -> dict[int, PortHistory]:
    """Every port known before `end`, with its status outages inside [start, end)."""
    where, ids = _station_filter(station_ids)
    s, e = _param(start), _param(end)
    ports: dict[int, PortHistory] = {}
    outages: dict[int, list[Interval]] = defaultdict(list)
    with connection.cursor() as cursor:
        cursor.execute(_status_sql(where), [*ids, s, e, s, s, e])
        for port, kind, t0, t1 in cursor.fetchall():
            if kind == 0:
                ports[port] = PortHistory(port_id=port, seen_from=_moment(t0))
            else:
                outages[port].append((_moment(t0), _moment(t1)))
    for port, found in outages.items():
        ports[port].status_outages = found
    return ports


def failing_runs(*, start: datetime, end: datetime, station_ids: list[int] | None = None) -> dict[int, list[Interval]]:
    """Per port, the stretches from the first failure of a run of FAILED_SESSIONS_THRESHOLD or more
    consecutive port failures until the next successful session starts (or `end`)."""
    # Sessions after `end` too: a run whose last failure comes after the window still began inside
    # it, and a day must come out the same whether computed alone or inside a longer period.
    sessions = ChargingSession.objects.filter(
        start_at__gte=start - rules.FAILED_RUN_LOOKBACK,
        start_at__lt=end + rules.FAILED_RUN_LOOKBACK,
        connector__connector_id__gt=0,
    )
    if station_ids is not None:
        sessions = sessions.filter(station_id__in=station_ids)
    judged = (
        sessions.annotate(outcome=rules.session_outcome())
        .filter(outcome__in=[rules.SessionOutcome.SUCCESS, *rules.PORT_FAILURE_OUTCOMES])
        .order_by()
        .values("connector_id", "id", "start_at", "outcome")
    )
    inner, params = judged.query.sql_with_params()
    ok = f"'{rules.SessionOutcome.SUCCESS.value}'"
    # The ORM's own compiled statement and an enum value; values travel as parameters.
    sql = f"""
WITH s AS ({inner}),
m AS (
    SELECT connector_id AS port, id, start_at, CASE WHEN outcome = {ok} THEN 0 ELSE 1 END AS failed,
        SUM(CASE WHEN outcome = {ok} THEN 1 ELSE 0 END)
            OVER (PARTITION BY connector_id ORDER BY start_at, id ROWS UNBOUNDED PRECEDING) AS okg
    FROM s
),
runs AS (
    SELECT port, okg, MIN(CASE WHEN failed = 1 THEN start_at END) AS first_fail
    FROM m GROUP BY port, okg HAVING SUM(failed) >= %s
)
SELECT r.port, r.first_fail, MIN(ok.start_at)
FROM runs r LEFT JOIN m ok ON ok.port = r.port AND ok.okg = r.okg + 1 AND ok.failed = 0
GROUP BY r.port, r.first_fail
"""  # noqa: S608
    found: dict[int, list[Interval]] = defaultdict(list)
    with connection.cursor() as cursor:
        cursor.execute(sql, [*params, settings.FAILED_SESSIONS_THRESHOLD])
        for port, first_fail, recovered in cursor.fetchall():
            run_start = _moment(first_fail)
            run_end = _moment(recovered) if recovered is not None else end
            if run_end > start and run_start < end:
                found[port].append((max(run_start, start), min(run_end, end)))
    return found
