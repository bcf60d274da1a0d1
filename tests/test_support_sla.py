"""SLA timers of tickets: business minutes of the team, weekends, public holidays, pauses.

Every expected time below is worked out by hand for a team in Amsterdam open
Monday to Friday 08:00-18:00, with the Dutch public holidays.
"""

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from support.models import SlaPolicy, SupportTeam, Ticket, TicketEvent, TicketStatus
from support.services import sla, tickets
from support.tasks import sla_breach_sweep

AMS = ZoneInfo("Europe/Amsterdam")


def local(*args) -> datetime:
    return datetime(*args, tzinfo=AMS)


@pytest.fixture
def team(db):
    team = SupportTeam.objects.create(
        name="NL desk",
        time_zone="Europe/Amsterdam",
        working_hours=sla.DEFAULT_WORKING_HOURS,
        holiday_country="NL",
    )
    for priority, (first, resolution) in sla.DEFAULT_POLICIES.items():
        SlaPolicy.objects.create(
            team=team, priority=priority, first_response_minutes=first, resolution_minutes=resolution
        )
    return team


def ticket_at(team, created: datetime, priority: str = "p2") -> Ticket:
    """A ticket as ticket_create makes it, opened at `created`."""
    ticket = tickets.ticket_create(channel="phone", subject="x", body="it will not start", priority=priority, team=team)
    Ticket.objects.filter(pk=ticket.pk).update(created_at=created)
    ticket.refresh_from_db()
    sla.ticket_opened(ticket)
    return ticket


@pytest.mark.parametrize(
    ("start", "minutes", "expected"),
    [
        pytest.param(local(2026, 3, 3, 10, 0), 60, local(2026, 3, 3, 11, 0), id="within the day"),
        pytest.param(local(2026, 3, 3, 17, 30), 60, local(2026, 3, 4, 8, 30), id="across the close"),
        pytest.param(local(2026, 3, 3, 6, 0), 15, local(2026, 3, 3, 8, 15), id="before opening"),
        pytest.param(local(2026, 3, 6, 17, 0), 240, local(2026, 3, 9, 11, 0), id="friday into monday"),
        pytest.param(local(2026, 3, 7, 12, 0), 15, local(2026, 3, 9, 8, 15), id="opened on a saturday"),
        pytest.param(local(2026, 4, 24, 17, 0), 120, local(2026, 4, 28, 9, 0), id="king's day monday is closed"),
        pytest.param(local(2026, 3, 27, 17, 0), 120, local(2026, 3, 30, 9, 0), id="over the clock change"),
        pytest.param(local(2026, 3, 3, 9, 0), 3 * 600, local(2026, 3, 6, 9, 0), id="three business days"),
    ],
)
def test_due_time_counts_business_minutes_of_the_team(team, start, minutes, expected):
    calendar = sla.calendar_for(team)

    due = sla.add_business_minutes(calendar, start, minutes)

    assert due == expected.astimezone(UTC)


def test_business_minutes_between_skip_nights_weekends_and_holidays(team):
    calendar = sla.calendar_for(team)

    # Fri 24 Apr 17:00 to Tue 28 Apr 09:00: an hour on Friday, an hour on Tuesday.
    assert sla.business_minutes_between(calendar, local(2026, 4, 24, 17), local(2026, 4, 28, 9)) == 120
    assert sla.business_minutes_between(calendar, local(2026, 3, 3, 12), local(2026, 3, 3, 11)) == 0


def test_new_ticket_gets_both_due_times_from_its_priority(team):
    ticket = ticket_at(team, local(2026, 3, 6, 17, 0), priority="p1")

    # P1: 15 minutes to answer, 4 hours to resolve; Friday 17:00 leaves one hour.
    assert ticket.first_response_due_at == local(2026, 3, 6, 17, 15)
    assert ticket.resolution_due_at == local(2026, 3, 9, 11, 0)


def test_waiting_on_the_driver_pauses_and_resume_moves_the_due_times_out(team):
    ticket = ticket_at(team, local(2026, 3, 3, 9, 0), priority="p2")
    assert ticket.first_response_due_at == local(2026, 3, 3, 10, 0)
    assert ticket.resolution_due_at == local(2026, 3, 3, 17, 0)

    Ticket.objects.filter(pk=ticket.pk).update(status=TicketStatus.WAITING_DRIVER)
    sla.ticket_status_changed(ticket, old="open", new="waiting_driver", now=local(2026, 3, 3, 9, 30))
    paused = sla.sla_state(ticket, now=local(2026, 3, 4, 8, 59))
    sla.ticket_status_changed(ticket, old="waiting_driver", new="open", now=local(2026, 3, 4, 9, 0))

    # Paused a day later, the clock did not run: still 30 minutes to answer, not breached.
    assert paused.first_response.state == sla.SlaState.PAUSED
    assert paused.first_response.left == timedelta(minutes=30)
    ticket.refresh_from_db()
    assert ticket.sla_paused_at is None
    # 30 minutes were left to answer and 450 to resolve when it paused.
    assert ticket.first_response_due_at == local(2026, 3, 4, 9, 30)
    assert ticket.resolution_due_at == local(2026, 3, 4, 16, 30)


def test_ticket_move_to_waiting_on_driver_starts_the_pause(team):
    ticket = ticket_at(team, local(2026, 3, 3, 9, 0))

    tickets.ticket_move(ticket=ticket, to=TicketStatus.WAITING_DRIVER, by=None)
    ticket.refresh_from_db()
    paused_at = ticket.sla_paused_at
    tickets.ticket_move(ticket=ticket, to=TicketStatus.OPEN, by=None)
    ticket.refresh_from_db()

    assert paused_at is not None
    assert ticket.sla_paused_at is None


