"""Telling drivers: a mail when their ticket is created, on each public reply,
and when it is resolved (with a one-click rating).

Every outgoing mail is a TicketMessage: the reply itself, or a system message
written for the acknowledgement and the resolution. Sending is a task enqueued
after commit. The task first claims the message by writing our Message-ID into
it (compare-and-swap on an empty one), then sends, so a retried or duplicated
task never mails twice; a send that fails gives the claim back for the retry.
A worker killed between the claim and the send loses that one mail rather
than risking two.

Threading: the first mail of a ticket (ours or the driver's) is the thread's
root (Ticket.email_thread_id); each mail answers the newest mail of the
ticket (In-Reply-To) and names the root and that one (References), and its
subject carries [T-000123], so whatever the driver answers threads back.
"""

import enum
import logging
import re
from email.utils import make_msgid, parseaddr

from django.conf import settings
from django.core.mail import EmailMultiAlternatives
from django.db import transaction
from django.template.loader import render_to_string

from support.models import MessageKind, Satisfaction, Ticket, TicketChannel, TicketEvent, TicketMessage, TicketStatus

from . import chat, links
from .links import follow_url  # noqa: F401 (the driver's link, absolute, as in mail)

logger = logging.getLogger(__name__)


class DriverMail(enum.StrEnum):
    CREATED = "ticket_created"
    REPLY = "ticket_reply"
    RESOLVED = "ticket_resolved"


_RECORD = {
    DriverMail.CREATED: "Mailed the driver: we have their request.",
    DriverMail.RESOLVED: "Mailed the driver: resolved, with a rating link.",
}


def _driver_email(ticket: Ticket) -> str:
    return ticket.requester.email if ticket.requester_id and ticket.requester else ""


def _enqueue(message_id: int, mail: DriverMail) -> None:
    from support import tasks

    transaction.on_commit(lambda: tasks.driver_mail_send.delay(message_id, str(mail)))


def _record_and_enqueue(ticket: Ticket, mail: DriverMail) -> TicketMessage:
    message = TicketMessage.objects.create(
        ticket=ticket, kind=MessageKind.SYSTEM, channel=TicketChannel.EMAIL, body=_RECORD[mail]
    )
    _enqueue(message.pk, mail)
    return message


# --- listeners (registered in SupportConfig.ready; each runs after commit) ------


def ticket_created(ticket_id: int) -> None:
    ticket = Ticket.objects.select_related("requester").filter(pk=ticket_id).first()
    if ticket is not None and _driver_email(ticket):
        _record_and_enqueue(ticket, DriverMail.CREATED)


def message_added(message_id: int) -> None:
    message = TicketMessage.objects.select_related("ticket__requester").filter(pk=message_id).first()
    if message is None or message.kind != MessageKind.REPLY or not _driver_email(message.ticket):
        return
    # A chat reply the driver saw live is not mailed; one they left before is.
    if message.channel == TicketChannel.CHAT and chat.driver_is_online(message.ticket_id):
        return
    _enqueue(message.pk, DriverMail.REPLY)


def ticket_moved(ticket_id: int, from_status: str, to_status: str) -> None:
    if to_status != TicketStatus.RESOLVED:
        return
    ticket = Ticket.objects.select_related("requester").filter(pk=ticket_id).first()
    if ticket is None:
        return
    with transaction.atomic():
        if _driver_email(ticket):
            _record_and_enqueue(ticket, DriverMail.RESOLVED)
        # Drivers whose duplicate reports were merged into this one hear it too, on their own thread.
        for merged in Ticket.objects.select_related("requester").filter(merged_into=ticket):
            if _driver_email(merged):
                _record_and_enqueue(merged, DriverMail.RESOLVED)


# --- sending ------------------------------------------------------------------------


def _mail_domain() -> str:
    address = parseaddr(settings.SUPPORT_FROM_EMAIL)[1]
    return address.rpartition("@")[2] or "evops.example"


