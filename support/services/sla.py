"""SLA timers of tickets (filled in by the SLA module of the support desk).

`ticket_opened` sets the due times from the team's policy; `ticket_status_changed`
pauses the clock while the ticket waits on the driver and resumes it after.
"""

from datetime import datetime

from support.models import Ticket


def ticket_opened(ticket: Ticket) -> None:
    """Set the first-response and resolution due times from the team's SLA policy."""


def ticket_status_changed(ticket: Ticket, *, old: str, new: str, now: datetime) -> None:
    """Pause the SLA clock while waiting on the driver; resume it afterwards."""