def test_new_priority_gives_new_targets_and_keeps_the_paused_time(team):
    ticket = ticket_at(team, local(2026, 3, 3, 9, 0), priority="p2")
    ticket.sla_paused_at = local(2026, 3, 3, 9, 30)
    Ticket.objects.filter(pk=ticket.pk).update(sla_paused_at=ticket.sla_paused_at)
    sla.ticket_status_changed(ticket, old="waiting_driver", new="open", now=local(2026, 3, 3, 10, 30))

    Ticket.objects.filter(pk=ticket.pk).update(priority="p1")
    ticket.refresh_from_db()
    sla.ticket_sla_retarget(ticket, old_priority="p2")

    # P1 from 09:00 is 09:15 and 13:00, plus the hour spent paused.
    assert ticket.first_response_due_at == local(2026, 3, 3, 10, 15)
    assert ticket.resolution_due_at == local(2026, 3, 3, 14, 0)


def test_ticket_without_a_team_has_no_sla(db):
    SupportTeam.objects.all().delete()  # the one the data migration seeds
    ticket = tickets.ticket_create(channel="phone", subject="x", body="help")

    state = sla.sla_state(ticket, now=datetime.now(UTC))

    assert ticket.first_response_due_at is None
    assert state.first_response.state == sla.SlaState.NONE


def _states_world(team):
    """One ticket per state of each target, at `now` = Tue 3 Mar 2026 12:00."""
    now = local(2026, 3, 3, 12, 0)

    def make(**fields):
        ticket = tickets.ticket_create(channel="phone", subject="x", body="help", team=team)
        Ticket.objects.filter(pk=ticket.pk).update(**fields)
        ticket.refresh_from_db()
        return ticket

    due = {"first_response_due_at": local(2026, 3, 3, 13), "resolution_due_at": local(2026, 3, 4, 13)}
    return now, {
        "ok": make(**due),
        "soon": make(**{**due, "first_response_due_at": local(2026, 3, 3, 12, 10)}),
        "breached": make(**{**due, "first_response_due_at": local(2026, 3, 3, 11)}),
        "met": make(**due, first_response_at=local(2026, 3, 3, 12, 30), resolved_at=local(2026, 3, 4, 12)),
        "missed": make(**due, first_response_at=local(2026, 3, 3, 13, 30), resolved_at=local(2026, 3, 4, 14)),
        "paused": make(**due, sla_paused_at=local(2026, 3, 3, 11)),
        "breached then paused": make(**{**due, "first_response_due_at": local(2026, 3, 3, 10)},
                                     sla_paused_at=local(2026, 3, 3, 11)),
    }  # fmt: skip


def test_sla_state_of_each_target(team):
    now, world = _states_world(team)

    def first(name):
        return sla.sla_state(world[name], now).first_response.state

    assert first("ok") == sla.SlaState.OK
    assert first("soon") == sla.SlaState.DUE_SOON
    assert first("breached") == sla.SlaState.BREACHED
    assert first("met") == sla.SlaState.MET
    assert first("missed") == sla.SlaState.MISSED
    assert first("paused") == sla.SlaState.PAUSED
    assert first("breached then paused") == sla.SlaState.BREACHED
    assert sla.sla_state(world["met"], now).resolution.state == sla.SlaState.MET
    assert sla.sla_state(world["missed"], now).resolution.state == sla.SlaState.MISSED


def test_database_conditions_agree_with_sla_state(team):
    """The queue's filter and the reports count with these; they must say what sla_state says."""
    now, world = _states_world(team)
    for target in sla.Target:
        conditions = {
            sla.SlaState.MET: sla.met_q(target),
            sla.SlaState.MISSED: sla.missed_q(target),
            sla.SlaState.BREACHED: sla.breached_q(target, now),
            sla.SlaState.DUE_SOON: sla.due_soon_q(target, now),
        }
        for state, condition in conditions.items():
            in_db = set(Ticket.objects.filter(condition).values_list("pk", flat=True))
            in_python = {t.pk for t in world.values() if getattr(sla.sla_state(t, now), target.value).state == state}
            assert in_db == in_python, (target, state)


def test_breach_is_recorded_once_per_ticket_and_target(team):
    now, world = _states_world(team)
    late = world["breached"]
    Ticket.objects.filter(pk=late.pk).update(resolution_due_at=local(2026, 3, 3, 11, 30))

    first_run = sla.sla_breaches_record(now=now)
    second_run = sla.sla_breaches_record(now=now + timedelta(minutes=5))

    events = TicketEvent.objects.filter(kind=sla.BREACH_EVENT)
    assert {(e.ticket_id, e.detail["target"]) for e in events} == {
        (late.pk, "first_response"),
        (late.pk, "resolution"),
        (world["breached then paused"].pk, "first_response"),
    }
    assert first_run == 3
    assert second_run == 0


def test_breach_sweep_task_records_through_the_service(team):
    ticket = ticket_at(team, datetime.now(UTC) - timedelta(days=30), priority="p1")

    sla_breach_sweep.delay()

    assert TicketEvent.objects.filter(ticket=ticket, kind=sla.BREACH_EVENT).count() == 2


def test_default_team_and_policies_are_seeded(db):
    SupportTeam.objects.all().delete()

    team = sla.sla_defaults_seed()
    again = sla.sla_defaults_seed()

    assert again == team
    assert team.is_default
    assert team.working_hours["0"] == ["08:00", "18:00"] and "5" not in team.working_hours
    policies = {p.priority: (p.first_response_minutes, p.resolution_minutes) for p in team.sla_policies.all()}
    assert policies == {"p1": (15, 240), "p2": (60, 480), "p3": (240, 1800), "p4": (600, 6000)}
