"""Mail in: new tickets, replies threaded from the common mail clients, references in the
subject and the address, forwards, loops refused, HTML-only mail, attachments; through
`manage.py ingest_email` on standard input and through Mailgun's signed inbound webhook.

The messages under tests/mail/ are shaped like what Gmail, Outlook, Apple Mail and
Thunderbird send; {{REF}}, {{PLAIN}} and {{REPLY_ID}} stand for the ticket's reference
and the Message-ID of the agent's reply the driver answers.
"""

import hashlib
import hmac
import subprocess
import sys
import time
import urllib.error
import urllib.parse
import urllib.request
import uuid
from email import policy
from email.parser import BytesParser
from pathlib import Path

import pytest
from django.core import mail

from support.models import MessageKind, Ticket, TicketAttachment, TicketChannel, TicketMessage, TicketStatus
from support.services import email_in
from support.services.email_in import IngestOutcome
from support.services.tickets import ticket_message_add, ticket_move
from tests.conftest import BASE_DIR, process_env, run_server

MAIL = Path(__file__).resolve().parent / "mail"
ANN = "ann.driver@gmail.example"


def raw(name: str, ticket: Ticket | None = None, reply_id: str = "") -> bytes:
    text = (MAIL / name).read_text()
    if ticket is not None:
        text = text.replace("{{REF}}", ticket.reference).replace("{{PLAIN}}", ticket.reference.replace("-", ""))
    if reply_id:
        text = text.replace("{{REPLY_ID}}", reply_id.strip("<>"))
    assert "{{" not in text, f"{name} needs a ticket and a reply"
    return text.encode()


def _driver_messages(ticket) -> int:
    """The driver's own messages (acknowledgements and notes other modules add are not counted)."""
    return ticket.messages.filter(kind=MessageKind.DRIVER).count()


def ingest(data: bytes):
    return email_in.email_ingest(message=BytesParser(policy=policy.default).parsebytes(data))


@pytest.fixture
def thread(db):
    """Ann's first mail made a ticket; an agent answered it by mail (our Message-ID on the reply)."""
    ticket = ingest(raw("gmail_new.eml")).ticket
    reply = ticket_message_add(
        ticket=ticket, kind=MessageKind.REPLY, channel=TicketChannel.EMAIL,
        body="Hello Ann, we restarted the charger remotely. Please try again.",
        email_message_id=f"<{ticket.reference}.{uuid.uuid4().hex[:8]}@evops.example>",
    )  # fmt: skip
    return ticket, reply.email_message_id


@pytest.mark.django_db
def test_a_new_mail_opens_a_ticket_with_the_drivers_words():
    result = ingest(raw("gmail_new.eml"))
    assert result.outcome == IngestOutcome.CREATED
    ticket = result.ticket
    assert ticket.channel == TicketChannel.EMAIL and ticket.subject == "Charger at Harbour Street won't start"
    assert ticket.requester.email == ANN and ticket.requester.name == "Ann Driver"
    assert ticket.email_thread_id == "<CAJx7qPq0v2dK9mZ1=new-gmail@mail.gmail.com>"
    message = ticket.messages.get()
    assert message.body.startswith("Hi,\n\nThe charger HS-01 at Harbour Street shows a red light")
    assert "<div" not in message.body and message.email_message_id == ticket.email_thread_id


@pytest.mark.django_db
@pytest.mark.parametrize(
    "fixture, words",
    [
        ("gmail_reply.eml", "It works now, thank you! Charged to 80%."),
        ("outlook_reply.eml", "Still the same red light after your restart, connector 2.\n\nRegards,\nAnn"),
        # A changed subject: the headers still say what it answers.
        ("apple_mail_reply.eml", "Same problem again this morning \u2013 the screen is black now."),
        ("thunderbird_reply.eml", "Gr\u00fc\u00dfe, I was at the charger again at 11:00; it still does not start."),
    ],
)
def test_a_reply_from_each_mail_client_joins_its_ticket_without_the_quoted_history(thread, fixture, words):
    ticket, reply_id = thread
    result = ingest(raw(fixture, ticket, reply_id))
    assert (result.outcome, result.ticket.pk) == (IngestOutcome.THREADED, ticket.pk)
    assert result.message.body == words
    assert result.message.kind == MessageKind.DRIVER and result.message.channel == TicketChannel.EMAIL
    assert Ticket.objects.count() == 1


