"""Channels in: a charger's public page (status, reports, watches), QR codes and sheets,
phone calls logged by agents, and tickets through the REST API."""

import asyncio
import io
import re
import socket
import time
import uuid
from datetime import timedelta

import pytest
import segno
from django.core import mail
from django.core.files.uploadedfile import SimpleUploadedFile
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone
from PIL import Image

from stations.models import StatusEvent
from stations.services import demo, status
from support.models import (
    AvailabilityWatch,
    ChargerPage,
    MessageKind,
    Ticket,
    TicketAttachment,
    TicketChannel,
    TicketStatus,
)
from support.services import charger_pages, qr, watches
from support.services.tickets import TicketRefused, ticket_message_add
from tests.conftest import run_server, run_worker
from tests.factories import STATION_PASSWORD, ConnectorFactory, SiteFactory, StationFactory
from tests.helpers import eventually
from tests.ocpp_client import booted


@pytest.fixture(autouse=True)
def own_counters(settings):
    """Rate-limit counters of this test only, on the real Redis cache."""
    cache = dict(settings.CACHES["default"])
    cache["KEY_PREFIX"] = f"{settings.CHANNEL_PREFIX}-t-{uuid.uuid4().hex[:10]}"
    settings.CACHES = {"default": cache}
    settings.SUPPORT_REPORT_RATE_PER_ADDRESS = "1000/h"
    settings.SUPPORT_REPORT_RATE_PER_CHARGER = "1000/h"


def _charger(identity="PUB-1", *, statuses=("Available",), connected=True):
    station = StationFactory(identity=identity, connected=connected)
    ConnectorFactory(station=station, connector_id=0)
    for number, value in enumerate(statuses, start=1):
        ConnectorFactory(station=station, connector_id=number, status=value)
    return station, charger_pages.charger_page_create(station=station)


def _png(size=(40, 30)) -> bytes:
    out = io.BytesIO()
    Image.new("RGB", size, (200, 30, 30)).save(out, format="PNG")
    return out.getvalue()


def _report(client, page, **fields):
    data = {"category": "wont_start", "description": "Screen says error, no charge.", "website": "", **fields}
    return client.post(reverse("charger:report", args=[page.code]), data)


# --- Pages and codes -------------------------------------------------------------------


@pytest.mark.django_db
def test_codes_are_short_unguessable_and_every_station_gets_one():
    stations = StationFactory.create_batch(3)
    assert charger_pages.charger_pages_create_missing() == 3
    assert charger_pages.charger_pages_create_missing() == 0
    codes = set(ChargerPage.objects.values_list("code", flat=True))
    assert len(codes) == 3
    for code in codes:
        assert re.fullmatch(r"[0-9A-HJKMNP-TV-Z]{10}", code)
    assert charger_pages.charger_page_create(station=stations[0]).code in codes


@pytest.mark.django_db
def test_demo_seeder_gives_the_demo_chargers_their_pages():
    StationFactory.create_batch(2)
    seeders = [s for s in demo.demo_seeders() if s is charger_pages.demo_charger_pages_seed]
    assert seeders, "support registers its demo seeder"
    seeders[0](password="x", log=lambda line: None)
    assert ChargerPage.objects.count() == 2


@pytest.mark.django_db
def test_public_page_shows_status_per_connector_and_never_error_codes(client):
    station, page = _charger(statuses=("Faulted", "Charging", "Available"))
    station.connectors.filter(connector_id=1).update(
        error_code="GroundFailure", vendor_error_code="CX026", info="relay welded"
    )
    response = client.get(reverse("charger:page", args=[page.code.lower()]))
    assert response.status_code == 200
    text = response.content.decode()
    for secret in ("GroundFailure", "CX026", "relay welded", "Faulted"):
        assert secret not in text
    assert re.search(r"Connector 1</span> <strong class=\"state\">Out of order", text)
    assert re.search(r"Connector 2</span> <strong class=\"state\">In use", text)
    assert re.search(r"Connector 3</span> <strong class=\"state\">Available", text)
    fragment = client.get(reverse("charger:status", args=[page.code])).content.decode()
    assert "Out of order" in fragment and "GroundFailure" not in fragment and "<html" not in fragment


