"""Usage roll-up rows for one UTC day (or today up to now), computed by the same queries the
analytics run live (stations.selectors_usage), so the two cannot disagree."""

from dataclasses import dataclass, field
from datetime import date, datetime

from django.db.models import Count, Sum
from django.db.models.functions import Coalesce, ExtractHour, ExtractIsoWeekDay

from stations import selectors_usage as usage
from stations.models import ChargingSession, Connector, PortUsageDay, Site, SiteBusyDay, SiteUsageHour


@dataclass
class UsageRows:
    ports: list[PortUsageDay] = field(default_factory=list)
    hours: list[SiteUsageHour] = field(default_factory=list)
    busy: list[SiteBusyDay] = field(default_factory=list)


def usage_rows(*, day: date, start: datetime, end: datetime) -> UsageRows:
    """The roll-up rows of [start, end), all inside `day`."""
    with usage.intervals_table(start, end) as intervals:
        return _rows(day=day, start=start, end=end, intervals=intervals)


def _rows(*, day: date, start: datetime, end: datetime, intervals: tuple[str, list]) -> UsageRows:
    found = UsageRows()
    stations = dict(Connector.objects.values_list("pk", "station_id"))
    by_port = usage.utilisation_live(start=start, end=end, by="port", intervals=intervals)
    sessions = {
        row["connector_id"]: row
        for row in ChargingSession.objects.filter(start_at__gte=start, start_at__lt=end)
        .values("connector_id")
        .annotate(n=Count("id"), e=Coalesce(Sum("energy_wh"), 0))
        .order_by()
    }
    for port in sorted(set(by_port) | set(sessions)):
        seconds = by_port[port].seconds if port in by_port else {}
        started = sessions.get(port, {"n": 0, "e": 0})
        found.ports.append(
            PortUsageDay(
                connector_id=port,
                station_id=stations[port],
                day=day,
                sessions=started["n"],
                energy_wh=int(started["e"]),
                **{column: round(seconds.get(state, 0)) for state, column in usage.STATE_COLUMNS.items()},
            )
        )
    found.hours = _hour_rows(day=day, start=start, end=end, intervals=intervals)
    counts = dict(usage._port_counts(usage._ports().filter(station__site__isnull=False)).values_list("site_key", "n"))
    begins, ends = start.timestamp(), end.timestamp()
    for site, periods in usage.busy_periods(start=start, end=end, intervals=intervals).items():
        span = usage.BusySpan.of(begins, ends, periods)
        found.busy.append(
            SiteBusyDay(
                site_id=site,
                day=day,
                ports=counts.get(site, 0),
                periods=span.periods,
                seconds=round(span.seconds),
                longest_s=round(span.longest),
                lead_s=round(span.lead),
                trail_s=round(span.trail),
            )
        )
    return found


def _hour_rows(*, day: date, start: datetime, end: datetime, intervals: tuple[str, list]) -> list[SiteUsageHour]:
    """Per site and local (weekday, hour): sessions by their start on the site's clock, and the
    seconds per state of each UTC hour under the local hour it begins in."""
    zones = usage.site_zones()
    names = sorted(Site.objects.values_list("time_zone", flat=True).distinct().order_by())
    cells: dict[tuple, SiteUsageHour] = {}

    def cell(site: int | None, weekday: int, hour: int) -> SiteUsageHour:
        key = (site, weekday, hour)
        if key not in cells:
            cells[key] = SiteUsageHour(site_id=site, day=day, weekday=weekday, hour=hour)
        return cells[key]

    started = (
        ChargingSession.objects.filter(start_at__gte=start, start_at__lt=end)
        .annotate(local_day=usage._local(ExtractIsoWeekDay, "start_at", names))
        .annotate(local_hour=usage._local(ExtractHour, "start_at", names))
        .values("station__site_id", "local_day", "local_hour")
        .annotate(n=Count("id"), e=Coalesce(Sum("energy_wh"), 0))
        .order_by()
    )
    for row in started:
        found = cell(row["station__site_id"], row["local_day"], row["local_hour"])
        found.sessions += row["n"]
        found.energy_wh += int(row["e"])
    columns = usage.STATE_COLUMNS
    for site, hour, state, seconds in usage.state_seconds_by_hour(start=start, end=end, intervals=intervals):
        local = hour.astimezone(zones.get(site) or usage._portal_zone())
        found = cell(site, local.isoweekday(), local.hour)
        column = columns.get(usage.UsageState(state), "unknown_s")
        setattr(found, column, getattr(found, column) + round(seconds))
    return list(cells.values())
