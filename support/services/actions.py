"""Working a ticket: its fields (assignee, priority, category, tags) and the actions taken
from it (commands to the charger, refunds, escalation to dispatch).

Every change writes a TicketEvent with who did it; every action also a
TicketAction holding its live outcome (the RemoteCommand or the Refund). The
charger is asked through stations' command service (its catalogue says who may
send what), money moves through billing's refund service (the agent's limit is
enforced there), field work through workorders' services. Nothing here builds
its own rules for those.
"""

import re
from decimal import Decimal, InvalidOperation

from django.contrib.auth import get_user_model
from django.db import transaction

from billing.models import Payment
from billing.services.payments import RefundRefused, payment_refund
from stations.models import ChargingSession, Connector
from stations.services import commands
from stations.services.commands import CommandRefused
from support.models import (
    Ticket,
    TicketAction,
    TicketActionKind,
    TicketAttachment,
    TicketCategory,
    TicketEvent,
    TicketPriority,
    TicketStatus,
)
from support.services import sla
from support.services.tickets import TicketRefused, ticket_move
from workorders.models import (
    Incident,
    IncidentStatus,
    Priority,
    WorkOrderKind,
    WorkOrderPhoto,
)
from workorders.services import incident_lifecycle, incidents, lifecycle

K = TicketActionKind
# The charger actions of a ticket and the OCPP message each sends.
COMMAND_ACTIONS: dict[str, str] = {
    K.REMOTE_START: "RemoteStartTransaction",
    K.REMOTE_STOP: "RemoteStopTransaction",
    K.UNLOCK: "UnlockConnector",
    K.TRIGGER_STATUS: "TriggerMessage",
}
MAX_TAGS = 10
TAG_MAX_LENGTH = 30


def _event(ticket: Ticket, kind: str, by, **detail) -> TicketEvent:
    return TicketEvent.objects.create(ticket=ticket, kind=kind, by=by, detail=detail)


def _refuse_if_closed(ticket: Ticket) -> None:
    if ticket.status == TicketStatus.CLOSED:
        raise TicketRefused("this ticket is closed")


# --- The ticket's own fields --------------------------------------------------------------


@transaction.atomic
def ticket_assign(*, ticket: Ticket, assignee, by) -> Ticket:
    """Give the ticket to an agent (None: back to the queue)."""
    if assignee is not None and not assignee.has_perm("support.work_ticket"):
        raise TicketRefused(f"{assignee.get_username()} does not work tickets")
    old = ticket.assignee_id
    new = assignee.pk if assignee is not None else None
    if old == new:
        return ticket
    if not Ticket.objects.filter(pk=ticket.pk, assignee_id=old).update(assignee_id=new):
        raise TicketRefused("the ticket was changed by someone else meanwhile; reload it")
    ticket.assignee = assignee
    _event(ticket, "assigned", by, **{"from": old, "to": new, "to_name": assignee.get_username() if assignee else ""})
    return ticket


@transaction.atomic
def ticket_priority_set(*, ticket: Ticket, priority: str, by) -> Ticket:
    """A new priority, and the SLA targets that go with it."""
    if priority not in TicketPriority.values:
        raise TicketRefused(f"unknown priority {priority!r}")
    old = ticket.priority
    if old == priority:
        return ticket
    if not Ticket.objects.filter(pk=ticket.pk, priority=old).update(priority=priority):
        raise TicketRefused("the ticket was changed by someone else meanwhile; reload it")
    ticket.priority = priority
    sla.ticket_sla_retarget(ticket, old_priority=old)
    _event(ticket, "priority", by, **{"from": old, "to": priority})
    return ticket


@transaction.atomic
def ticket_category_set(*, ticket: Ticket, category: str, by) -> Ticket:
    if category not in TicketCategory.values:
        raise TicketRefused(f"unknown category {category!r}")
    old = ticket.category
    if old == category:
        return ticket
    if not Ticket.objects.filter(pk=ticket.pk, category=old).update(category=category):
        raise TicketRefused("the ticket was changed by someone else meanwhile; reload it")
    ticket.category = category
    _event(ticket, "category", by, **{"from": old, "to": category})
    return ticket


def clean_tags(text: str) -> list[str]:
    """Tags as typed (comma or space separated): lower case, unique, in order."""
    tags: list[str] = []
    for raw in re.split(r"[,\s]+", text or ""):
        tag = raw.strip().lower()
        if not tag:
            continue
        if len(tag) > TAG_MAX_LENGTH:
            raise TicketRefused(f"a tag is at most {TAG_MAX_LENGTH} characters: {tag[:TAG_MAX_LENGTH]}…")
        if tag not in tags:
            tags.append(tag)
    if len(tags) > MAX_TAGS:
        raise TicketRefused(f"at most {MAX_TAGS} tags")
    return tags


@transaction.atomic
def ticket_tags_set(*, ticket: Ticket, tags: list[str], by) -> Ticket:
    old = list(ticket.tags or [])
    if old == tags:
        return ticket
    Ticket.objects.filter(pk=ticket.pk).update(tags=tags)
    ticket.tags = tags
    _event(ticket, "tags", by, added=[t for t in tags if t not in old], removed=[t for t in old if t not in tags])
    return ticket


