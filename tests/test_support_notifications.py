"""Telling drivers: mail through a real SMTP server on loopback, threaded so the
driver's answer comes back to the ticket; the rating links; the signed follow link."""

import re
import time

import pytest
from django.core import signing
from django.test import TestCase
from django.urls import reverse

from support.models import MessageKind, Satisfaction, Ticket, TicketChannel, TicketEvent, TicketMessage, TicketStatus
from support.services import links, notifications
from support.services.tickets import driver_find_or_create, ticket_create, ticket_message_add, ticket_move
from tests.factories import StationFactory, UserFactory

pytestmark = pytest.mark.django_db


def after_commit():
    """Run what the services leave for after commit (hooks, mail tasks) as the test's
    transaction never commits; callbacks those add run too."""
    return TestCase.captureOnCommitCallbacks(execute=True)


def move(**kwargs):
    with after_commit():
        return ticket_move(**kwargs)


def add(**kwargs):
    with after_commit():
        return ticket_message_add(**kwargs)


@pytest.fixture
def mail(settings, smtp):
    smtp.configure(settings)
    settings.SUPPORT_FROM_EMAIL = "Driver support <support@evops.test>"
    settings.SUPPORT_PUBLIC_URL = "http://drivers.evops.test"
    return smtp


def _ticket(email="ann@example.com", body="The cable will not come out", station=None) -> Ticket:
    station = station or StationFactory(identity="MAIL-01")
    with after_commit():
        return ticket_create(
            channel=TicketChannel.QR_PAGE,
            subject="Cable stuck",
            body=body,
            requester=driver_find_or_create(name="Ann", email=email) if email else None,
            station=station,
        )


def _path(url: str) -> str:
    assert url.startswith("http://drivers.evops.test/"), url
    return url[len("http://drivers.evops.test") :]


def _text(message) -> str:
    return message.get_body(preferencelist=("plain",)).get_content()


def test_new_ticket_mails_the_driver_with_its_reference_and_our_message_id(mail, client):
    ticket = _ticket()

    [sent] = mail.wait_for(1)

    assert sent["To"] == "ann@example.com"
    assert sent["Subject"] == f"[{ticket.reference}] We have your request: Cable stuck"
    assert sent["Auto-Submitted"] == "auto-generated"
    record = TicketMessage.objects.get(ticket=ticket, kind=MessageKind.SYSTEM)
    assert sent["Message-ID"] == record.email_message_id != ""
    ticket.refresh_from_db()
    assert ticket.email_thread_id == record.email_message_id  # the first mail roots the thread
    assert sent["Reply-To"] == f"support+T{ticket.pk:06d}@evops.test"
    follow = re.search(r"http://drivers\.evops\.test/support/t/\S+/", _text(sent)).group(0)
    assert client.get(_path(follow)).status_code == 200
    assert sent.get_body(preferencelist=("html",)) is not None


def test_replies_and_resolution_thread_to_the_first_mail_and_notes_are_not_mailed(mail):
    agent = UserFactory(username="sam-mail", first_name="Sam")
    ticket = _ticket()
    [first] = mail.wait_for(1)
    root = first["Message-ID"]

    add(ticket=ticket, kind=MessageKind.NOTE, body="internal: driver is grumpy", channel="email", author=agent)
    reply = add(ticket=ticket, kind=MessageKind.REPLY, body="We are unlocking it now.", channel="email", author=agent)
    second = mail.wait_for(2)[1]
    ticket.refresh_from_db()
    move(ticket=ticket, to=TicketStatus.RESOLVED, by=agent, reason="unlocked")
    third = mail.wait_for(3)[2]

    reply.refresh_from_db()
    assert second["Subject"] == f"Re: [{ticket.reference}] Cable stuck"
    assert second["Message-ID"] == reply.email_message_id
    assert second["In-Reply-To"] == root
    assert second["References"] == root
    assert "We are unlocking it now." in _text(second) and "Sam" in _text(second)
    assert "Auto-Submitted" not in second

    assert third["Subject"] == f"[{ticket.reference}] Resolved: Cable stuck"
    assert third["In-Reply-To"] == reply.email_message_id
    assert third["References"].split() == [root, reply.email_message_id]
    body = _text(third)
    assert f"/rate/{Satisfaction.GOOD}/" in body and f"/rate/{Satisfaction.BAD}/" in body
    time.sleep(0.3)
    assert len(mail.messages) == 3  # the note was never mailed
    assert all("grumpy" not in _text(m) for m in mail.messages)


def test_a_mail_task_run_again_sends_nothing(mail):
    ticket = _ticket()
    mail.wait_for(1)
    record = TicketMessage.objects.get(ticket=ticket, kind=MessageKind.SYSTEM)

    again = notifications.driver_mail_send(message_id=record.pk, mail=notifications.DriverMail.CREATED)

    assert again is False
    time.sleep(0.3)
    assert len(mail.messages) == 1
    assert TicketEvent.objects.filter(ticket=ticket, kind="driver_mailed").count() == 1


def test_a_failed_send_gives_its_claim_back_for_the_retry(mail, settings):
    ticket = _ticket(email="")  # nothing mailed at creation
    ticket.requester = driver_find_or_create(email="bo@example.com")
    ticket.save(update_fields=["requester"])
    reply = TicketMessage.objects.create(ticket=ticket, kind=MessageKind.REPLY, channel="email", body="Try again now")
    settings.EMAIL_PORT = mail.port + 1 if mail.port < 65535 else mail.port - 1  # nobody listens there

    with pytest.raises(OSError):
        notifications.driver_mail_send(message_id=reply.pk, mail=notifications.DriverMail.REPLY)
    reply.refresh_from_db()
    assert reply.email_message_id == ""

    settings.EMAIL_PORT = mail.port
    assert notifications.driver_mail_send(message_id=reply.pk, mail=notifications.DriverMail.REPLY) is True
    [sent] = mail.wait_for(1)
    reply.refresh_from_db()
    assert sent["Message-ID"] == reply.email_message_id != ""