def _reply_to(ticket: Ticket) -> str:
    """support+T000123@...: the intake threads a reply by this address too."""
    local, _, domain = parseaddr(settings.SUPPORT_FROM_EMAIL)[1].rpartition("@")
    if not local or not domain:
        return settings.SUPPORT_FROM_EMAIL
    return f"{local}+T{ticket.pk:06d}@{domain}"


def _one_line(text: str) -> str:
    # A header is one line: a driver's subject may hold anything.
    return re.sub(r"\s+", " ", text).strip()[:250]


def _thread_headers(ticket: Ticket, message: TicketMessage) -> dict[str, str]:
    root = ticket.email_thread_id
    if not root:
        return {}
    newest = (
        TicketMessage.objects.filter(ticket=ticket)
        .exclude(pk=message.pk)
        .exclude(email_message_id="")
        .order_by("-created_at", "-id")
        .values_list("email_message_id", flat=True)
        .first()
    )
    parent = newest or root
    references = root if parent == root else f"{root} {parent}"
    return {"In-Reply-To": parent, "References": references}


def _context(ticket: Ticket, message: TicketMessage, mail: DriverMail) -> dict:
    context = {
        "ticket": ticket,
        "reference": ticket.reference,
        "subject": _one_line(ticket.subject),
        "driver_name": ticket.requester.name if ticket.requester else "",
        "station": ticket.station,
        "follow_url": links.follow_url(ticket),
        "message": message,
        "agent_name": (message.author.get_short_name() if message.author else "") or "Driver support",
    }
    if mail == DriverMail.RESOLVED:
        context["rating_good_url"] = links.rating_url(ticket, Satisfaction.GOOD)
        context["rating_bad_url"] = links.rating_url(ticket, Satisfaction.BAD)
        context["merged"] = ticket.status == TicketStatus.CLOSED and ticket.merged_into_id is not None
    return context


def driver_mail_send(*, message_id: int, mail: str) -> bool:
    """Send the mail this message stands for, once. False when there is nothing to send
    (no such message, no address) or it was sent (or is being sent) already."""
    mail = DriverMail(mail)
    message = (
        TicketMessage.objects.select_related("ticket__requester", "ticket__station", "author")
        .filter(pk=message_id)
        .first()
    )
    if message is None:
        return False
    ticket = message.ticket
    to = _driver_email(ticket)
    if not to:
        return False
    our_id = make_msgid(idstring=ticket.reference, domain=_mail_domain())
    if not TicketMessage.objects.filter(pk=message.pk, email_message_id="").update(email_message_id=our_id):
        return False
    try:
        context = _context(ticket, message, mail)
        subject = _one_line(render_to_string(f"emails/support/{mail}_subject.txt", context))
        text = render_to_string(f"emails/support/{mail}_body.txt", context)
        html = render_to_string(f"emails/support/{mail}_body.html", context)
        headers = {"Message-ID": our_id, **_thread_headers(ticket, message)}
        if mail != DriverMail.REPLY:
            # RFC 3834: drivers' auto-responders must not answer a machine's mail.
            headers["Auto-Submitted"] = "auto-generated"
        email = EmailMultiAlternatives(
            subject=subject,
            body=text,
            from_email=settings.SUPPORT_FROM_EMAIL,
            to=[to],
            reply_to=[_reply_to(ticket)],
            headers=headers,
        )
        email.attach_alternative(html, "text/html")
        email.send()
    except Exception:
        TicketMessage.objects.filter(pk=message.pk, email_message_id=our_id).update(email_message_id="")
        raise
    # The first mail of a ticket that did not start by mail roots its thread.
    Ticket.objects.filter(pk=ticket.pk, email_thread_id="").update(email_thread_id=our_id)
    TicketEvent.objects.create(
        ticket=ticket, kind="driver_mailed", detail={"mail": str(mail), "message_id": our_id, "message": message.pk}
    )
    return True