@pytest.mark.django_db
def test_public_page_of_an_offline_charger_says_status_unknown(client):
    _, page = _charger(statuses=("Available",), connected=False)
    text = client.get(reverse("charger:page", args=[page.code])).content.decode()
    assert "Status unknown" in text and "not talking to us" in text
    assert "Tell me when it" in text  # nothing known to be free: the watch is offered


@pytest.mark.django_db
def test_unknown_or_malformed_code_is_404(client):
    _charger()
    for code in ("ZZZZZZZZZZ", "short", "IIIIIIIIII", "A" * 200):
        assert client.get(f"/c/{code}/").status_code == 404


@pytest.mark.django_db
def test_public_page_and_fragment_queries_do_not_grow_with_connectors(client):
    _, small = _charger("Q-1", statuses=("Available",))
    _, large = _charger("Q-2", statuses=("Available",) * 12)
    for name in ("charger:page", "charger:status"):
        counts = []
        for page in (small, large):
            with CaptureQueriesContext(connection) as ctx:
                assert client.get(reverse(name, args=[page.code])).status_code == 200
            counts.append(len(ctx.captured_queries))
        assert counts[0] == counts[1], name


# --- Report a problem --------------------------------------------------------------------


@pytest.mark.django_db
def test_report_creates_a_ticket_on_the_charger_and_answers_with_its_reference(client):
    station, page = _charger(statuses=("Faulted", "Available"))
    photo = SimpleUploadedFile("IMG_0042.HEIC.png", _png(), content_type="application/octet-stream")
    response = _report(
        client, page, connector="1", category="cable_stuck", name="Ann", email="Ann@Example.test", phone="+31 6 1234",
        photo=photo,
    )  # fmt: skip
    assert response.status_code == 200
    ticket = Ticket.objects.get()
    assert ticket.reference in response.content.decode()
    assert (ticket.channel, ticket.station, ticket.connector.connector_id) == (TicketChannel.QR_PAGE, station, 1)
    assert ticket.category == "cable_stuck" and ticket.priority == "p1"
    assert ticket.requester.email == "ann@example.test" and ticket.requester.phone == "+31 6 1234"
    message = ticket.messages.get()
    assert message.body == "Screen says error, no charge." and message.kind == MessageKind.DRIVER
    attachment = TicketAttachment.objects.get(message=message)
    assert (attachment.filename, attachment.content_type) == ("photo.png", "image/png")
    assert attachment.file.read() == _png()


@pytest.mark.django_db
def test_bad_report_is_400_in_the_page_with_everything_typed_kept(client):
    _, page = _charger()
    long_text = "x" * 5001
    response = _report(client, page, description=long_text, email="not-an-address", name="Bob <b>", phone="call me")
    assert response.status_code == 400
    text = response.content.decode()
    assert "Not sent yet" in text
    assert "Ensure this value has at most 5000 characters" in text
    assert "Enter a valid email address" in text and "Enter a phone number" in text
    assert long_text in text and 'value="not-an-address"' in text and 'value="Bob &lt;b&gt;"' in text
    assert 'value="call me"' in text and '<option value="wont_start" selected>' in text
    assert not Ticket.objects.exists()


@pytest.mark.django_db
@pytest.mark.parametrize(
    "name, content, message",
    [
        ("charger.jpg", b"#!/bin/sh\necho not a picture\n", "must be a JPEG, PNG or WebP"),
        ("photo.gif", b"GIF89a\x01\x00\x01\x00\x80\x00\x00\x00\x00\x00\xff\xff\xff!\xf9\x04\x01\x00\x00\x00\x00,"
         b"\x00\x00\x00\x00\x01\x00\x01\x00\x00\x02\x02D\x01\x00;", "must be a JPEG, PNG or WebP"),
    ],
)  # fmt: skip
def test_a_photo_is_checked_by_what_it_holds(client, name, content, message):
    _, page = _charger()
    response = _report(client, page, photo=SimpleUploadedFile(name, content, content_type="image/jpeg"))
    assert response.status_code == 400
    assert message in response.content.decode()
    assert not Ticket.objects.exists()