def agents():
    """The people who work tickets, for the assignee list."""
    user_model = get_user_model()
    return (
        user_model.objects.filter(is_active=True)
        .filter(groups__permissions__codename="work_ticket", groups__permissions__content_type__app_label="support")
        .distinct()
        .order_by("username")
    )


# --- Commands to the charger -----------------------------------------------------------------


def _driver_tags(ticket: Ticket) -> list[str]:
    if ticket.requester_id is None:
        return []
    return list(ticket.requester.id_tags.order_by("id_tag").values_list("id_tag", flat=True)[:MAX_TAGS])


def command_payload(*, ticket: Ticket, kind: str, connector_id: int | None, id_tag: str = "") -> dict:
    """The OCPP payload of a ticket's charger action, or TicketRefused saying what is missing."""
    station = ticket.station
    if kind == K.REMOTE_START:
        tags = _driver_tags(ticket)
        if not tags:
            raise TicketRefused("the driver has no ID tag on record: add their tag to the driver first")
        tag = id_tag or tags[0]
        if tag not in tags:
            raise TicketRefused(f"{tag} is not one of the driver's tags")
        payload: dict = {"idTag": tag}
        if connector_id:
            payload["connectorId"] = connector_id
        return payload
    if kind == K.REMOTE_STOP:
        running = ChargingSession.objects.filter(station=station, stop_at__isnull=True)
        if connector_id:
            running = running.filter(connector__connector_id=connector_id)
        session = running.order_by("-start_at").first()
        if session is None:
            where = f"connector {connector_id}" if connector_id else station.identity
            raise TicketRefused(f"no session is running on {where}")
        return {"transactionId": session.transaction_id}
    if kind == K.UNLOCK:
        if not connector_id:
            raise TicketRefused("say which connector to unlock")
        return {"connectorId": connector_id}
    if kind == K.TRIGGER_STATUS:
        payload = {"requestedMessage": "StatusNotification"}
        if connector_id:
            payload["connectorId"] = connector_id
        return payload
    raise TicketRefused(f"{kind} is not a charger action")


def ticket_command_send(
    *, ticket: Ticket, kind: str, by, connector_id: int | None = None, id_tag: str = "", confirmed: bool = False
) -> TicketAction:
    """Ask the ticket's charger to act for the driver; the outcome arrives on the command row.

    The command, the TicketAction and its event commit together; the charger is
    asked once they have (the command service dispatches on commit), so the page
    never shows an outcome for a row it cannot see.
    """
    _refuse_if_closed(ticket)
    if kind not in COMMAND_ACTIONS:
        raise TicketRefused(f"{kind} is not a charger action")
    if ticket.station_id is None:
        raise TicketRefused("this ticket names no charger")
    if connector_id and not Connector.objects.filter(station_id=ticket.station_id, connector_id=connector_id).exists():
        raise TicketRefused(f"{ticket.station.identity} has no connector {connector_id}")
    payload = command_payload(ticket=ticket, kind=kind, connector_id=connector_id, id_tag=id_tag)
    action = COMMAND_ACTIONS[kind]
    with transaction.atomic():
        try:
            command = commands.command_request(
                station=ticket.station,
                action=action,
                payload=payload,
                by=by,
                confirmed=confirmed,
                via=f"support ticket {ticket.reference}",
                wait=False,
            )
        except CommandRefused as exc:
            raise TicketRefused(str(exc)) from None
        row = TicketAction.objects.create(
            ticket=ticket, kind=kind, command=command, by=by, detail={"action": action, "payload": payload}
        )
        _event(ticket, "action", by, action=kind, command=command.pk, payload=payload)
    return row


# --- Refunds ----------------------------------------------------------------------------------


def refundable_sessions(ticket: Ticket) -> list[ChargingSession]:
    """The sessions an agent may refund from this ticket: the ticket's own and the driver's."""
    tags = _driver_tags(ticket)
    sessions = ChargingSession.objects.filter(payment__isnull=False)
    if ticket.session_id and tags:
        sessions = sessions.filter(pk=ticket.session_id) | sessions.filter(id_tag__in=tags)
    elif ticket.session_id:
        sessions = sessions.filter(pk=ticket.session_id)
    elif tags:
        sessions = sessions.filter(id_tag__in=tags)
    else:
        return []
    return list(sessions.select_related("station", "payment").order_by("-start_at")[:20])


