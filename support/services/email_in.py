"""Mail to the support address: a new ticket, or a message on the ticket it answers.

Both ways in (a mail server piping to `manage.py ingest_email`, a provider's
inbound webhook through anymail) hand a parsed message to `email_ingest`.

Threading, strongest first:
1. In-Reply-To / References name a Message-ID we sent or received on a ticket
   (TicketMessage.email_message_id, Ticket.email_thread_id). A forward is not
   a reply: mail clients keep the forwarded mail's headers, so a subject
   starting Fwd:/Fw: skips this step.
2. The ticket's reference in the subject ([T-000123]) or in the address
   (support+T000123@...), honoured only when the sender is the ticket's
   driver: a reference is easy to guess, a Message-ID is not.
Anything else opens a new ticket. A closed ticket is not reopened: the mail
opens a new ticket that names the old one.

Mail that machines send (auto-replies, out-of-office notices, bounces, lists)
never opens a ticket and is never answered, so two robots cannot talk forever.
"""

import email.utils
import enum
import re
from dataclasses import dataclass
from email.message import EmailMessage, Message

import html2text
from django.conf import settings
from django.db import transaction
from email_reply_parser import EmailReplyParser

from support.models import BODY_MAX, MessageKind, Ticket, TicketChannel, TicketMessage, TicketStatus

from .charger_pages import attachment_store
from .tickets import driver_find_or_create, ticket_create, ticket_message_add


class IngestOutcome(enum.StrEnum):
    CREATED = "created"
    THREADED = "threaded"
    DUPLICATE = "duplicate"
    REFUSED = "refused"


@dataclass(frozen=True)
class IngestResult:
    outcome: IngestOutcome
    ticket: Ticket | None = None
    message: TicketMessage | None = None
    reason: str = ""

    def describe(self) -> str:
        """One line for the mail server's log."""
        if self.outcome == IngestOutcome.REFUSED:
            return f"refused: {self.reason}"
        verb = {
            IngestOutcome.CREATED: "created",
            IngestOutcome.THREADED: "added to",
            IngestOutcome.DUPLICATE: "already on",
        }[self.outcome]
        return f"{verb} {self.ticket.reference}" + (f" ({self.reason})" if self.reason else "")


MESSAGE_ID = re.compile(r"<[^<>\s]{1,298}>")
FORWARD = re.compile(r"^\s*(?:\[[^\]]*\]\s*)?(?:fwd?|fw)\s*:", re.IGNORECASE)
REPLY_PREFIX = re.compile(r"^\s*(?:(?:re|aw|sv|vs|antw|fwd?|fw)\s*:\s*)+", re.IGNORECASE)
SUBJECT_REFERENCE = re.compile(r"\[\s*T-?(\d{1,9})\s*\]|\bT-(\d{6,9})\b", re.IGNORECASE)
ROBOT_SENDERS = re.compile(r"^(mailer-daemon|postmaster|no-?reply|do-?not-?reply)(\+|@|$)", re.IGNORECASE)
# How far back a References chain is looked at: the newest ids are the ones that matter.
MAX_REFERENCES = 50


def _header(message: Message, name: str) -> str:
    try:
        value = message.get(name)
    except (ValueError, TypeError, IndexError):  # a header the parser cannot decode
        return ""
    return str(value or "").strip()


def loop_reason(message: Message) -> str | None:
    """Why this mail was sent by a machine (and must not get a ticket or an answer); None for a person's."""
    auto_submitted = _header(message, "Auto-Submitted").lower()
    if auto_submitted and auto_submitted.split(";")[0].strip() != "no":
        return f"automatic mail (Auto-Submitted: {auto_submitted[:40]})"
    precedence = _header(message, "Precedence").lower()
    if precedence in ("bulk", "junk", "list", "auto_reply"):
        return f"bulk or list mail (Precedence: {precedence})"
    for name in ("X-Autoreply", "X-Autorespond", "X-Autoresponder"):
        if _header(message, name):
            return f"automatic reply ({name})"
    if message.get_content_type() == "multipart/report":
        return "delivery or read report (multipart/report)"
    _, sender = email.utils.parseaddr(_header(message, "From"))
    if ROBOT_SENDERS.match(sender):
        return f"sent by a mail system ({sender[:80]})"
    return_path = _header(message, "Return-Path")
    if return_path.replace(" ", "") == "<>":
        return "bounce (empty Return-Path)"
    return None


def _ids(value: str) -> list[str]:
    return MESSAGE_ID.findall(value)


def _message_id(message: Message) -> str:
    found = _ids(_header(message, "Message-ID"))
    return found[0] if found else ""


