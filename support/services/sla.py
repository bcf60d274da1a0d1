"""SLA timers of tickets, counted in the business minutes of the ticket's team.

    ticket_opened          due times = created + the policy's business minutes
    ticket_status_changed  waiting on the driver pauses the clock (sla_paused_at);
                           leaving it moves the open due times out by the
                           business minutes spent paused
    ticket_sla_retarget    a new priority: the new targets, the paused time kept
    sla_state              where each target stands (one rule for queue, page, reports)
    sla_breaches_record    a TicketEvent "sla_breached" once per ticket and target

A team's business time is its working hours per weekday in its own time zone,
minus the public holidays of its country (and subdivision) as the `holidays`
library knows them. A ticket without a team has no SLA.
"""

from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from functools import lru_cache
from zoneinfo import ZoneInfo

import holidays
from django.db import models, transaction
from django.db.models import Exists, F, OuterRef, Q
from django.utils import timezone

from support.models import OPEN_TICKET_STATUSES, SlaPolicy, SupportTeam, Ticket, TicketEvent, TicketStatus

# An open target due within this is flagged before it breaches.
DUE_SOON = timedelta(minutes=30)
# How far ahead a due time is searched for; a team with no working day at all has no SLA.
_MAX_DAYS = 3 * 366

# Seeded for a new installation (data migration and demo): minutes of business time.
DEFAULT_TEAM = "Driver support"
DEFAULT_WORKING_HOURS = {str(day): ["08:00", "18:00"] for day in range(5)}
DEFAULT_POLICIES = {
    "p1": (15, 4 * 60),
    "p2": (60, 8 * 60),
    "p3": (4 * 60, 3 * 10 * 60),  # 3 business days of 10 hours
    "p4": (10 * 60, 10 * 10 * 60),
}


class Target(models.TextChoices):
    FIRST_RESPONSE = "first_response", "First response"
    RESOLUTION = "resolution", "Resolution"


class SlaState(models.TextChoices):
    OK = "ok", "within SLA"
    DUE_SOON = "soon", "due soon"
    BREACHED = "breached", "breached"
    MET = "met", "met"
    MISSED = "missed", "missed"
    PAUSED = "paused", "paused (waiting on the driver)"
    NONE = "none", "no SLA"


# --- Business calendar ---------------------------------------------------------


@dataclass(frozen=True)
class Calendar:
    zone: ZoneInfo
    # weekday (Monday 0) -> (open, close) as local times
    hours: dict[int, tuple[time, time]]
    holiday_country: str = ""
    holiday_subdivision: str = ""

    def is_holiday(self, day: date) -> bool:
        return bool(self.holiday_country) and day in _holidays(self.holiday_country, self.holiday_subdivision, day.year)

    def window(self, day: date) -> tuple[datetime, datetime] | None:
        """The working window of a local day, as aware datetimes; None when closed."""
        hours = self.hours.get(day.weekday())
        if hours is None or self.is_holiday(day):
            return None
        start = datetime.combine(day, hours[0], tzinfo=self.zone)
        end = datetime.combine(day, hours[1], tzinfo=self.zone)
        return (start, end) if end > start else None


@lru_cache(maxsize=256)
def _holidays(country: str, subdivision: str, year: int):
    try:
        return holidays.country_holidays(country, subdiv=subdivision or None, years=year)
    except NotImplementedError:  # a country or subdivision the library does not know: no holidays
        return {}


def _parse_hours(raw) -> dict[int, tuple[time, time]]:
    hours: dict[int, tuple[time, time]] = {}
    for day, span in (raw or {}).items():
        try:
            opens, closes = (time.fromisoformat(str(value)) for value in span)
            hours[int(day)] = (opens, closes)
        except (TypeError, ValueError):
            continue  # a malformed day counts as closed rather than stopping every ticket
    return hours


def calendar_for(team: SupportTeam) -> Calendar:
    try:
        zone = ZoneInfo(team.time_zone or "UTC")
    except (KeyError, ValueError):
        zone = ZoneInfo("UTC")
    return Calendar(
        zone=zone,
        hours=_parse_hours(team.working_hours),
        holiday_country=(team.holiday_country or "").upper(),
        holiday_subdivision=team.holiday_subdivision or "",
    )


