"""Tickets: created from any channel, moved by a transition table, every change recorded.

Every intake channel (charger page, chat, email, phone, API) ends in
`ticket_create`; every message in `ticket_message_add`; every status change in
`ticket_move`, which refuses a move the table does not allow and one that lost
a race (compare-and-swap), and writes a TicketEvent with who did it.
"""

from dataclasses import dataclass

from django.db import transaction
from django.utils import timezone

from support.models import (
    BODY_MAX,
    OPEN_TICKET_STATUSES,
    Driver,
    MessageKind,
    SupportTeam,
    Ticket,
    TicketChannel,
    TicketEvent,
    TicketMessage,
    TicketStatus,
)

from . import sla

S = TicketStatus
TRANSITIONS: dict[str, set[str]] = {
    S.NEW: {S.OPEN, S.WAITING_DRIVER, S.WAITING_FIELD, S.RESOLVED, S.CLOSED},
    S.OPEN: {S.WAITING_DRIVER, S.WAITING_FIELD, S.RESOLVED, S.CLOSED},
    S.WAITING_DRIVER: {S.OPEN, S.WAITING_FIELD, S.RESOLVED, S.CLOSED},
    S.WAITING_FIELD: {S.OPEN, S.WAITING_DRIVER, S.RESOLVED, S.CLOSED},
    S.RESOLVED: {S.OPEN, S.CLOSED},  # a driver's reply reopens it
    S.CLOSED: set(),
}


class TicketRefused(ValueError):
    """A change the rules do not allow; the message says why, for the page or API."""


def driver_find_or_create(*, name: str = "", email: str = "", phone: str = "") -> Driver | None:
    """The driver with this email (or phone); created when new. None when nothing identifies them."""
    email, phone = email.strip().lower()[:254], phone.strip()[:32]
    driver = None
    if email:
        driver = Driver.objects.filter(email__iexact=email).order_by("id").first()
    if driver is None and phone:
        driver = Driver.objects.filter(phone=phone).order_by("id").first()
    if driver is None and (email or phone):
        driver = Driver.objects.create(name=name.strip()[:200], email=email, phone=phone)
    elif driver is not None and name and not driver.name:
        driver.name = name.strip()[:200]
        driver.save(update_fields=["name"])
    return driver


def _default_team() -> SupportTeam | None:
    return SupportTeam.objects.filter(is_default=True).first() or SupportTeam.objects.order_by("id").first()


@transaction.atomic
def ticket_create(
    *,
    channel: str,
    subject: str,
    body: str,
    category: str = "other",
    priority: str = "p3",
    requester: Driver | None = None,
    station=None,
    connector=None,
    session=None,
    by=None,
    email_message_id: str = "",
    team: SupportTeam | None = None,
) -> Ticket:
    """A new ticket with the driver's first message. `by` is the agent who logged it (phone)."""
    if channel not in TicketChannel.values:
        raise TicketRefused(f"unknown channel {channel!r}")
    body = body.strip()
    if not body:
        raise TicketRefused("describe the problem")
    if len(body) > BODY_MAX:
        raise TicketRefused(f"the description is longer than {BODY_MAX} characters")
    ticket = Ticket.objects.create(
        subject=(subject.strip() or body.splitlines()[0])[:200],
        channel=channel,
        category=category,
        priority=priority,
        requester=requester,
        station=station,
        connector=connector,
        session=session,
        team=team or _default_team(),
        email_thread_id=email_message_id[:300],
    )
    TicketMessage.objects.create(
        ticket=ticket,
        kind=MessageKind.DRIVER,
        channel=channel,
        author=by,
        body=body,
        email_message_id=email_message_id[:300],
    )
    TicketEvent.objects.create(
        ticket=ticket, kind="created", to_status=ticket.status, by=by, detail={"channel": channel}
    )
    sla.ticket_opened(ticket)
    transaction.on_commit(lambda: _created_hooks(ticket.pk))
    return ticket