def _threaded_by_headers(message: Message) -> Ticket | None:
    """The ticket the newest Message-ID this mail answers belongs to."""
    chain = _ids(_header(message, "References"))[-MAX_REFERENCES:]
    for parent in _ids(_header(message, "In-Reply-To")):
        if parent not in chain:
            chain.append(parent)
    if not chain:
        return None
    by_message = dict(
        TicketMessage.objects.filter(email_message_id__in=chain).values_list("email_message_id", "ticket_id")
    )
    by_thread = dict(Ticket.objects.filter(email_thread_id__in=chain).values_list("email_thread_id", "id"))
    # In-Reply-To came last: newest first.
    for message_id in reversed(chain):
        ticket_id = by_message.get(message_id) or by_thread.get(message_id)
        if ticket_id:
            return Ticket.objects.filter(pk=ticket_id).select_related("requester").first()
    return None


def _recipients(message: Message) -> list[str]:
    fields = []
    for name in ("To", "Cc", "Delivered-To", "X-Original-To"):
        try:
            fields.extend(message.get_all(name) or [])
        except (ValueError, TypeError, IndexError):
            continue
    envelope = getattr(message, "envelope_recipient", None)
    if envelope:
        fields.append(envelope)
    return [address for _, address in email.utils.getaddresses([str(f) for f in fields]) if address]


def _referenced_ticket_id(message: Message) -> int | None:
    """The ticket a plus-address of ours or the subject names."""
    local, _, domain = settings.SUPPORT_EMAIL.lower().partition("@")
    plus = re.compile(rf"^{re.escape(local)}\+t-?(\d{{1,9}})@{re.escape(domain)}$", re.IGNORECASE)
    for address in _recipients(message):
        found = plus.match(address.strip())
        if found:
            return int(found.group(1))
    found = SUBJECT_REFERENCE.search(_header(message, "Subject"))
    if found:
        return int(found.group(1) or found.group(2))
    return None


def _surviving(ticket: Ticket | None) -> Ticket | None:
    """A merged ticket's mail goes to the ticket it was merged into."""
    for _ in range(10):
        if ticket is None or ticket.merged_into_id is None:
            return ticket
        ticket = Ticket.objects.filter(pk=ticket.merged_into_id).select_related("requester").first()
    return ticket


# --- Text ---------------------------------------------------------------------


def _decoded(part: Message) -> str:
    try:
        content = part.get_content()
    except (LookupError, ValueError, AssertionError):  # an unknown charset or a broken transfer encoding
        payload = part.get_payload(decode=True) or b""
        content = payload.decode("utf-8", errors="replace")
    if isinstance(content, bytes):
        content = content.decode("utf-8", errors="replace")
    return content


def html_to_text(html: str) -> str:
    converter = html2text.HTML2Text()
    converter.body_width = 0  # keep the driver's lines; wrapping is the reader's business
    converter.ignore_images = True
    converter.ignore_emphasis = True
    converter.ignore_links = False
    return converter.handle(html)


def body_text(message: EmailMessage, *, keep_quoted: bool = False) -> str:
    """What the driver wrote: the plain text part, or the HTML one made readable, without quoted history.

    A forward keeps what it quotes: the forwarded mail is what the driver wants us to read."""
    try:
        part = message.get_body(preferencelist=("plain", "html"))
    except (KeyError, ValueError, AttributeError):
        part = None
    if part is None:
        return ""
    text = _decoded(part)
    if part.get_content_type() == "text/html":
        text = html_to_text(text)
    text = text.replace("\r\n", "\n").replace("\x00", "")
    text = "\n".join(line.rstrip() for line in text.split("\n"))
    text = re.sub(r"\n{3,}", "\n\n", text).strip()
    return text if keep_quoted else cut_quoted(text)


# The line a mail client writes above the history it quotes, in the languages
# email-reply-parser does not know ("Am 01.12.26 um 10:05 schrieb X:").
QUOTE_HEADER = re.compile(
    r"\b(wrote|schrieb|a écrit|escribió|ha scritto|schreef|skrev|napisał|kirjoitti|escreveu)\b[^\n]*:\s*$",
    re.IGNORECASE,
)


def cut_quoted(text: str) -> str:
    """The reply without the history it quotes ("On ... wrote:", "> ..." lines, Outlook's From:/Sent: block)."""
    reply = EmailReplyParser.parse_reply(text).strip()
    lines = reply.split("\n")
    # The parser cuts the quoted lines; a header line above them in another language stays behind.
    if len(lines) > 1 and QUOTE_HEADER.search(lines[-1]):
        reply = "\n".join(lines[:-1]).strip()
    return reply or text.strip()


# --- Attachments ----------------------------------------------------------------


