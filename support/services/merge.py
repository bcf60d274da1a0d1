"""Duplicate tickets become one.

The source keeps its own messages: two drivers reporting the same fault must
never see each other's words through their follow links. It is closed with
`merged_into`, the target gets a system message naming it, both get an
event with who merged them, and the source's driver hears of the target's
resolution on their own thread (notifications.ticket_moved).
"""

from django.db import transaction

from support.models import MessageKind, Ticket, TicketEvent, TicketMessage, TicketStatus

from .tickets import TicketRefused, ticket_is_open, ticket_move


@transaction.atomic
def ticket_merge(*, source: Ticket, into: Ticket, by) -> Ticket:
    """Merge `source` into `into`; returns the target."""
    if source.pk == into.pk:
        raise TicketRefused("a ticket cannot be merged into itself")
    # Both rows locked in id order, so two merges of the same pair cannot cross.
    locked = {t.pk: t for t in Ticket.objects.select_for_update().filter(pk__in=[source.pk, into.pk]).order_by("pk")}
    if len(locked) != 2:
        raise TicketRefused("one of the tickets no longer exists")
    source, into = locked[source.pk], locked[into.pk]
    if source.merged_into_id:
        raise TicketRefused(f"{source.reference} was merged already")
    if into.merged_into_id or into.status == TicketStatus.CLOSED:
        raise TicketRefused(f"{into.reference} is closed; merge into an open ticket")
    if not ticket_is_open(source):
        raise TicketRefused(f"{source.reference} is no longer open")

    ticket_move(ticket=source, to=TicketStatus.CLOSED, by=by, reason=f"merged into {into.reference}")
    Ticket.objects.filter(pk=source.pk).update(merged_into=into)
    source.merged_into = into
    # The fault the duplicate was linked to is the target's too, unless it has its own.
    links = {}
    if into.incident_id is None and source.incident_id:
        links["incident_id"] = source.incident_id
    if into.work_order_id is None and source.work_order_id:
        links["work_order_id"] = source.work_order_id
    if links:
        Ticket.objects.filter(pk=into.pk).update(**links)
        for name, value in links.items():
            setattr(into, name, value)
    TicketMessage.objects.create(
        ticket=into,
        kind=MessageKind.SYSTEM,
        channel=into.channel,
        author=by,
        body=f"{source.reference} ({source.subject}) was merged into this ticket.",
    )
    TicketEvent.objects.create(
        ticket=source, kind="merged", by=by, detail={"into": into.pk, "into_reference": into.reference}
    )
    TicketEvent.objects.create(
        ticket=into,
        kind="merged_in",
        by=by,
        detail={"source": source.pk, "source_reference": source.reference, **{k: v for k, v in links.items()}},
    )
    return into
