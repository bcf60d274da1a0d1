"""Daily roll-ups: per port per UTC day, uptime (PortUptimeDay) and usage (PortUsageDay, with the
sites' hours in SiteUsageHour and all-busy periods in SiteBusyDay), recomputable at will.

A finished day is rolled up whole by the nightly task (and again whenever its history or
exclusions change). Today is rolled up as far as now every few minutes, so a page computes only
the minutes since from the history.
"""

from datetime import UTC, date, datetime, time, timedelta

from django.db import transaction
from django.utils import timezone

from stations.models import (
    Connector,
    PortUptimeDay,
    PortUsageDay,
    SiteBusyDay,
    SiteUsageHour,
    UptimeRollupDay,
)

from .selectors import port_windows_live
from .usage_rollup import usage_rows

BATCH = 5000


def _rollup(*, day: date, end: datetime, now: datetime) -> int:
    start = datetime.combine(day, time.min, tzinfo=UTC)
    whole = end >= start + timedelta(days=1)
    figures = port_windows_live(start=start, end=end)
    stations = dict(Connector.objects.filter(connector_id__gt=0).values_list("pk", "station_id"))
    rows = [
        PortUptimeDay(
            connector_id=port,
            station_id=stations[port],
            day=day,
            period_s=round(f.period_s),
            outage_s=round(f.outage_s),
            excluded_s=round(f.excluded_s),
            computed_at=now,
        )
        for port, f in figures.items()
    ]
    used = usage_rows(day=day, start=start, end=end)
    with transaction.atomic():
        for model in (PortUptimeDay, PortUsageDay, SiteUsageHour, SiteBusyDay):
            model.objects.filter(day=day).delete()
        PortUptimeDay.objects.bulk_create(rows, batch_size=BATCH)
        PortUsageDay.objects.bulk_create(used.ports, batch_size=BATCH)
        SiteUsageHour.objects.bulk_create(used.hours, batch_size=BATCH)
        SiteBusyDay.objects.bulk_create(used.busy, batch_size=BATCH)
        UptimeRollupDay.objects.update_or_create(
            day=day,
            defaults={
                "computed_at": now,
                "ports": len(rows),
                "through": None if whole else end,
                "usage": True,
                "period_s": sum(row.period_s for row in rows),
                "outage_s": sum(row.outage_s for row in rows),
                "excluded_s": sum(row.excluded_s for row in rows),
            },
        )
    return len(rows)


def uptime_rollup_day(*, day: date, now: datetime | None = None) -> int | None:
    """(Re)compute every port's figures for `day`; returns the number of ports, or None for a day
    not over yet (see `uptime_rollup_today`). Replaces whatever was there, so history or
    exclusions that changed since are taken in."""
    now = now or timezone.now()
    end = datetime.combine(day, time.min, tzinfo=UTC) + timedelta(days=1)
    if end > now:
        return None
    return _rollup(day=day, end=end, now=now)


def uptime_rollup_today(*, now: datetime | None = None) -> int:
    """Roll today (UTC) up as far as `now`; readers compute only what came after from history."""
    now = now or timezone.now()
    return _rollup(day=now.astimezone(UTC).date(), end=now, now=now)


def uptime_rollup_days(*, first: date, last: date, now: datetime | None = None) -> dict[date, int | None]:
    """Recompute every day from `first` to `last` inclusive; today, if among them and already
    rolled up as far as it goes, is rolled up again so far."""
    now = now or timezone.now()
    today = now.astimezone(UTC).date()
    out = {}
    day = first
    while day <= last:
        if day == today and UptimeRollupDay.objects.filter(day=day).exists():
            out[day] = uptime_rollup_today(now=now)
        else:
            out[day] = uptime_rollup_day(day=day, now=now)
        day += timedelta(days=1)
    return out
