"""Daily roll-ups: one PortUptimeDay row per port per finished UTC day, recomputable at will."""

from datetime import UTC, date, datetime, time, timedelta

from django.db import transaction
from django.utils import timezone

from stations.models import Connector, PortUptimeDay, UptimeRollupDay

from .selectors import port_windows_live


def uptime_rollup_day(*, day: date, now: datetime | None = None) -> int | None:
    """(Re)compute every port's figures for `day`; returns the number of ports, or None for a day
    not over yet (it stays live). Replaces whatever was there, so history or exclusions that
    changed since are taken in."""
    now = now or timezone.now()
    start = datetime.combine(day, time.min, tzinfo=UTC)
    end = start + timedelta(days=1)
    if end > now:
        return None
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
    with transaction.atomic():
        PortUptimeDay.objects.filter(day=day).delete()
        PortUptimeDay.objects.bulk_create(rows, batch_size=5000)
        UptimeRollupDay.objects.update_or_create(day=day, defaults={"computed_at": now, "ports": len(rows)})
    return len(rows)


def uptime_rollup_days(*, first: date, last: date, now: datetime | None = None) -> dict[date, int | None]:
    """Recompute every day from `first` to `last` inclusive."""
    out = {}
    day = first
    while day <= last:
        out[day] = uptime_rollup_day(day=day, now=now)
        day += timedelta(days=1)
    return out
