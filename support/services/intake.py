"""Tickets staff and apps open for a driver: a phone call an agent logs, a report a driver app sends."""

from django.db import transaction

from stations.models import ChargingStation, Connector
from support.models import Ticket, TicketCategory, TicketChannel, TicketStatus

from .tickets import TicketRefused, driver_find_or_create, ticket_create, ticket_move


def _connector(station, connector_id):
    if connector_id is None:
        return None
    if station is None:
        raise TicketRefused("a connector needs its charger")
    connector = Connector.objects.filter(station=station, connector_id=connector_id).first()
    if connector is None:
        raise TicketRefused(f"charger {station.identity} has no connector {connector_id}")
    return connector


@transaction.atomic
def api_ticket_create(
    *,
    by,
    body: str,
    subject: str = "",
    category: str = TicketCategory.OTHER,
    station: ChargingStation | None = None,
    connector_id: int | None = None,
    name: str = "",
    email: str = "",
    phone: str = "",
) -> Ticket:
    """A ticket sent through the REST API (a driver app, a partner's system)."""
    connector = _connector(station, connector_id)
    requester = driver_find_or_create(name=name, email=email, phone=phone)
    return ticket_create(
        channel=TicketChannel.API,
        subject=subject,
        body=body,
        category=category,
        requester=requester,
        station=station,
        connector=connector,
        by=by,
    )


@transaction.atomic
def phone_call_log(
    *,
    by,
    summary: str,
    category: str = TicketCategory.OTHER,
    priority: str = "p3",
    station: ChargingStation | None = None,
    connector_id: int | None = None,
    name: str = "",
    email: str = "",
    phone: str = "",
    solved: bool = False,
) -> Ticket:
    """A ticket for a call; `solved` when the agent fixed it while the driver was on the line."""
    connector = _connector(station, connector_id)
    requester = driver_find_or_create(name=name, email=email, phone=phone)
    first_line = summary.strip().splitlines()[0] if summary.strip() else ""
    ticket = ticket_create(
        channel=TicketChannel.PHONE,
        subject=f"Call: {first_line}" if first_line else "Call",
        body=summary,
        category=category,
        priority=priority,
        requester=requester,
        station=station,
        connector=connector,
        by=by,
    )
    if solved:
        ticket_move(ticket=ticket, to=TicketStatus.RESOLVED, by=by, reason="solved during the call")
        Ticket.objects.filter(pk=ticket.pk).update(resolved_in_first_contact=True)
        ticket.resolved_in_first_contact = True
    return ticket