def test_rating_links_store_good_or_bad_once_and_then_a_comment(mail, client):
    ticket = _ticket()
    move(ticket=ticket, to=TicketStatus.RESOLVED, by=None, reason="fixed")
    resolved = mail.wait_for(2)[1]
    good = re.search(r"http://\S+/rate/good/", _text(resolved)).group(0)
    bad = re.search(r"http://\S+/rate/bad/", _text(resolved)).group(0)

    assert client.get(_path(bad)).status_code == 200
    assert client.get(_path(good)).status_code == 200  # the second click changes nothing
    ticket.refresh_from_db()
    assert ticket.satisfaction == Satisfaction.BAD and ticket.satisfaction_at is not None

    too_long = client.post(_path(bad), {"comment": "x" * 2001})
    assert too_long.status_code == 400 and "x" * 2001 in too_long.content.decode()
    assert client.post(_path(bad), {"comment": "Took <b>two</b> hours"}).status_code == 200
    assert client.post(_path(bad), {"comment": "changed my mind"}).status_code == 400
    ticket.refresh_from_db()
    assert ticket.satisfaction_comment == "Took <b>two</b> hours"
    assert list(TicketEvent.objects.filter(ticket=ticket, kind="rated").values_list("detail", flat=True)) == [
        {"rating": "bad"}
    ]


def test_a_ticket_not_resolved_cannot_be_rated(client):
    ticket = _ticket(email="")
    response = client.get(reverse("support:rate", args=[links.follow_token(ticket), "good"]))
    assert response.status_code == 409
    ticket.refresh_from_db()
    assert ticket.satisfaction == ""


def test_follow_link_shows_only_its_ticket_and_never_notes(client):
    agent = UserFactory(username="sam-follow")
    mine = _ticket(email="", body="My card was charged twice")
    other = _ticket(email="", body="Someone else's problem", station=StationFactory(identity="MAIL-02"))
    add(ticket=mine, kind=MessageKind.NOTE, body="NOTE: refund over limit", channel="email", author=agent)
    add(ticket=mine, kind=MessageKind.REPLY, body="We refunded one charge.", channel="email", author=agent)

    page = client.get(links.follow_path(mine)).content.decode()

    assert "My card was charged twice" in page and "We refunded one charge." in page
    assert "refund over limit" not in page
    assert "Someone else" not in page and other.reference not in page


@pytest.mark.parametrize(
    "forge",
    [
        lambda t: links.follow_token(t)[:-2] + ("AA" if not links.follow_token(t).endswith("AA") else "BB"),
        # A valid signature under another salt, naming this ticket.
        lambda t: signing.dumps([t.pk, int(t.created_at.timestamp())], salt="support.other"),
        # The right salt, but a ticket that is not the one it was made for (an id reused).
        lambda t: signing.dumps([t.pk, int(t.created_at.timestamp()) - 1], salt=links.FOLLOW_SALT),
        lambda t: "x" * 300,
    ],
)
def test_tampered_or_foreign_tokens_are_404(client, forge):
    ticket = _ticket(email="")
    assert client.get(links.follow_path(ticket)).status_code == 200
    assert client.get(f"/support/t/{forge(ticket)}/").status_code == 404


def test_another_tickets_token_opens_that_ticket_only(client):
    first = _ticket(email="", body="first problem")
    second = _ticket(email="", body="second problem", station=StationFactory(identity="MAIL-03"))
    token = links.follow_token(second)
    assert token != links.follow_token(first)
    page = client.get(f"/support/t/{token}/").content.decode()
    assert "second problem" in page and "first problem" not in page


def test_the_driver_replies_through_the_link_and_a_resolved_ticket_reopens(client, mail):
    ticket = _ticket()
    move(ticket=ticket, to=TicketStatus.RESOLVED, by=None, reason="fixed")
    path = links.follow_path(ticket)

    empty = client.post(path, {"body": "   "})
    too_long = client.post(path, {"body": "y" * 5001})
    sent = client.post(path, {"body": "Still stuck <script>alert(1)</script>"})

    assert empty.status_code == 400
    assert too_long.status_code == 400 and "y" * 5001 in too_long.content.decode()
    assert sent.status_code == 302
    message = TicketMessage.objects.filter(ticket=ticket, kind=MessageKind.DRIVER).latest("id")
    assert message.body == "Still stuck <script>alert(1)</script>"
    ticket.refresh_from_db()
    assert ticket.status == TicketStatus.OPEN
    page = client.get(sent["Location"]).content.decode()
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page and "<script>alert(1)" not in page


def test_a_closed_ticket_takes_no_reply_through_the_link(client):
    ticket = _ticket(email="")
    move(ticket=ticket, to=TicketStatus.CLOSED, by=None, reason="done")
    response = client.post(links.follow_path(ticket), {"body": "hello?"})
    assert response.status_code == 400
    assert "hello?" in response.content.decode()
    assert not TicketMessage.objects.filter(ticket=ticket, body="hello?").exists()


def test_a_report_from_the_chargers_page_links_to_its_follow_page(client):
    from support.services.charger_pages import charger_page_create

    page = charger_page_create(station=StationFactory(identity="MAIL-04"))
    reported = client.post(
        f"/c/{page.code}/report/", {"category": "wont_start", "description": "Screen is black", "website": ""}
    )

    assert reported.status_code == 200, reported.content
    follow = re.search(r'href="(/support/t/[^"]+/)"', reported.content.decode()).group(1)
    assert "Screen is black" in client.get(follow).content.decode()
