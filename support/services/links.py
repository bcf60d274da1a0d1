"""Links a driver follows without an account: their ticket, and its rating.

A follow token is the ticket's id and creation time, signed with SECRET_KEY
under a salt of its own (so no other signed value of the site is accepted as
one). It names one ticket; a tampered token, or the token of a ticket that no
longer exists (a database restored over ids), opens nothing.
"""

from django.conf import settings
from django.core import signing
from django.urls import reverse

from support.models import Ticket

FOLLOW_SALT = "support.ticket.follow"


def follow_token(ticket: Ticket) -> str:
    return signing.dumps([ticket.pk, int(ticket.created_at.timestamp())], salt=FOLLOW_SALT, compress=False)


def ticket_from_token(token: str) -> Ticket | None:
    """The ticket a token names, or None for anything forged, altered or stale."""
    if len(token) > 200:
        return None
    try:
        ticket_id, created = signing.loads(token, salt=FOLLOW_SALT)
    except (signing.BadSignature, ValueError, TypeError):
        return None
    if not isinstance(ticket_id, int) or not isinstance(created, int):
        return None
    ticket = Ticket.objects.select_related("station", "requester", "merged_into").filter(pk=ticket_id).first()
    if ticket is None or int(ticket.created_at.timestamp()) != created:
        return None
    return ticket


def public_base_url() -> str:
    """Where drivers reach the site: links in mail must be absolute."""
    return (settings.SUPPORT_PUBLIC_URL or settings.PUBLIC_BASE_URL or "http://127.0.0.1:8000").rstrip("/")


def follow_path(ticket: Ticket) -> str:
    return reverse("support:follow", args=[follow_token(ticket)])


def follow_url(ticket: Ticket) -> str:
    return public_base_url() + follow_path(ticket)


def rating_url(ticket: Ticket, rating: str) -> str:
    return public_base_url() + reverse("support:rate", args=[follow_token(ticket), rating])
