"""Many reports, one fault: tickets about a charger follow its open incident.

A new ticket about a charger with an open incident is linked to it (the
console's escalation may link more). When the incident closes fixed, confirmed
by the charger (workorders.services.events.on_incident_fixed), every linked
ticket still open is resolved; the resolution mail tells each driver.
"""

import logging

from django.db import transaction
from django.db.models import Q

from support.models import OPEN_TICKET_STATUSES, Ticket, TicketEvent, TicketStatus
from workorders.models import Incident, IncidentStatus

from .tickets import TicketRefused, ticket_move

logger = logging.getLogger(__name__)


def open_incident_for(ticket: Ticket) -> Incident | None:
    """The open incident a ticket is about: its connector's first, else the station's."""
    if ticket.station_id is None:
        return None
    incidents = Incident.objects.filter(station_id=ticket.station_id).exclude(status=IncidentStatus.CLOSED)
    if ticket.connector_id:
        same_connector = incidents.filter(connector_id=ticket.connector_id).order_by("opened_at", "id").first()
        if same_connector is not None:
            return same_connector
    return incidents.order_by("opened_at", "id").first()


def ticket_link_open_incident(*, ticket_id: int) -> Incident | None:
    """Link a new ticket to its charger's open incident, once (nobody else linked one first)."""
    ticket = Ticket.objects.filter(pk=ticket_id, incident__isnull=True).first()
    if ticket is None:
        return None
    incident = open_incident_for(ticket)
    if incident is None:
        return None
    with transaction.atomic():
        if not Ticket.objects.filter(pk=ticket.pk, incident__isnull=True).update(incident=incident):
            return None
        TicketEvent.objects.create(
            ticket=ticket,
            kind="incident_linked",
            detail={"incident": incident.pk, "why": "the charger had this open incident when the ticket came in"},
        )
    return incident


def tickets_resolve_for_fixed_incident(*, incident_id: int) -> list[int]:
    """Resolve every open ticket linked to the incident or to one of its work orders."""
    incident = Incident.objects.filter(pk=incident_id, status=IncidentStatus.CLOSED).first()
    if incident is None:
        return []
    reason = f"the charger fault was fixed ({incident.get_resolution_display()}) and the charger confirms it"
    resolved = []
    tickets = Ticket.objects.filter(
        Q(incident_id=incident_id) | Q(work_order__incident_id=incident_id), status__in=OPEN_TICKET_STATUSES
    ).distinct()
    for ticket in tickets:
        try:
            ticket_move(ticket=ticket, to=TicketStatus.RESOLVED, by=None, reason=reason)
        except TicketRefused:
            # Moved by someone meanwhile (resolved by hand, closed): theirs stands.
            logger.info("ticket %s changed meanwhile; not resolved for incident %s", ticket.pk, incident_id)
            continue
        resolved.append(ticket.pk)
    return resolved


def ticket_created(ticket_id: int) -> None:
    """Listener (tickets.on_ticket_created)."""
    ticket_link_open_incident(ticket_id=ticket_id)