def add_business_minutes(calendar: Calendar, start: datetime, minutes: float) -> datetime | None:
    """The moment `minutes` of business time after `start` (None: the calendar never opens)."""
    cursor = start.astimezone(calendar.zone)
    left = timedelta(minutes=minutes)
    day = cursor.date()
    for _ in range(_MAX_DAYS):
        window = calendar.window(day)
        if window is not None:
            begin = max(window[0], cursor)
            if begin < window[1]:
                if left <= window[1] - begin:
                    return (begin + left).astimezone(UTC)
                left -= window[1] - begin
        day += timedelta(days=1)
    return None


def business_minutes_between(calendar: Calendar, start: datetime, end: datetime) -> float:
    """Business minutes from `start` to `end` (0 when end is not after start)."""
    if end <= start:
        return 0.0
    start, end = start.astimezone(calendar.zone), end.astimezone(calendar.zone)
    total = timedelta()
    day = start.date()
    while day <= end.date():
        window = calendar.window(day)
        if window is not None:
            begin, finish = max(window[0], start), min(window[1], end)
            if finish > begin:
                total += finish - begin
        day += timedelta(days=1)
    return total.total_seconds() / 60


# --- Due times -------------------------------------------------------------------


def _policy(ticket: Ticket) -> SlaPolicy | None:
    if ticket.team_id is None:
        return None
    return SlaPolicy.objects.filter(team_id=ticket.team_id, priority=ticket.priority).first()


def _team(ticket: Ticket) -> SupportTeam:
    return ticket.team if ticket.team_id else None


def due_times(ticket: Ticket, policy: SlaPolicy | None) -> tuple[datetime | None, datetime | None]:
    if policy is None:
        return None, None
    calendar = calendar_for(_team(ticket))
    return (
        add_business_minutes(calendar, ticket.created_at, policy.first_response_minutes),
        add_business_minutes(calendar, ticket.created_at, policy.resolution_minutes),
    )


def ticket_opened(ticket: Ticket) -> None:
    """Set the first-response and resolution due times from the team's SLA policy."""
    first, resolution = due_times(ticket, _policy(ticket))
    Ticket.objects.filter(pk=ticket.pk).update(first_response_due_at=first, resolution_due_at=resolution)
    ticket.first_response_due_at, ticket.resolution_due_at = first, resolution


def ticket_status_changed(ticket: Ticket, *, old: str, new: str, now: datetime) -> None:
    """Pause the SLA clock while waiting on the driver; resume it afterwards."""
    if new == TicketStatus.WAITING_DRIVER and old != TicketStatus.WAITING_DRIVER:
        if Ticket.objects.filter(pk=ticket.pk, sla_paused_at__isnull=True).update(sla_paused_at=now):
            ticket.sla_paused_at = now
    elif old == TicketStatus.WAITING_DRIVER and new != TicketStatus.WAITING_DRIVER:
        _resume(ticket, now=now)


def _resume(ticket: Ticket, *, now: datetime) -> None:
    paused_at = ticket.sla_paused_at
    if paused_at is None or ticket.team_id is None:
        Ticket.objects.filter(pk=ticket.pk).update(sla_paused_at=None)
        ticket.sla_paused_at = None
        return
    calendar = calendar_for(_team(ticket))
    paused = business_minutes_between(calendar, paused_at, now)
    changes: dict = {"sla_paused_at": None}
    if ticket.first_response_at is None and ticket.first_response_due_at:
        changes["first_response_due_at"] = add_business_minutes(calendar, ticket.first_response_due_at, paused)
    if ticket.resolution_due_at:
        changes["resolution_due_at"] = add_business_minutes(calendar, ticket.resolution_due_at, paused)
    # Compare-and-swap on the pause itself: two resumes at once move the due times once.
    if Ticket.objects.filter(pk=ticket.pk, sla_paused_at=paused_at).update(**changes):
        for name, value in changes.items():
            setattr(ticket, name, value)