def _attachments(message: EmailMessage):
    for part in message.iter_attachments():
        if part.is_multipart():
            continue
        filename = part.get_filename() or ""
        if not filename and part.get_content_disposition() != "attachment":
            continue  # an unnamed inline part is the body's, not a file
        payload = part.get_payload(decode=True) or b""
        yield filename or "attachment", part.get_content_type(), payload


# --- Entry point ------------------------------------------------------------------


def email_ingest(*, message: EmailMessage) -> IngestResult:
    """Turn one received mail into a ticket or a message on its ticket; machines' mail is refused."""
    reason = loop_reason(message)
    if reason:
        return IngestResult(IngestOutcome.REFUSED, reason=reason)
    name, sender = email.utils.parseaddr(_header(message, "From"))
    sender = sender.strip().lower()
    if "@" not in sender or len(sender) > 254:
        return IngestResult(IngestOutcome.REFUSED, reason="no sender address")
    local, _, domain = sender.partition("@")
    if f"{local.split('+')[0]}@{domain}" == settings.SUPPORT_EMAIL.lower():
        return IngestResult(IngestOutcome.REFUSED, reason="sent from the support address itself")
    message_id = _message_id(message)
    if message_id:
        known = TicketMessage.objects.filter(email_message_id=message_id).select_related("ticket").first()
        if known:
            return IngestResult(IngestOutcome.DUPLICATE, known.ticket, known, "the same Message-ID came before")

    subject = REPLY_PREFIX.sub("", _header(message, "Subject")).strip()[:200]
    text = body_text(message, keep_quoted=bool(FORWARD.match(_header(message, "Subject"))))
    files = list(_attachments(message))
    kept, notes = _within_limits(files)
    if notes:
        text = f"{text}\n\n" + "\n".join(notes)
    if not text.strip():
        text = "(no text: see the attachments)" if kept else "(empty mail)"
    if len(text) > BODY_MAX:
        text = text[: BODY_MAX - 40].rstrip() + "\n[the rest of this mail was cut]"

    with transaction.atomic():
        ticket, why = _ticket_for(message, sender)
        if ticket is not None:
            added = ticket_message_add(
                ticket=ticket, kind=MessageKind.DRIVER, body=text, channel=TicketChannel.EMAIL,
                email_message_id=message_id,
            )  # fmt: skip
            outcome = IngestOutcome.THREADED
        else:
            requester = driver_find_or_create(name=name, email=sender)
            ticket = ticket_create(
                channel=TicketChannel.EMAIL,
                subject=subject or "(no subject)",
                body=text,
                requester=requester,
                email_message_id=message_id,
            )
            if why:
                ticket.tags = [*ticket.tags, why]
                ticket.save(update_fields=["tags"])
            added = ticket.messages.order_by("id").first()
            outcome = IngestOutcome.CREATED
        for filename, content_type, data in kept:
            attachment_store(message=added, filename=filename, content_type=content_type, data=data)
    return IngestResult(outcome, ticket, added, why)


def _ticket_for(message: EmailMessage, sender: str) -> tuple[Ticket | None, str]:
    """(the open ticket this mail belongs to, or None; a note for a new ticket that follows a closed one)."""
    forwarded = bool(FORWARD.match(_header(message, "Subject")))
    ticket = None if forwarded else _surviving(_threaded_by_headers(message))
    if ticket is None:
        ticket_id = _referenced_ticket_id(message)
        if ticket_id is not None:
            named = _surviving(Ticket.objects.filter(pk=ticket_id).select_related("requester").first())
            if named is not None and named.requester and named.requester.email.lower() == sender:
                ticket = named
    if ticket is not None and ticket.status == TicketStatus.CLOSED:
        return None, f"follows {ticket.reference}"
    return ticket, ""


def _within_limits(files: list[tuple[str, str, bytes]]):
    kept, notes = [], []
    for filename, content_type, data in files:
        if len(kept) >= settings.SUPPORT_MAIL_MAX_ATTACHMENTS:
            notes.append(f"[attachment {filename[:80]} not kept: more than {len(kept)} files]")
        elif len(data) > settings.SUPPORT_MAIL_MAX_ATTACHMENT_BYTES:
            notes.append(f"[attachment {filename[:80]} not kept: larger than "
                         f"{settings.SUPPORT_MAIL_MAX_ATTACHMENT_BYTES // (1024 * 1024)} MB]")  # fmt: skip
        else:
            kept.append((filename, content_type, data))
    return kept, notes


def anymail_inbound_received(sender, event, esp_name, **kwargs) -> None:
    """anymail's inbound signal: the provider's webhook, already verified by anymail."""
    email_ingest(message=event.message)