@pytest.mark.django_db
def test_an_oversized_photo_is_refused(client, settings):
    settings.SUPPORT_PHOTO_MAX_BYTES = 2048
    _, page = _charger()
    big = _png((600, 600))
    assert len(big) > 2048
    response = _report(client, page, photo=SimpleUploadedFile("p.png", big, content_type="image/png"))
    assert response.status_code == 400 and "larger than" in response.content.decode()


@pytest.mark.django_db
def test_honeypot_files_nothing_and_thanks_the_bot_like_a_person(client):
    _, page = _charger()
    response = _report(client, page, website="http://spam.example")
    assert response.status_code == 200 and "Thank you" in response.content.decode()
    assert not Ticket.objects.exists()


@pytest.mark.django_db
def test_reports_are_limited_per_client_address(client, settings):
    settings.SUPPORT_REPORT_RATE_PER_ADDRESS = "2/h"
    _, page = _charger()
    _, other = _charger("PUB-2")
    assert _report(client, page).status_code == 200
    assert _report(client, other).status_code == 200
    limited = _report(client, page)
    assert limited.status_code == 429 and limited["Retry-After"]
    assert "Too many reports" in limited.content.decode()
    assert Ticket.objects.count() == 2
    # Another address is still heard.
    response = client.post(
        reverse("charger:report", args=[page.code]),
        {"category": "other", "description": "hello"},
        REMOTE_ADDR="192.0.2.7",
    )
    assert response.status_code == 200


@pytest.mark.django_db
def test_reports_are_limited_per_charger_whatever_the_address(client, settings):
    settings.SUPPORT_REPORT_RATE_PER_CHARGER = "2/h"
    _, page = _charger()
    for n in range(2):
        ok = client.post(
            reverse("charger:report", args=[page.code]), {"category": "other", "description": "x"},
            REMOTE_ADDR=f"192.0.2.{n + 10}",
        )  # fmt: skip
        assert ok.status_code == 200
    limited = client.post(
        reverse("charger:report", args=[page.code]), {"category": "other", "description": "x"}, REMOTE_ADDR="192.0.2.99"
    )
    assert limited.status_code == 429


# --- Tell me when it's available ----------------------------------------------------------


@pytest.mark.django_db
def test_watch_is_offered_only_when_nothing_is_free(client):
    _, free = _charger("W-1", statuses=("Available", "Charging"))
    assert "Tell me when it" not in client.get(reverse("charger:page", args=[free.code])).content.decode()
    response = client.post(reverse("charger:watch", args=[free.code]), {"watch_email": "a@example.test"})
    assert response.status_code == 400 and "available now" in response.content.decode()
    _, busy = _charger("W-2", statuses=("Charging", "Faulted"))
    response = client.post(reverse("charger:watch", args=[busy.code]), {"watch_email": "A@example.test"})
    assert response.status_code == 200 and "We will email a@example.test once" in response.content.decode()
    client.post(reverse("charger:watch", args=[busy.code]), {"watch_email": "a@example.test"})
    assert AvailabilityWatch.objects.filter(station=busy.station).count() == 1
    bad = client.post(reverse("charger:watch", args=[busy.code]), {"watch_email": "nope"})
    assert bad.status_code == 400 and 'value="nope"' in bad.content.decode()


@pytest.mark.django_db
def test_watch_mails_once_on_available_and_never_after_expiry(django_capture_on_commit_callbacks):
    station, _ = _charger("W-3", statuses=("Charging",))
    watches.availability_watch_create(station=station, email="ann@example.test")
    late = watches.availability_watch_create(station=station, email="late@example.test")
    AvailabilityWatch.objects.filter(pk=late.pk).update(expires_at=timezone.now() - timedelta(minutes=1))
    with django_capture_on_commit_callbacks(execute=True):
        status.connector_status_report(station_id=station.pk, connector_id=1, status="Finishing", error_code="NoError")
    assert mail.outbox == []
    with django_capture_on_commit_callbacks(execute=True):
        status.connector_status_report(station_id=station.pk, connector_id=1, status="Available", error_code="NoError")
    assert [m.to for m in mail.outbox] == [["ann@example.test"]]
    assert "W-3" in mail.outbox[0].subject
    event = StatusEvent.objects.filter(station=station, status="Available").latest("id")
    assert watches.status_event_handle(event_id=event.pk) == 0  # told once
    with pytest.raises(TicketRefused):
        watches.availability_watch_create(station=station, email="x@example.test")  # free now