def ticket_sla_retarget(ticket: Ticket, *, old_priority: str) -> None:
    """The ticket's priority changed: due times from the new policy, keeping the time spent paused."""
    if ticket.team_id is None:
        return
    calendar = calendar_for(_team(ticket))
    old_policy = SlaPolicy.objects.filter(team_id=ticket.team_id, priority=old_priority).first()
    old_first, old_resolution = due_times(ticket, old_policy)
    new_first, new_resolution = due_times(ticket, _policy(ticket))

    def moved(new_due, old_nominal, old_actual):
        if new_due is None:
            return None
        if old_nominal is None or old_actual is None:
            return new_due
        return add_business_minutes(calendar, new_due, business_minutes_between(calendar, old_nominal, old_actual))

    changes = {
        "first_response_due_at": moved(new_first, old_first, ticket.first_response_due_at),
        "resolution_due_at": moved(new_resolution, old_resolution, ticket.resolution_due_at),
    }
    Ticket.objects.filter(pk=ticket.pk).update(**changes)
    for name, value in changes.items():
        setattr(ticket, name, value)


# --- Where a ticket stands -----------------------------------------------------------


@dataclass(frozen=True)
class TargetState:
    target: Target
    state: SlaState
    due_at: datetime | None
    # Wall time left (negative: overdue), at `now` or at the pause.
    left: timedelta | None

    @property
    def label(self) -> str:
        return SlaState(self.state).label

    @property
    def left_text(self) -> str:
        """ "25 min left", "2 h 05 min over", for a timer the agent reads at a glance."""
        if self.left is None or self.state in (SlaState.MET, SlaState.MISSED, SlaState.NONE):
            return ""
        minutes = int(abs(self.left.total_seconds()) // 60)
        days, rest = divmod(minutes, 24 * 60)
        span = (
            f"{days} d {rest // 60} h"
            if days
            else f"{rest // 60} h {rest % 60:02d} min"
            if rest >= 60
            else f"{rest} min"
        )
        return f"{span} {'over' if self.left.total_seconds() < 0 else 'left'}"


@dataclass(frozen=True)
class TicketSla:
    first_response: TargetState
    resolution: TargetState

    @property
    def worst(self) -> SlaState:
        order = [SlaState.BREACHED, SlaState.MISSED, SlaState.DUE_SOON, SlaState.PAUSED, SlaState.OK, SlaState.MET]
        states = {self.first_response.state, self.resolution.state}
        return next((s for s in order if s in states), SlaState.NONE)


def _target_state(target: Target, due: datetime | None, done: datetime | None, paused: datetime | None, now):
    if due is None:
        return TargetState(target, SlaState.NONE, None, None)
    if done is not None:
        return TargetState(target, SlaState.MET if done <= due else SlaState.MISSED, due, due - done)
    # While waiting on the driver the clock stands still where it was paused.
    at = paused or now
    left = due - at
    if at > due:
        return TargetState(target, SlaState.BREACHED, due, left)
    if paused is not None:
        return TargetState(target, SlaState.PAUSED, due, left)
    if left < DUE_SOON:
        return TargetState(target, SlaState.DUE_SOON, due, left)
    return TargetState(target, SlaState.OK, due, left)


def sla_state(ticket: Ticket, now: datetime) -> TicketSla:
    """Where both targets of a ticket stand: the one rule for the queue, the ticket page and the reports.

    first response: met/missed once answered (first public reply), else breached,
    due soon (within DUE_SOON), paused, ok. resolution: the same, done when
    resolved (or closed without resolving).
    """
    resolved = ticket.resolved_at or ticket.closed_at
    return TicketSla(
        first_response=_target_state(
            Target.FIRST_RESPONSE, ticket.first_response_due_at, ticket.first_response_at, ticket.sla_paused_at, now
        ),
        resolution=_target_state(Target.RESOLUTION, ticket.resolution_due_at, resolved, ticket.sla_paused_at, now),
    )


# The same rules as database conditions, for filters and report aggregates
# (tests/test_support_sla.py holds them to sla_state).
def met_q(target: Target) -> Q:
    if target == Target.FIRST_RESPONSE:
        return Q(first_response_at__isnull=False, first_response_at__lte=F("first_response_due_at"))
    return Q(resolved_at__isnull=False, resolved_at__lte=F("resolution_due_at"))


def missed_q(target: Target) -> Q:
    if target == Target.FIRST_RESPONSE:
        return Q(first_response_at__isnull=False, first_response_at__gt=F("first_response_due_at"))
    return Q(resolved_at__isnull=False, resolved_at__gt=F("resolution_due_at"))


def _running_q(target: Target) -> Q:
    if target == Target.FIRST_RESPONSE:
        return Q(first_response_at__isnull=True, first_response_due_at__isnull=False)
    return Q(resolved_at__isnull=True, closed_at__isnull=True, resolution_due_at__isnull=False)


def breached_q(target: Target, now: datetime) -> Q:
    due = "first_response_due_at" if target == Target.FIRST_RESPONSE else "resolution_due_at"
    running = _running_q(target)
    return running & (
        Q(sla_paused_at__isnull=True, **{f"{due}__lt": now})
        | Q(sla_paused_at__isnull=False, **{f"{due}__lt": F("sla_paused_at")})
    )


def due_soon_q(target: Target, now: datetime) -> Q:
    due = "first_response_due_at" if target == Target.FIRST_RESPONSE else "resolution_due_at"
    return _running_q(target) & Q(sla_paused_at__isnull=True, **{f"{due}__gte": now, f"{due}__lt": now + DUE_SOON})


def breaching_q(now: datetime) -> Q:
    """Open tickets breached or due soon on either target: the queue's "breaching soon" filter."""
    q = Q()
    for target in Target:
        q |= breached_q(target, now) | due_soon_q(target, now)
    return Q(status__in=OPEN_TICKET_STATUSES) & q


# --- Breach events -----------------------------------------------------------------

BREACH_EVENT = "sla_breached"


def sla_breaches_record(*, now: datetime | None = None, limit: int = 500) -> int:
    """Write a TicketEvent "sla_breached" for each open ticket and target newly past due.

    Once per ticket and target: the ticket row is locked while its events are
    looked at, so two sweeps at once write it once.
    """
    now = now or timezone.now()
    recorded = 0
    for target in Target:
        already = TicketEvent.objects.filter(ticket=OuterRef("pk"), kind=BREACH_EVENT, detail__target=target.value)
        candidates = list(
            Ticket.objects.filter(breached_q(target, now), status__in=OPEN_TICKET_STATUSES)
            .filter(~Exists(already))
            .values_list("pk", flat=True)[:limit]
        )
        for ticket_id in candidates:
            with transaction.atomic():
                ticket = Ticket.objects.select_for_update().filter(pk=ticket_id).first()
                if ticket is None or ticket.status not in OPEN_TICKET_STATUSES:
                    continue
                exists = TicketEvent.objects.filter(
                    ticket=ticket, kind=BREACH_EVENT, detail__target=target.value
                ).exists()
                if exists:
                    continue
                state = getattr(sla_state(ticket, now), target.value)
                if state.state != SlaState.BREACHED:
                    continue
                TicketEvent.objects.create(
                    ticket=ticket,
                    kind=BREACH_EVENT,
                    detail={"target": target.value, "due_at": state.due_at.isoformat()},
                )
                recorded += 1
    return recorded


# --- Defaults ------------------------------------------------------------------------


def sla_defaults_seed() -> SupportTeam:
    """The default team (Mon-Fri 08:00-18:00) and its policies, unless they exist."""
    team = SupportTeam.objects.filter(is_default=True).first()
    if team is None:
        team, _ = SupportTeam.objects.get_or_create(
            name=DEFAULT_TEAM, defaults={"working_hours": DEFAULT_WORKING_HOURS, "is_default": True}
        )
    for priority, (first, resolution) in DEFAULT_POLICIES.items():
        SlaPolicy.objects.get_or_create(
            team=team,
            priority=priority,
            defaults={"first_response_minutes": first, "resolution_minutes": resolution},
        )
    return team