@pytest.mark.django_db
def test_a_reply_reopens_a_resolved_ticket(thread):
    ticket, reply_id = thread
    ticket_move(ticket=ticket, to=TicketStatus.RESOLVED, by=None)
    ingest(raw("gmail_reply.eml", ticket, reply_id))
    ticket.refresh_from_db()
    assert ticket.status == TicketStatus.OPEN


@pytest.mark.django_db
def test_a_reply_to_a_closed_ticket_opens_a_new_one_that_names_it(thread):
    ticket, reply_id = thread
    ticket_move(ticket=ticket, to=TicketStatus.CLOSED, by=None)
    result = ingest(raw("outlook_reply.eml", ticket, reply_id))
    assert result.outcome == IngestOutcome.CREATED and result.ticket.pk != ticket.pk
    assert result.ticket.tags == [f"follows {ticket.reference}"]


@pytest.mark.django_db
def test_a_reply_to_a_merged_ticket_goes_to_the_ticket_it_was_merged_into(thread):
    ticket, reply_id = thread
    survivor = ingest(raw("outlook_html_only.eml")).ticket
    Ticket.objects.filter(pk=ticket.pk).update(merged_into=survivor)
    result = ingest(raw("gmail_reply.eml", ticket, reply_id))
    assert result.ticket.pk == survivor.pk


@pytest.mark.django_db
def test_a_forward_does_not_join_the_thread_its_headers_name(thread):
    ticket, reply_id = thread
    result = ingest(raw("gmail_forward.eml", ticket, reply_id))
    assert result.outcome == IngestOutcome.CREATED and result.ticket.pk != ticket.pk
    assert result.ticket.requester.email == "ben.fleet@gmail.example"
    # What was forwarded is kept: it is what the sender wants read.
    assert "---------- Forwarded message ---------" in result.message.body
    assert _driver_messages(ticket) == 1


@pytest.mark.django_db
def test_a_forward_that_names_the_reference_joins_it(thread):
    ticket, reply_id = thread
    result = ingest(raw("forward_naming_reference.eml", ticket, reply_id))
    assert (result.outcome, result.ticket.pk) == (IngestOutcome.THREADED, ticket.pk)
    assert "Total 12.40 EUR" in result.message.body


@pytest.mark.django_db
@pytest.mark.parametrize("fixture", ["subject_reference.eml", "plus_address.eml"])
def test_the_reference_in_the_subject_or_the_address_joins_the_ticket(thread, fixture):
    ticket, _ = thread
    result = ingest(raw(fixture, ticket))
    assert (result.outcome, result.ticket.pk) == (IngestOutcome.THREADED, ticket.pk)


@pytest.mark.django_db
def test_a_reference_from_someone_else_opens_their_own_ticket(thread):
    ticket, _ = thread
    result = ingest(raw("stranger_reference.eml", ticket))
    assert result.outcome == IngestOutcome.CREATED and result.ticket.pk != ticket.pk
    assert _driver_messages(ticket) == 1


@pytest.mark.django_db
@pytest.mark.parametrize(
    "fixture, why",
    [
        ("auto_reply.eml", "Auto-Submitted: auto-replied"),
        ("bounce.eml", "Auto-Submitted"),
        ("list_bulk.eml", "Precedence: bulk"),
    ],
)
def test_machines_mail_never_opens_a_ticket_nor_gets_an_answer(
    thread, fixture, why, django_capture_on_commit_callbacks
):
    ticket, reply_id = thread
    mail.outbox.clear()
    with django_capture_on_commit_callbacks(execute=True):
        result = ingest(raw(fixture, ticket, reply_id) if "{{" in (MAIL / fixture).read_text() else raw(fixture))
    assert result.outcome == IngestOutcome.REFUSED and why in result.reason
    assert Ticket.objects.count() == 1 and _driver_messages(ticket) == 1
    assert mail.outbox == []