def _smtp_server():
    from aiosmtpd.controller import Controller
    from aiosmtpd.handlers import Message

    received = []

    class Keep(Message):
        def handle_message(self, message):
            received.append(message)

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    controller = Controller(Keep(), hostname="127.0.0.1", port=port)
    controller.start()
    return controller, port, received


@pytest.mark.timeout(90)
def test_watch_mail_goes_out_once_when_a_real_charger_reports_available(live_db, ocpp_server):
    station, page = _charger("WATCH-WS", statuses=("Charging",))
    watches.availability_watch_create(station=station, email="driver@example.test")
    controller, port, received = _smtp_server()
    try:
        with run_worker(
            EMAIL_BACKEND="django.core.mail.backends.smtp.EmailBackend", EMAIL_HOST="127.0.0.1", EMAIL_PORT=str(port)
        ):

            async def charger():
                ctx, cp = await booted(ocpp_server.url, "WATCH-WS", STATION_PASSWORD)
                try:
                    for value in ("Finishing", "Available", "Charging", "Available"):
                        await cp.result(
                            "StatusNotification", {"connectorId": 1, "status": value, "errorCode": "NoError"}
                        )
                finally:
                    await ctx.__aexit__(None, None, None)

            asyncio.run(charger())
            assert eventually(lambda: received, timeout=30)
            assert eventually(lambda: AvailabilityWatch.objects.filter(notified_at__isnull=False).exists())
            # Both Available reports were handled; the second told nobody.
            assert eventually(lambda: StatusEvent.objects.filter(station=station, status="Available").count() == 2)
            time.sleep(1.5)  # the second report's task has run too: still one mail
    finally:
        controller.stop()
    assert len(received) == 1
    assert received[0]["To"] == "driver@example.test"
    assert "WATCH-WS is available again" in received[0]["Subject"]


# --- QR codes and sheets --------------------------------------------------------------------


@pytest.mark.django_db
def test_qr_svg_is_segnos_code_of_the_pages_exact_address(client, actors, settings):
    settings.PUBLIC_BASE_URL = "https://charge.example.test"
    station, page = _charger("QR-1")
    client.force_login(actors.operator)
    response = client.get(reverse("support:qr-svg", args=["QR-1"]))
    assert response.status_code == 200 and response["Content-Type"] == "image/svg+xml"
    url = f"https://charge.example.test/c/{page.code}/"
    assert response.content == qr.qr_svg(url)
    # The same modules segno draws for that text, and no other text.
    expected = segno.make(url, error="m", micro=False)
    assert expected.designator.endswith("-M")
    assert f"<title>{url}</title>".encode() in response.content


@pytest.mark.django_db
def test_qr_address_comes_from_the_request_without_a_public_base(client, actors, settings):
    settings.PUBLIC_BASE_URL = ""
    _, page = _charger("QR-2")
    client.force_login(actors.operator)
    response = client.get(reverse("support:qr-svg", args=["QR-2"]), HTTP_HOST="portal.example.test")
    assert response.content == qr.qr_svg(f"http://portal.example.test/c/{page.code}/")


