"""Which part of a period comes from roll-ups and which is computed live from history.

Roll-ups are per UTC day. A whole day rolled up is read from its rows; today is rolled up
as far as UptimeRollupDay.through (every few minutes), so only the time after that, and any day
not rolled up, is computed from the history when a page asks.
"""

from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta

from stations.models import UptimeRollupDay

from .intervals import Interval


def day_start(day: date) -> datetime:
    return datetime.combine(day, time.min, tzinfo=UTC)


@dataclass
class DayPlan:
    """[start, end) as whole rolled-up days, at most one day read as far as its `through`
    (`partial`), and the stretches left to compute live."""

    days: list[date] = field(default_factory=list)
    partial: list[date] = field(default_factory=list)
    live: list[Interval] = field(default_factory=list)

    @property
    def rolled(self) -> list[date]:
        return self.days + self.partial

    def add_live(self, a: datetime, b: datetime) -> None:
        if b <= a:
            return
        if self.live and self.live[-1][1] == a:
            self.live[-1] = (self.live[-1][0], b)
        else:
            self.live.append((a, b))


def rolled_days(first: date, last: date, *, usage: bool = False) -> dict[date, datetime | None]:
    """Days in [first, last] with roll-ups: day → through (None for the whole day). One query."""
    rows = UptimeRollupDay.objects.filter(day__gte=first, day__lte=last)
    if usage:
        rows = rows.filter(usage=True)
    return dict(rows.values_list("day", "through"))


def plan(start: datetime, end: datetime, rolled: dict[date, datetime | None]) -> DayPlan:
    """Split [start, end) (UTC) by what `rolled` (from `rolled_days`) holds."""
    found = DayPlan()
    cursor = start
    while cursor < end:
        day = cursor.date()
        begins, ends = day_start(day), day_start(day + timedelta(days=1))
        piece_end = min(ends, end)
        whole = cursor == begins and piece_end == ends
        if day in rolled and cursor == begins:
            through = rolled[day]
            if through is None and whole:
                found.days.append(day)
            elif through is not None and through <= piece_end:
                found.partial.append(day)
                found.add_live(through, piece_end)
            else:
                found.add_live(cursor, piece_end)
        else:
            found.add_live(cursor, piece_end)
        cursor = piece_end
    return found