@pytest.mark.django_db
@pytest.mark.parametrize(
    "header, value",
    [
        ("From", "MAILER-DAEMON@mx.example"),
        ("From", "postmaster@mx.example"),
        ("Content-Type", "multipart/report; report-type=disposition-notification; boundary=x"),
        ("X-Autorespond", "yes"),
        ("Precedence", "junk"),
        ("Return-Path", "<>"),
    ],
)
def test_each_mark_of_an_automatic_mail_is_refused(header, value):
    data = raw("gmail_new.eml").decode()
    if header in ("From", "Content-Type"):
        lines = [line for line in data.split("\n") if not line.startswith(f"{header}:")]
        data = "\n".join(lines)
    data = f"{header}: {value}\n" + data
    assert ingest(data.encode()).outcome == IngestOutcome.REFUSED
    assert not Ticket.objects.exists()


@pytest.mark.django_db
def test_mail_from_the_support_address_itself_is_refused(settings):
    data = raw("gmail_new.eml").replace(
        b"From: Ann Driver <ann.driver@gmail.example>", b"From: <support@evops.example>"
    )
    assert ingest(data).outcome == IngestOutcome.REFUSED


@pytest.mark.django_db
def test_html_only_mail_becomes_readable_text():
    message = ingest(raw("outlook_html_only.eml")).message
    assert message.body == (
        'Hello,\n\ncharging at CP-0042 stopped after 5 minutes & the app said "session ended".\n\n'
        "  * Car: Model Y\n  * Time: 14:00\n\nKind regards,\nCarl"
    )


@pytest.mark.django_db
def test_attachments_are_kept_under_safe_names():
    message = ingest(raw("attachments.eml")).message
    files = {a.filename: a for a in TicketAttachment.objects.filter(message=message)}
    assert set(files) == {"IMG_2041.png", "invoice_11.pdf"}
    assert files["IMG_2041.png"].content_type == "image/png"
    assert files["invoice_11.pdf"].file.read().startswith(b"%PDF-1.4")
    assert ".." not in files["invoice_11.pdf"].file.name


@pytest.mark.django_db
def test_attachments_beyond_the_limits_are_left_out_and_said_so(settings):
    settings.SUPPORT_MAIL_MAX_ATTACHMENTS = 1
    message = ingest(raw("attachments.eml")).message
    assert TicketAttachment.objects.filter(message=message).count() == 1
    assert "[attachment ../../invoice 11.pdf not kept: more than 1 files]" in message.body
    settings.SUPPORT_MAIL_MAX_ATTACHMENTS = 10
    settings.SUPPORT_MAIL_MAX_ATTACHMENT_BYTES = 50
    data = raw("attachments.eml").replace(b"<CAJx7qPv-attachments@", b"<second@")
    message = ingest(data).message
    assert TicketAttachment.objects.filter(message=message).count() == 1  # the tiny PDF
    assert "IMG_2041.png not kept: larger than" in message.body


@pytest.mark.django_db
def test_the_same_mail_delivered_twice_is_filed_once(thread):
    ticket, reply_id = thread
    first = ingest(raw("gmail_reply.eml", ticket, reply_id))
    again = ingest(raw("gmail_reply.eml", ticket, reply_id))
    assert again.outcome == IngestOutcome.DUPLICATE and again.message.pk == first.message.pk
    assert _driver_messages(ticket) == 2


# --- ingest_email: a mail server pipes each mail to the command ---------------------------


def _pipe(data: bytes) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "manage.py", "ingest_email"],
        input=data, cwd=BASE_DIR, env=process_env(), capture_output=True, timeout=60,
    )  # fmt: skip


def test_ingest_email_files_new_mail_and_replies_and_refuses_loops_with_exit_0(live_db):
    created = _pipe(raw("gmail_new.eml"))
    assert created.returncode == 0, created.stderr
    ticket = Ticket.objects.get()
    assert created.stdout.decode().strip() == f"created {ticket.reference}"
    reply_id = f"<{ticket.reference}.pipe@evops.example>"
    TicketMessage.objects.create(
        ticket=ticket, kind=MessageKind.REPLY, channel=TicketChannel.EMAIL, body="try again", email_message_id=reply_id
    )
    threaded = _pipe(raw("thunderbird_reply.eml", ticket, reply_id))
    assert threaded.returncode == 0 and threaded.stdout.decode().strip() == f"added to {ticket.reference}"
    bounced = _pipe(raw("bounce.eml"))
    assert bounced.returncode == 0
    assert bounced.stdout.decode().startswith("refused: automatic mail")
    assert Ticket.objects.count() == 1 and _driver_messages(ticket) == 2
    empty = _pipe(b"")
    assert empty.returncode != 0 and b"no mail" in empty.stderr