# Other modules react to new tickets and messages (notifications, linking to an
# open incident) without this module knowing them.
_created_listeners: list = []
_message_listeners: list = []
_moved_listeners: list = []


def on_ticket_created(listener) -> None:
    if listener not in _created_listeners:
        _created_listeners.append(listener)


def on_message_added(listener) -> None:
    if listener not in _message_listeners:
        _message_listeners.append(listener)


def on_ticket_moved(listener) -> None:
    """Call `listener(ticket_id, from_status, to_status)` after a status move commits."""
    if listener not in _moved_listeners:
        _moved_listeners.append(listener)


def _created_hooks(ticket_id: int) -> None:
    for listener in _created_listeners:
        listener(ticket_id)


@transaction.atomic
def ticket_message_add(
    *, ticket: Ticket, kind: str, body: str, channel: str, author=None, email_message_id: str = ""
) -> TicketMessage:
    """A driver's message, an agent's public reply or an internal note."""
    body = body.strip()
    if not body:
        raise TicketRefused("the message is empty")
    if len(body) > BODY_MAX:
        raise TicketRefused(f"the message is longer than {BODY_MAX} characters")
    if ticket.status == TicketStatus.CLOSED and kind != MessageKind.NOTE:
        raise TicketRefused("this ticket is closed")
    message = TicketMessage.objects.create(
        ticket=ticket, kind=kind, channel=channel, author=author, body=body, email_message_id=email_message_id[:300]
    )
    if kind == MessageKind.REPLY and ticket.first_response_at is None:
        Ticket.objects.filter(pk=ticket.pk, first_response_at__isnull=True).update(first_response_at=timezone.now())
        ticket.refresh_from_db(fields=["first_response_at"])
    if kind == MessageKind.DRIVER and ticket.status in (TicketStatus.WAITING_DRIVER, TicketStatus.RESOLVED):
        ticket_move(ticket=ticket, to=TicketStatus.OPEN, by=None, reason="the driver replied")
    elif kind == MessageKind.REPLY and ticket.status == TicketStatus.NEW:
        ticket_move(ticket=ticket, to=TicketStatus.OPEN, by=author, reason="first reply")
    transaction.on_commit(lambda: [listener(message.pk) for listener in _message_listeners])
    return message


@dataclass(frozen=True)
class Move:
    ticket: Ticket
    from_status: str
    to_status: str


@transaction.atomic
def ticket_move(*, ticket: Ticket, to: str, by, reason: str = "") -> Move:
    """Move a ticket by the transition table, by compare-and-swap, with a TicketEvent."""
    current = ticket.status
    if to not in TRANSITIONS.get(current, set()):
        raise TicketRefused(
            f"a {TicketStatus(current).label.lower()} ticket cannot become {TicketStatus(to).label.lower()}"
        )
    now = timezone.now()
    changes: dict = {"status": to, "updated_at": now}
    if to == TicketStatus.RESOLVED:
        changes["resolved_at"] = now
    if to == TicketStatus.CLOSED:
        changes["closed_at"] = now
    if to == TicketStatus.OPEN and current == TicketStatus.RESOLVED:
        changes["resolved_at"] = None
    if not Ticket.objects.filter(pk=ticket.pk, status=current).update(**changes):
        raise TicketRefused("the ticket was changed by someone else meanwhile; reload it")
    for name, value in changes.items():
        setattr(ticket, name, value)
    TicketEvent.objects.create(
        ticket=ticket, kind="status", from_status=current, to_status=to, by=by, detail={"reason": reason[:500]}
    )
    sla.ticket_status_changed(ticket, old=current, new=to, now=now)
    transaction.on_commit(lambda: [listener(ticket.pk, current, to) for listener in _moved_listeners])
    return Move(ticket, current, to)


def ticket_is_open(ticket: Ticket) -> bool:
    return ticket.status in OPEN_TICKET_STATUSES