@pytest.mark.django_db
def test_sheet_shows_each_chargers_code_identity_and_short_address(client, actors, settings):
    settings.PUBLIC_BASE_URL = "https://charge.example.test"
    site = SiteFactory(name="Harbour Street")
    pages = []
    for n in range(3):
        station = StationFactory(identity=f"HS-{n}", site=site)
        pages.append(charger_pages.charger_page_create(station=station))
    StationFactory(identity="HS-NOPAGE", site=site)
    StationFactory(identity="ELSEWHERE")
    client.force_login(actors.operator)
    text = client.get(reverse("support:qr-sheet", args=[site.pk])).content.decode()
    for n, page in enumerate(pages):
        assert f'<p class="identity">HS-{n}</p>' in text
        assert f'<p class="address">charge.example.test/c/{page.code}</p>' in text
        assert reverse("support:qr-svg", args=[f"HS-{n}"]) in text
    assert "ELSEWHERE" not in text and "1 charger here has no page yet" in text
    index = client.get(reverse("support:qr-sites")).content.decode()
    assert "Harbour Street" in index
    response = client.post(reverse("support:qr-pages-create"))
    assert response.status_code == 302 and ChargerPage.objects.count() == 5


@pytest.mark.django_db
def test_sheet_and_index_queries_do_not_grow_with_chargers(client, actors):
    client.force_login(actors.operator)
    site = SiteFactory()
    counts = []
    for batch in (1, 30):
        for _ in range(batch):
            charger_pages.charger_page_create(station=StationFactory(site=site))
            SiteFactory()
        for name, args in (("support:qr-sheet", [site.pk]), ("support:qr-sites", [])):
            with CaptureQueriesContext(connection) as ctx:
                assert client.get(reverse(name, args=args)).status_code == 200
            counts.append((name, len(ctx.captured_queries)))
    assert counts[:2] == counts[2:]


@pytest.mark.django_db
def test_qr_pages_are_for_operators_only(client, actors):
    _, page = _charger("QR-3")
    urls = [
        reverse("support:qr-sites"),
        reverse("support:qr-sheet", args=[0]),
        reverse("support:qr-svg", args=["QR-3"]),
    ]
    for user in (actors.support, actors.technician, actors.dispatcher, actors.outsider):
        client.force_login(user)
        for url in urls:
            assert client.get(url).status_code == 403, (user.username, url)
        assert client.post(reverse("support:qr-pages-create")).status_code == 403
    client.logout()
    assert client.get(urls[0]).status_code == 302


# --- Phone ------------------------------------------------------------------------------------


@pytest.mark.django_db
def test_agent_logs_a_call_from_the_station_page(client, actors):
    station, _ = _charger("CALL-1", statuses=("Faulted", "Available"))
    client.force_login(actors.support)
    station_page = client.get(reverse("stations:station-detail", args=["CALL-1"])).content.decode()
    link = reverse("support:call-log") + "?station=CALL-1"
    assert f'href="{link}"' in station_page
    form = client.get(link).content.decode()
    assert 'name="station" value="CALL-1"' in form
    response = client.post(
        reverse("support:call-log"),
        {"station": "CALL-1", "connector": "1", "name": "Carl", "phone": "+44 20 7946 0000", "category": "wont_start",
         "priority": "p2", "summary": "Card refused twice\nasked to try the app"},
    )  # fmt: skip
    assert response.status_code in (200, 302)
    ticket = Ticket.objects.get()
    assert (ticket.channel, ticket.station, ticket.connector.connector_id) == (TicketChannel.PHONE, station, 1)
    assert ticket.priority == "p2" and ticket.subject == "Call: Card refused twice"
    assert ticket.requester.name == "Carl" and ticket.messages.get().author == actors.support
    assert ticket.events.get(kind="created").by == actors.support


@pytest.mark.django_db
def test_a_call_solved_on_the_line_is_resolved_at_first_contact(client, actors):
    client.force_login(actors.support)
    client.post(
        reverse("support:call-log"),
        {"email": "dee@example.test", "category": "payment", "priority": "p3", "summary": "Price?", "solved": "on"},
    )
    ticket = Ticket.objects.get()
    assert ticket.status == TicketStatus.RESOLVED and ticket.resolved_in_first_contact
    assert ticket.events.filter(kind="status", to_status="resolved", by=actors.support).exists()