# --- Mailgun's inbound webhook (anymail) ----------------------------------------------------

SIGNING_KEY = "key-test-" + "9" * 24


def _mailgun_post(server, data: bytes, *, key: str = SIGNING_KEY, recipient: str = "support@evops.example"):
    """POST what Mailgun's forward() route sends to a URL: the raw MIME and a signature."""
    timestamp = str(int(time.time()))
    token = uuid.uuid4().hex * 2
    signature = hmac.new(key.encode(), (timestamp + token).encode(), hashlib.sha256).hexdigest()
    boundary = uuid.uuid4().hex
    fields = {
        "recipient": recipient,
        "sender": ANN,
        "from": f"Ann Driver <{ANN}>",
        "subject": "x",
        "timestamp": timestamp,
        "token": token,
        "signature": signature,
    }
    body = b""
    for name, value in fields.items():
        body += f'--{boundary}\r\nContent-Disposition: form-data; name="{name}"\r\n\r\n{value}\r\n'.encode()
    body += f'--{boundary}\r\nContent-Disposition: form-data; name="body-mime"\r\n\r\n'.encode() + data + b"\r\n"
    body += f"--{boundary}--\r\n".encode()
    request = urllib.request.Request(
        f"{server.http}/support/inbound/mailgun/",
        data=body,
        headers={"Content-Type": f"multipart/form-data; boundary={boundary}"},
        method="POST",
    )
    try:
        with urllib.request.urlopen(request, timeout=20) as response:  # noqa: S310 (loopback)
            return response.status
    except urllib.error.HTTPError as exc:
        return exc.code


def test_mailgun_webhook_files_signed_mail_and_refuses_a_bad_signature(live_db):
    with run_server(MAILGUN_WEBHOOK_SIGNING_KEY=SIGNING_KEY) as server:
        assert _mailgun_post(server, raw("gmail_new.eml")) == 200
        ticket = Ticket.objects.get()
        assert ticket.channel == TicketChannel.EMAIL and ticket.requester.email == ANN
        reply_id = f"<{ticket.reference}.hook@evops.example>"
        TicketMessage.objects.create(
            ticket=ticket, kind=MessageKind.REPLY, channel="email", body="try again", email_message_id=reply_id
        )
        assert _mailgun_post(server, raw("apple_mail_reply.eml", ticket, reply_id)) == 200
        assert ticket.messages.filter(kind=MessageKind.DRIVER).count() == 2
        # The plus-address Mailgun reports as the envelope recipient threads too.
        plus = raw("gmail_new.eml").replace(b"new-gmail@", b"plus-hook@").replace(b"Subject: Charger", b"Subject: More")
        assert (
            _mailgun_post(server, plus, recipient=f"support+{ticket.reference.replace('-', '')}@evops.example") == 200
        )
        assert Ticket.objects.count() == 1 and ticket.messages.filter(kind=MessageKind.DRIVER).count() == 3
        # Loops are answered 200 (Mailgun would retry anything else) and filed nowhere.
        assert _mailgun_post(server, raw("bounce.eml")) == 200
        forged = raw("gmail_new.eml").replace(b"new-gmail@", b"forged@")
        assert _mailgun_post(server, forged, key="key-not-ours-000000000000000000") == 400
        assert _driver_messages(ticket) == 3 and Ticket.objects.count() == 1


def test_without_a_signing_key_there_is_no_webhook(live_db):
    with run_server(MAILGUN_WEBHOOK_SIGNING_KEY="") as server:
        assert _mailgun_post(server, raw("gmail_new.eml")) == 404
    assert not Ticket.objects.exists()
