"""Tickets past their SLA, as a condition the operators' alert rules can watch.

Alerts live in workorders, which does not know support: this source is
registered into its registry (SupportConfig.ready) and read whenever rules of
the "ticket SLA" kind are evaluated. A ticket no longer listed has its alert
resolved there.
"""

from datetime import datetime

from django.urls import reverse

from support.models import OPEN_TICKET_STATUSES, Ticket
from workorders.alerts.registry import ExternalCondition

from .sla import Target, breached_q

# Enough for any desk's backlog; a flood beyond it still raises the first ones.
MAX_LISTED = 1000


def tickets_breaching_sla(*, now: datetime) -> list[ExternalCondition]:
    conditions = []
    for target in Target:
        due_field = "first_response_due_at" if target == Target.FIRST_RESPONSE else "resolution_due_at"
        tickets = (
            Ticket.objects.filter(breached_q(target, now), status__in=OPEN_TICKET_STATUSES)
            .only("id", "subject", "station_id", due_field)
            .order_by(due_field)[:MAX_LISTED]
        )
        for ticket in tickets:
            conditions.append(
                ExternalCondition(
                    subject_key=f"ticket:{ticket.pk}:{target.value}",
                    subject_label=ticket.reference,
                    since=getattr(ticket, due_field),
                    summary=f"{ticket.reference} is past its {target.label.lower()} target: {ticket.subject}",
                    station_id=ticket.station_id,
                    subject_url=reverse("support:ticket", args=[ticket.pk]),
                    details={"ticket": ticket.pk, "target": target.value},
                )
            )
    return conditions