@pytest.mark.django_db
def test_bad_call_form_is_400_with_what_was_typed(client, actors):
    client.force_login(actors.support)
    response = client.post(
        reverse("support:call-log"),
        {"station": "NO-SUCH", "connector": "3", "name": "Eve", "category": "other", "priority": "p3", "summary": ""},
    )
    assert response.status_code == 400
    text = response.content.decode()
    assert "No charger is called" in text and "This field is required" in text
    assert 'value="NO-SUCH"' in text and 'value="Eve"' in text
    _charger("CALL-2", statuses=("Available",))
    response = client.post(
        reverse("support:call-log"),
        {"station": "CALL-2", "connector": "5", "category": "other", "priority": "p3", "summary": "x"},
    )
    assert response.status_code == 400 and "has no connector 5" in response.content.decode()
    assert not Ticket.objects.exists()


@pytest.mark.django_db
def test_only_agents_and_operators_log_calls(client, actors):
    _charger("CALL-3")
    for user in (actors.technician, actors.dispatcher, actors.outsider):
        client.force_login(user)
        assert client.get(reverse("support:call-log")).status_code == 403
        assert client.post(reverse("support:call-log"), {"summary": "x"}).status_code == 403
    client.force_login(actors.dispatcher)
    page = client.get(reverse("stations:station-detail", args=["CALL-3"])).content.decode()
    assert "Log a call" not in page
    client.force_login(actors.operator)
    assert client.get(reverse("support:call-log")).status_code == 200


# --- API ----------------------------------------------------------------------------------------


@pytest.mark.django_db
def test_api_creates_a_ticket_and_shows_it_with_its_messages(client, actors):
    station, _ = _charger("API-1", statuses=("Faulted",))
    client.force_login(actors.support)
    response = client.post(
        "/api/tickets/",
        {"body": "Stopped after 2 minutes", "category": "stopped_early", "station": "API-1", "connector_id": 1,
         "email": "fay@example.test"},
        content_type="application/json",
    )  # fmt: skip
    assert response.status_code == 201, response.content
    body = response.json()
    assert (body["channel"], body["status"], body["category"]) == ("api", "new", "stopped_early")
    assert body["station"] == "API-1" and body["connector_id"] == 1 and body["reference"].startswith("T-")
    assert [m["body"] for m in body["messages"]] == ["Stopped after 2 minutes"]
    ticket = Ticket.objects.get()
    ticket_message_add(ticket=ticket, kind=MessageKind.NOTE, body="driver called before", channel="phone")
    client.force_login(actors.operator)
    detail = client.get(f"/api/tickets/{ticket.pk}/").json()
    assert [m["kind"] for m in detail["messages"]] == ["driver", "note"]  # those who work tickets see notes


@pytest.mark.django_db
def test_api_never_shows_internal_notes_to_who_does_not_work_tickets(client, actors):
    """A reader with the view permission alone (an app's token, say) gets the conversation without notes."""
    from django.contrib.auth.models import Permission

    from tests.factories import UserFactory

    reader = UserFactory(username="app-reader")
    reader.user_permissions.add(Permission.objects.get(content_type__app_label="support", codename="view_ticket"))
    client.force_login(actors.operator)
    client.post("/api/tickets/", {"body": "Stopped"}, content_type="application/json")
    ticket = Ticket.objects.get()
    ticket_message_add(ticket=ticket, kind=MessageKind.NOTE, body="internal: refund likely", channel="phone")
    ticket_message_add(ticket=ticket, kind=MessageKind.REPLY, body="We are on it", channel="api")
    client.force_login(reader)
    detail = client.get(f"/api/tickets/{ticket.pk}/").json()
    assert "internal" not in str(detail)
    assert [m["kind"] for m in detail["messages"] if m["kind"] != "system"] == ["driver", "reply"]


@pytest.mark.django_db
def test_api_create_refuses_bad_input_with_what_is_wrong(client, actors):
    _charger("API-2")
    client.force_login(actors.support)
    cases = [
        ({"body": ""}, "body"),
        ({"body": "x", "station": "NOPE"}, "station"),
        ({"body": "x", "connector_id": 1}, "connector_id"),
        ({"body": "x", "station": "API-2", "connector_id": 9}, "non_field_errors"),
        ({"body": "x", "category": "bogus"}, "category"),
        ({"body": "x" * 5001}, "body"),
    ]
    for payload, field in cases:
        response = client.post("/api/tickets/", payload, content_type="application/json")
        assert response.status_code == 400 and field in response.json(), (payload, response.content)
    assert not Ticket.objects.exists()


