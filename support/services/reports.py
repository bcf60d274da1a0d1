"""Support figures for a period: computed by the database, a fixed number of queries.

Tickets count in the period they were opened; merged duplicates do not count.
SLA met/missed use the same conditions as sla_state (support.services.sla).
"""

from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from django.db.models import Avg, Count, DurationField, ExpressionWrapper, F, Q
from django.utils import timezone

from support.models import Satisfaction, Ticket, TicketCategory, TicketChannel
from support.services.sla import Target, met_q, missed_q

TOP = 20


def _duration(end: str):
    return ExpressionWrapper(F(end) - F("created_at"), output_field=DurationField())


def _figures():
    resolved = Q(resolved_at__isnull=False)
    return {
        "total": Count("id"),
        "responded": Count("id", filter=Q(first_response_at__isnull=False)),
        "response_met": Count("id", filter=met_q(Target.FIRST_RESPONSE)),
        "response_missed": Count("id", filter=missed_q(Target.FIRST_RESPONSE)),
        "response_avg": Avg(_duration("first_response_at")),
        "resolved": Count("id", filter=resolved),
        "resolution_met": Count("id", filter=met_q(Target.RESOLUTION)),
        "resolution_missed": Count("id", filter=missed_q(Target.RESOLUTION)),
        "resolution_avg": Avg(_duration("resolved_at")),
        "first_contact": Count("id", filter=resolved & Q(resolved_in_first_contact=True)),
        "no_truck_roll": Count("id", filter=resolved & Q(work_order__isnull=True)),
        "good": Count("id", filter=Q(satisfaction=Satisfaction.GOOD)),
        "bad": Count("id", filter=Q(satisfaction=Satisfaction.BAD)),
    }


def _share(part: int, whole: int) -> float | None:
    return round(100 * part / whole, 1) if whole else None


def _duration_text(value: timedelta | None) -> str:
    if value is None:
        return ""
    minutes = int(value.total_seconds() // 60)
    days, rest = divmod(minutes, 24 * 60)
    if days:
        return f"{days} d {rest // 60} h"
    return f"{rest // 60} h {rest % 60:02d} min" if rest >= 60 else f"{rest} min"


@dataclass
class Figures:
    total: int
    responded: int
    response_met: int
    response_missed: int
    response_avg: timedelta | None
    resolved: int
    resolution_met: int
    resolution_missed: int
    resolution_avg: timedelta | None
    first_contact: int
    no_truck_roll: int
    good: int
    bad: int
    label: str = ""

    @property
    def response_avg_text(self) -> str:
        return _duration_text(self.response_avg)

    @property
    def resolution_avg_text(self) -> str:
        return _duration_text(self.resolution_avg)

    @property
    def response_met_share(self):
        return _share(self.response_met, self.response_met + self.response_missed)

    @property
    def resolution_met_share(self):
        return _share(self.resolution_met, self.resolution_met + self.resolution_missed)

    @property
    def first_contact_share(self):
        return _share(self.first_contact, self.resolved)

    @property
    def no_truck_roll_share(self):
        return _share(self.no_truck_roll, self.resolved)

    @property
    def satisfaction_share(self):
        return _share(self.good, self.good + self.bad)


@dataclass
class Report:
    start: date
    end: date
    totals: Figures
    by_category: list[tuple[str, int]]
    by_channel: list[tuple[str, int]]
    by_station: list[tuple[str, int]]
    by_site: list[tuple[str, int]]
    by_agent: list[Figures]


def period_bounds(start: date, end: date, zone: ZoneInfo | None = None) -> tuple[datetime, datetime]:
    """From the start of `start` to the end of `end`, in the site's time zone."""
    zone = zone or timezone.get_current_timezone()
    return (
        datetime.combine(start, time.min, tzinfo=zone),
        datetime.combine(end + timedelta(days=1), time.min, tzinfo=zone),
    )


def support_report(*, start: date, end: date, agent=None) -> Report:
    since, until = period_bounds(start, end)
    period = Ticket.objects.filter(created_at__gte=since, created_at__lt=until, merged_into__isnull=True)
    tickets = period.filter(assignee=agent) if agent is not None else period
    totals = Figures(**tickets.aggregate(**_figures()))

    def volume(field: str, labels: dict | None = None, limit: int | None = None):
        rows = tickets.exclude(**{f"{field}__isnull": True}).values(field).annotate(n=Count("id")).order_by("-n", field)
        rows = rows[:limit] if limit else rows
        return [((labels or {}).get(r[field], r[field]), r["n"]) for r in rows]

    per_agent = [
        Figures(**{k: v for k, v in row.items() if k not in ("assignee__username",)}, label=row["assignee__username"])
        for row in period.filter(assignee__isnull=False)
        .values("assignee__username")
        .annotate(**_figures())
        .order_by("assignee__username")
    ]
    return Report(
        start=start,
        end=end,
        totals=totals,
        by_category=volume("category", dict(TicketCategory.choices)),
        by_channel=volume("channel", dict(TicketChannel.choices)),
        by_station=volume("station__identity", limit=TOP),
        by_site=volume("station__site__name", limit=TOP),
        by_agent=per_agent,
    )