def ticket_refund(*, ticket: Ticket, session: ChargingSession, amount, reason: str, by, key: str) -> TicketAction:
    """Refund part of a session's payment from the ticket. `key` identifies this one request
    (the form's): sent twice, it refunds once and records one action."""
    _refuse_if_closed(ticket)
    if session.pk not in {s.pk for s in refundable_sessions(ticket)}:
        raise TicketRefused("that session is neither this ticket's nor its driver's")
    payment = Payment.objects.filter(session=session).first()
    if payment is None:
        raise TicketRefused("this session has no payment to refund")
    try:
        amount = Decimal(str(amount))
    except (InvalidOperation, ValueError):
        raise TicketRefused("the amount is not a number") from None
    try:
        refund = payment_refund(
            payment=payment,
            amount=amount,
            reason=f"{ticket.reference}: {reason}",
            by=by,
            idempotency_key=f"ticket-{ticket.pk}-{key}"[:100],
        )
    except RefundRefused as exc:
        raise TicketRefused(exc.message) from None
    with transaction.atomic():
        existing = TicketAction.objects.filter(ticket=ticket, refund=refund).first()
        if existing is not None:
            return existing
        row = TicketAction.objects.create(
            ticket=ticket,
            kind=K.REFUND,
            refund=refund,
            by=by,
            detail={"session": session.pk, "amount": str(refund.amount), "currency": payment.currency},
        )
        _event(ticket, "action", by, action=K.REFUND, refund=refund.pk, amount=str(refund.amount), reason=reason)
    return row


# --- Escalation ---------------------------------------------------------------------------------

_WORKORDER_PRIORITY = {
    TicketPriority.P1: Priority.P1,
    TicketPriority.P2: Priority.P2,
    TicketPriority.P3: Priority.P3,
    TicketPriority.P4: Priority.P3,
}
_IMAGE_TYPES = ("image/jpeg", "image/png", "image/webp", "image/gif")


def _open_incident(ticket: Ticket) -> Incident | None:
    open_incidents = Incident.objects.filter(station_id=ticket.station_id).exclude(status=IncidentStatus.CLOSED)
    if ticket.connector_id:
        own = open_incidents.filter(connector_id=ticket.connector_id).order_by("-opened_at").first()
        if own is not None:
            return own
    return open_incidents.order_by("-opened_at").first()


def _description(ticket: Ticket) -> str:
    first = ticket.messages.order_by("created_at", "id").first()
    return first.body if first else ticket.subject


@transaction.atomic
def ticket_escalate(*, ticket: Ticket, by, note: str = "") -> TicketAction:
    """Hand the charger's problem to dispatch; the ticket then waits on field work.

    The charger's open incident is joined when there is one (the driver's report
    goes on its timeline); otherwise a corrective work order is created with the
    driver's description and photos, left for a dispatcher to assign.
    """
    _refuse_if_closed(ticket)
    if ticket.station_id is None:
        raise TicketRefused("this ticket names no charger to send anyone to")
    ticket = Ticket.objects.select_for_update(of=("self",)).select_related("station", "requester").get(pk=ticket.pk)
    if ticket.work_order_id or (ticket.incident_id and ticket.status == TicketStatus.WAITING_FIELD):
        raise TicketRefused("this ticket is escalated already")
    note = note.strip()[:1000]
    description = _description(ticket)
    detail: dict = {}
    incident = _open_incident(ticket)
    if incident is not None:
        text = f"Support {ticket.reference}: {ticket.subject}\n{description}"
        if note:
            text += f"\nAgent: {note}"
        incident_lifecycle.incident_note_add(incident=incident, by=by, text=text[: incident_lifecycle.MAX_NOTE])
        Ticket.objects.filter(pk=ticket.pk).update(incident=incident)
        ticket.incident = incident
        detail["incident"] = incident.pk
        order = incidents.open_work_order_for(incident)
        if order is not None:
            Ticket.objects.filter(pk=ticket.pk).update(work_order=order)
            ticket.work_order = order
            detail["work_order"] = order.pk
    else:
        photos = list(
            TicketAttachment.objects.filter(message__ticket=ticket, content_type__in=_IMAGE_TYPES).order_by("id")
        )
        order = lifecycle.workorder_create(
            kind=WorkOrderKind.CORRECTIVE,
            station=ticket.station,
            connector=ticket.connector,
            title=f"{ticket.station.identity}: {ticket.subject} ({ticket.reference})",
            priority=_WORKORDER_PRIORITY[ticket.priority],
            diagnosis={
                "decision": f"escalated by support from {ticket.reference}",
                "driver_report": description[:5000],
                "agent_note": note,
                "ticket": ticket.reference,
                "photos": [a.filename for a in photos],
            },
            by=by,
            via=f"support ticket {ticket.reference}",
        )
        # The same stored files: the technician sees the driver's photos on the order.
        WorkOrderPhoto.objects.bulk_create(
            [WorkOrderPhoto(work_order=order, image=a.file.name, uploaded_by=by) for a in photos]
        )
        Ticket.objects.filter(pk=ticket.pk).update(work_order=order)
        ticket.work_order = order
        detail["work_order"] = order.pk
    row = TicketAction.objects.create(ticket=ticket, kind=K.ESCALATE, by=by, detail={**detail, "note": note})
    _event(ticket, "escalated", by, **detail)
    if ticket.status != TicketStatus.WAITING_FIELD:
        ticket_move(ticket=ticket, to=TicketStatus.WAITING_FIELD, by=by, reason="escalated to dispatch")
    return row
