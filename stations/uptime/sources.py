"""Stations' own sources of proposed exclusions: maintenance windows, and the time a site is
closed by its opening hours. Each proposal has a stable key, so reading the sources again (every
night, over the last few days) proposes nothing twice; an operator confirms or rejects each.
"""

from collections import defaultdict
from collections.abc import Iterator
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from stations.models import ExclusionReason, ExclusionSource, MaintenanceWindow, SiteOpeningHours
from stations.services.uptime_sources import ExclusionProposal

from . import intervals
from .intervals import Interval


def maintenance_windows(start: datetime, end: datetime) -> Iterator[ExclusionProposal]:
    """Every maintenance window overlapping [start, end), as scheduled maintenance."""
    windows = MaintenanceWindow.objects.filter(starts_at__lt=end, ends_at__gt=start).order_by("starts_at", "pk")
    for window in windows:
        yield ExclusionProposal(
            key=f"maintenance:{window.pk}",
            reason=ExclusionReason.SCHEDULED_MAINTENANCE,
            source=ExclusionSource.MAINTENANCE_WINDOW,
            starts_at=window.starts_at,
            ends_at=window.ends_at,
            site_id=window.site_id,
            station_id=window.station_id,
            connector_id=window.connector_id,
            notes=window.title,
        )


def _zone(name: str):
    try:
        return ZoneInfo(name)
    except (KeyError, ValueError):
        return UTC


def closed_spells(day: date, zone, spells: list[tuple[time, time]]) -> list[Interval]:
    """The UTC intervals of the local `day` outside the opening `spells` (closes 00:00: midnight)."""
    begins = datetime.combine(day, time.min, tzinfo=zone).astimezone(UTC)
    ends = datetime.combine(day + timedelta(days=1), time.min, tzinfo=zone).astimezone(UTC)
    opened = intervals.union(
        (
            datetime.combine(day, opens, tzinfo=zone).astimezone(UTC),
            ends if closes == time.min else datetime.combine(day, closes, tzinfo=zone).astimezone(UTC),
        )
        for opens, closes in spells
    )
    closed, cursor = [], begins
    for a, b in opened:
        if a > cursor:
            closed.append((cursor, a))
        cursor = max(cursor, b)
    if cursor < ends:
        closed.append((cursor, ends))
    return closed


def outside_opening_hours(start: datetime, end: datetime) -> Iterator[ExclusionProposal]:
    """For each site with opening hours, each closed spell of each local day overlapping
    [start, end), whole (not clipped to the window, so its key stays the same), site-wide."""
    by_site: dict[int, dict[int, list[tuple[time, time]]]] = defaultdict(lambda: defaultdict(list))
    zones = {}
    for row in SiteOpeningHours.objects.select_related("site").order_by("site_id", "weekday", "opens"):
        by_site[row.site_id][row.weekday].append((row.opens, row.closes))
        zones[row.site_id] = _zone(row.site.time_zone)
    for site_id, week in by_site.items():
        zone = zones[site_id]
        day, last = start.astimezone(zone).date(), end.astimezone(zone).date()
        while day <= last:
            for a, b in closed_spells(day, zone, week.get(day.isoweekday(), [])):
                if a < end and b > start:
                    yield ExclusionProposal(
                        key=f"hours:{site_id}:{day.isoformat()}:{a.astimezone(zone):%H%M}",
                        reason=ExclusionReason.OUTSIDE_OPERATING_HOURS,
                        source=ExclusionSource.OPENING_HOURS,
                        starts_at=a,
                        ends_at=b,
                        site_id=site_id,
                        notes=f"closed {a.astimezone(zone):%a %d %b %H:%M}–{b.astimezone(zone):%H:%M} site time",
                    )
            day += timedelta(days=1)


def proposals(start: datetime, end: datetime) -> list[ExclusionProposal]:
    return [*maintenance_windows(start, end), *outside_opening_hours(start, end)]