@pytest.mark.django_db
def test_api_filters_by_station_channel_and_status(client, actors):
    _charger("F-1")
    _charger("F-2")
    client.force_login(actors.operator)
    for identity in ("F-1", "F-1", "F-2"):
        client.post("/api/tickets/", {"body": "x", "station": identity}, content_type="application/json")
    client.post(reverse("support:call-log"), {"station": "F-1", "category": "other", "priority": "p3",
                                               "summary": "call", "solved": "on"})  # fmt: skip

    def ids(query):
        return sorted(t["station"] + ":" + t["channel"] for t in client.get(f"/api/tickets/?{query}").json()["results"])

    assert ids("station=F-1") == ["F-1:api", "F-1:api", "F-1:phone"]
    assert ids("station=F-1&channel=phone") == ["F-1:phone"]
    assert ids("status=resolved") == ["F-1:phone"]
    assert ids("status=new&station=F-2") == ["F-2:api"]
    assert client.get("/api/tickets/?status=bogus").status_code == 400


@pytest.mark.django_db
def test_api_ticket_list_queries_do_not_grow(client, actors):
    client.force_login(actors.operator)
    counts = []
    for batch in (1, 20):
        for _ in range(batch):
            client.post("/api/tickets/", {"body": "x", "email": "g@example.test"}, content_type="application/json")
        with CaptureQueriesContext(connection) as ctx:
            assert client.get("/api/tickets/").status_code == 200
        counts.append(len(ctx.captured_queries))
    assert counts[0] == counts[1]


@pytest.mark.django_db
def test_tickets_api_is_closed_to_technicians_dispatchers_and_outsiders(client, actors):
    client.force_login(actors.operator)
    client.post("/api/tickets/", {"body": "x"}, content_type="application/json")
    ticket = Ticket.objects.get()
    for user in (actors.technician, actors.dispatcher, actors.outsider):
        client.force_login(user)
        assert client.get("/api/tickets/").status_code == 403
        assert client.get(f"/api/tickets/{ticket.pk}/").status_code == 403
        assert client.post("/api/tickets/", {"body": "x"}, content_type="application/json").status_code == 403
    client.logout()
    assert client.get("/api/tickets/").status_code in (401, 403)
    client.force_login(actors.support)
    assert client.get("/api/tickets/").status_code == 200


@pytest.mark.django_db
def test_station_api_shows_the_public_page_address(client, actors, settings):
    settings.PUBLIC_BASE_URL = "https://charge.example.test/"
    _, page = _charger("URL-1")
    StationFactory(identity="URL-2")
    client.force_login(actors.operator)
    detail = client.get("/api/stations/URL-1/").json()
    assert detail["public_url"] == f"https://charge.example.test/c/{page.code}/"
    listed = {s["identity"]: s["public_url"] for s in client.get("/api/stations/").json()["results"]}
    assert listed == {"URL-1": f"https://charge.example.test/c/{page.code}/", "URL-2": None}


@pytest.mark.django_db
def test_station_api_list_keeps_its_query_count_with_public_urls(client, actors):
    client.force_login(actors.operator)
    counts = []
    for batch in (1, 15):
        for _ in range(batch):
            charger_pages.charger_page_create(station=StationFactory())
        with CaptureQueriesContext(connection) as ctx:
            assert client.get("/api/stations/").status_code == 200
        counts.append(len(ctx.captured_queries))
    assert counts[0] == counts[1]


def test_public_server_answers_the_page_over_http(live_db):
    """The page through the real server process: the address in its answer is the one the QR code holds."""
    import urllib.request

    _, page = _charger("HTTP-1")
    with run_server(PUBLIC_BASE_URL="") as server:
        with urllib.request.urlopen(f"{server.http}/c/{page.code}/") as response:  # noqa: S310 (loopback)
            text = response.read().decode()
            csp = response.headers["Content-Security-Policy"]
    assert "Charger HTTP-1" in text and "'unsafe-inline'" not in csp
