"""The agent's console: the queue, working a ticket beside its charger, finding a driver.

Pages through Django's test client on the real database; every charger action
against a real charger over a real websocket (BackgroundCharger and the test
server process).
"""

from datetime import UTC, datetime, timedelta
from decimal import Decimal as D

import pytest
from django.contrib.auth.models import Group
from django.core.files.base import ContentFile
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from billing.models import Account, AccountStatus, AccountTag, Funding, RefundLimit
from billing.services import payments, sessions, tariffs
from config import roles
from stations.models import ChargingSession, CommandStatus, FrameLog, IdTag, IdTagStatus
from support.models import (
    Driver,
    Macro,
    MessageKind,
    Ticket,
    TicketAction,
    TicketAttachment,
    TicketEvent,
    TicketStatus,
)
from support.services import sla, tickets, troubleshooting
from tests.factories import STATION_PASSWORD, ConnectorFactory, IncidentFactory, SiteFactory, StationFactory
from tests.helpers import eventually
from tests.ocpp_client import BackgroundCharger
from workorders.models import IncidentStep, WorkOrder, WorkOrderPhoto

D0 = datetime(2026, 11, 10, 8, 0, tzinfo=UTC)


class Desk:
    """A charger with one connector, a driver with a tag, and their ticket."""

    def __init__(self, identity="DESK-1", tag="DRV-1"):
        sla.sla_defaults_seed()
        troubleshooting.troubleshooting_defaults_seed()
        self.site = SiteFactory(name=f"Site of {identity}")
        self.station = StationFactory(identity=identity, site=self.site, vendor="Acme")
        ConnectorFactory(station=self.station, connector_id=0)
        self.connector = ConnectorFactory(station=self.station, connector_id=1, status="Available")
        self.tag = IdTag.objects.create(id_tag=tag)
        self.driver = Driver.objects.create(name="Ada Lovelace", email="ada@example.test", phone="+31612345678")
        self.driver.id_tags.add(self.tag)
        self.ticket = tickets.ticket_create(
            channel="qr_page",
            subject="Will not start",
            body="I plugged in and nothing happens",
            category="wont_start",
            priority="p2",
            requester=self.driver,
            station=self.station,
            connector=self.connector,
        )

    @property
    def url(self) -> str:
        return reverse("support:ticket", args=[self.ticket.pk])

    def post(self, name: str) -> str:
        return reverse(f"support:{name}", args=[self.ticket.pk])


@pytest.fixture
def desk(db, actors):
    return Desk()


# --- Roles ------------------------------------------------------------------------------------

PAGES = ["queue", "queue-live", "ticket", "ticket-live", "driver-search", "reports"]


def _page_url(desk, name):
    return (
        reverse(f"support:{name}", args=[desk.ticket.pk]) if name.startswith("ticket") else reverse(f"support:{name}")
    )


@pytest.mark.parametrize("name", PAGES)
@pytest.mark.parametrize(
    ("who", "expected"),
    [("operator", 200), ("support", 200), ("technician", 403), ("dispatcher", 403), ("outsider", 403)],
)
def test_every_console_page_keeps_its_role_boundary(client, actors, desk, name, who, expected):
    if name == "reports" and who == "support":
        expected = 403  # reports are for operators (support.view_support_reports)
    client.force_login(getattr(actors, who))

    response = client.get(_page_url(desk, name))

    assert response.status_code == expected


@pytest.mark.parametrize("name", PAGES)
def test_anonymous_visitors_go_to_the_login_page(client, desk, name):
    response = client.get(_page_url(desk, name))

    assert response.status_code == 302 and response["Location"].startswith("/login/")


@pytest.mark.parametrize(
    "name", ["ticket-reply", "ticket-update", "ticket-command", "ticket-refund", "ticket-escalate"]
)
@pytest.mark.parametrize("who", ["technician", "dispatcher", "outsider"])
def test_nobody_outside_support_works_a_ticket(client, actors, desk, name, who):
    client.force_login(getattr(actors, who))

    response = client.post(desk.post(name), {"kind": "note", "body": "x", "note": "x"})

    assert response.status_code == 403
    assert not TicketEvent.objects.exclude(kind="created").exists()


def test_support_nav_entry_only_for_those_who_work_tickets(client, actors, desk):
    client.force_login(actors.support)
    assert 'href="/support/"' in client.get("/stations/").content.decode()
    client.force_login(actors.dispatcher)
    assert 'href="/support/"' not in client.get("/stations/").content.decode()


# --- The queue --------------------------------------------------------------------------------


def _queue_refs(client, **params) -> set[str]:
    response = client.get(reverse("support:queue"), params)
    assert response.status_code == 200
    return {ticket.reference for ticket, _ in response.context["rows"]}


def test_queue_filters(client, actors, desk):
    other = Desk("DESK-2", tag="DRV-2")
    mine = desk.ticket
    Ticket.objects.filter(pk=mine.pk).update(assignee=actors.support)
    chat = tickets.ticket_create(channel="chat", subject="Price?", body="too expensive", category="payment")
    late = other.ticket
    Ticket.objects.filter(pk=late.pk).update(first_response_due_at=timezone.now() - timedelta(minutes=5))
    done = tickets.ticket_create(channel="email", subject="Thanks", body="all good")
    tickets.ticket_move(ticket=done, to=TicketStatus.RESOLVED, by=None)
    client.force_login(actors.support)

    assert _queue_refs(client) == {mine.reference, chat.reference, late.reference}
    assert _queue_refs(client, mine="on") == {mine.reference}
    assert _queue_refs(client, unassigned="on") == {chat.reference, late.reference}
    assert _queue_refs(client, breaching="on") == {late.reference}
    assert _queue_refs(client, channel="chat") == {chat.reference}
    assert _queue_refs(client, category="payment") == {chat.reference}
    assert _queue_refs(client, site=str(other.site.pk)) == {late.reference}
    assert _queue_refs(client, status="resolved") == {done.reference}
    assert _queue_refs(client, q=late.reference) == {late.reference}


def test_queue_shows_the_sla_timers(client, actors, desk):
    Ticket.objects.filter(pk=desk.ticket.pk).update(
        first_response_due_at=timezone.now() + timedelta(minutes=10),
        resolution_due_at=timezone.now() + timedelta(hours=5),
    )
    client.force_login(actors.support)

    page = client.get(reverse("support:queue-live")).content.decode()

    assert "First response: due soon" in page
    assert "Resolution: within SLA" in page


def test_bad_queue_filter_is_a_400_in_the_page(client, actors, desk):
    client.force_login(actors.support)

    response = client.get(reverse("support:queue"), {"channel": "pigeon", "q": "x" * 200})

    assert response.status_code == 400
    assert "Some filters are not valid" in response.content.decode()


# --- The ticket page ------------------------------------------------------------------------------


def test_ticket_page_shows_the_charger_the_driver_and_the_conversation(client, actors, desk, playbook_seeded):
    tickets.ticket_message_add(ticket=desk.ticket, kind=MessageKind.NOTE, body="Checked the cable", channel="phone",
                               author=actors.support)  # fmt: skip
    desk.connector.status, desk.connector.error_code, desk.connector.vendor_error_code = (
        "Faulted",
        "OtherError",
        "CX026",
    )
    desk.connector.save()
    FrameLog.objects.create(station=desk.station, direction="in", message_type=2, action="Authorize", unique_id="a1",
                            raw='[2,"a1","Authorize",{"idTag":"DRV-1"}]', created_at=timezone.now())  # fmt: skip
    FrameLog.objects.create(station=desk.station, direction="out", message_type=3, unique_id="a1",
                            raw='[3,"a1",{"idTagInfo":{"status":"Blocked"}}]', created_at=timezone.now())  # fmt: skip
    desk.tag.status = IdTagStatus.BLOCKED
    desk.tag.note = "card reported stolen"
    desk.tag.save()
    client.force_login(actors.support)

    response = client.get(desk.url)

    page = response.content.decode()
    assert response.status_code == 200
    assert "I plugged in and nothing happens" in page
    assert 'class="msg msg-note"' in page and 'class="msg msg-driver"' in page
    assert "CX026" in page and response.context["live"].connectors[1].meaning  # the playbook's meaning
    assert "blocked: card reported stolen" in page
    [attempt] = response.context["attempts"]
    assert attempt.answered_status == "Blocked"
    assert "Authorize" in page  # the last frames, as previews
    assert 'id="chat"' in page or "support/console/_chat.html" in [t.name for t in response.templates]


def test_reply_with_a_macro_inserted_by_the_server_then_sent(client, actors, desk):
    macro = Macro.objects.create(name="Hello", body="Hello {driver_name}, {charger} is ticket {ticket}. {unknown}")
    client.force_login(actors.support)

    inserted = client.post(desk.post("ticket-reply"), {"kind": "reply", "body": "", "macro": macro.pk, "insert": "on"})
    body = inserted.context["reply_form"].initial["body"]
    sent = client.post(desk.post("ticket-reply"), {"kind": "reply", "body": body + "\nEdited."})

    assert inserted.status_code == 200
    assert body == f"Hello Ada Lovelace, DESK-1 is ticket {desk.ticket.reference}. {{unknown}}"
    assert sent.status_code == 302
    message = desk.ticket.messages.get(kind=MessageKind.REPLY)
    assert message.author == actors.support and message.body.endswith("Edited.")
    desk.ticket.refresh_from_db()
    assert desk.ticket.first_response_at is not None
    assert desk.ticket.status == TicketStatus.OPEN


def test_macros_reach_the_page_as_json_with_placeholders_filled(client, actors, desk):
    Macro.objects.create(name="Hi", body="Hi {driver_name} <script>x</script>")
    client.force_login(actors.support)

    page = client.get(desk.url).content.decode()

    assert '<script id="ticket-macros" type="application/json">' in page
    assert "Hi Ada Lovelace \\u003Cscript\\u003Ex\\u003C/script\\u003E" in page


def test_empty_reply_is_a_400_with_the_kind_kept(client, actors, desk):
    client.force_login(actors.support)

    response = client.post(desk.post("ticket-reply"), {"kind": "note", "body": "   "})

    assert response.status_code == 400
    assert "Write the message first." in response.content.decode()
    assert response.context["reply_form"]["kind"].value() == "note"


def test_ticket_fields_change_through_services_with_events(client, actors, desk):
    client.force_login(actors.operator)
    before = Ticket.objects.get(pk=desk.ticket.pk).first_response_due_at

    response = client.post(
        desk.post("ticket-update"),
        {"status": "waiting_driver", "priority": "p1", "category": "cable_stuck", "assignee": actors.support.pk,
         "tags": "Cable, urgent, cable"},
    )  # fmt: skip

    assert response.status_code == 302
    ticket = Ticket.objects.get(pk=desk.ticket.pk)
    assert (ticket.status, ticket.priority, ticket.category) == ("waiting_driver", "p1", "cable_stuck")
    assert ticket.assignee == actors.support and ticket.tags == ["cable", "urgent"]
    assert ticket.first_response_due_at != before and ticket.sla_paused_at is not None
    kinds = set(TicketEvent.objects.filter(ticket=ticket, by=actors.operator).values_list("kind", flat=True))
    assert kinds == {"status", "priority", "category", "assigned", "tags"}


def test_refused_status_move_is_a_400_with_the_form_kept(client, actors, desk):
    tickets.ticket_move(ticket=desk.ticket, to=TicketStatus.CLOSED, by=None)
    client.force_login(actors.support)

    response = client.post(desk.post("ticket-update"),
                           {"status": "open", "priority": "p2", "category": "wont_start", "tags": "kept"})  # fmt: skip

    assert response.status_code == 400
    assert "cannot become open" in response.content.decode()
    assert response.context["fields_form"]["tags"].value() == "kept"


# --- Troubleshooting --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("status", "offered", "not_offered"),
    [
        ("Available", {"remote_start", "trigger_status"}, {"unlock", "escalate"}),
        ("Preparing", {"unlock", "remote_start"}, {"escalate"}),
        ("Faulted", {"escalate"}, {"remote_start", "unlock"}),
    ],
)
def test_troubleshooting_steps_follow_the_connector_status(client, actors, desk, status, offered, not_offered):
    desk.connector.status = status
    desk.connector.save()
    client.force_login(actors.support)

    response = client.get(reverse("support:ticket-live", args=[desk.ticket.pk]))

    actions = {s.action for s in response.context["steps"] if s.action}
    assert offered <= actions
    assert not (not_offered & actions)
    assert all(s.category == "wont_start" for s in response.context["steps"])


def test_default_steps_cover_every_category(db):
    troubleshooting.troubleshooting_defaults_seed()
    from support.models import TicketCategory, TroubleshootingStep

    assert set(TroubleshootingStep.objects.values_list("category", flat=True)) == set(TicketCategory.values)


# --- Escalation ----------------------------------------------------------------------------------


def test_escalation_joins_the_open_incident_and_waits_on_field_work(client, actors, desk):
    incident = IncidentFactory(connector=desk.connector)
    client.force_login(actors.support)

    response = client.post(desk.post("ticket-escalate"), {"note": "driver waiting"})

    assert response.status_code == 302
    ticket = Ticket.objects.get(pk=desk.ticket.pk)
    assert ticket.incident == incident and ticket.status == TicketStatus.WAITING_FIELD
    note = IncidentStep.objects.get(incident=incident, kind="note")
    assert note.by == actors.support and "I plugged in and nothing happens" in note.reason
    assert not WorkOrder.objects.exists()
    action = TicketAction.objects.get(ticket=ticket, kind="escalate")
    assert action.by == actors.support and action.detail["incident"] == incident.pk


def test_escalation_without_an_incident_creates_a_work_order_with_the_photos(client, actors, desk):
    message = desk.ticket.messages.get()
    TicketAttachment.objects.create(message=message, file=ContentFile(b"\xff\xd8\xff photo", name="cable.jpg"),
                                    filename="cable.jpg", content_type="image/jpeg", size=9)  # fmt: skip
    client.force_login(actors.support)

    response = client.post(desk.post("ticket-escalate"), {"note": ""})

    assert response.status_code == 302
    ticket = Ticket.objects.get(pk=desk.ticket.pk)
    order = ticket.work_order
    assert order is not None and ticket.status == TicketStatus.WAITING_FIELD
    assert order.technician is None  # left for a dispatcher: agents do not dispatch
    assert order.diagnosis["driver_report"] == "I plugged in and nothing happens"
    assert WorkOrderPhoto.objects.get(work_order=order).image.name.endswith(".jpg")
    assert order.events.get().by == actors.support

    again = client.post(desk.post("ticket-escalate"), {"note": ""})
    assert again.status_code == 400 and "escalated already" in again.content.decode()


# --- Refunds ---------------------------------------------------------------------------------------


def _paid_session(desk) -> ChargingSession:
    """A priced session of the driver's tag, paid from a prepaid account (5.95 EUR)."""
    tariffs.tariff_create(name="Standard", currency="EUR", stations=[desk.station], price_per_kwh=D("0.40"),
                          session_fee=D("1.00"), tax_rate=D("0.19"))  # fmt: skip
    account = Account.objects.create(name="Ada", funding=Funding.PREPAID, email="ada@example.test", balance=D("50"))
    AccountTag.objects.create(account=account, id_tag=desk.tag)
    session = ChargingSession.objects.create(
        station=desk.station, connector=desk.connector, id_tag=desk.tag.id_tag, id_tag_status="Accepted",
        meter_start=1000, meter_stop=11_000, start_at=D0, stop_at=D0 + timedelta(hours=1), energy_wh=10_000,
        start_fingerprint="paid",
    )  # fmt: skip
    sessions.session_billing_open(session_id=session.pk)
    sessions.session_price(session_id=session.pk)
    payment = payments.payment_settle(session_id=session.pk)
    assert payment.amount_captured == D("5.95")
    return session


def test_refund_over_the_agents_limit_is_refused_in_the_page_with_the_form_kept(client, actors, desk):
    session = _paid_session(desk)
    RefundLimit.objects.create(user=actors.support, max_amount=D("2.00"), currency="EUR")
    client.force_login(actors.support)
    form = client.get(desk.url).context["refund_form"]
    key = form.initial["key"]

    refused = client.post(desk.post("ticket-refund"),
                          {"session": session.pk, "amount": "3.00", "reason": "stopped early", "key": key})  # fmt: skip
    given = client.post(desk.post("ticket-refund"),
                        {"session": session.pk, "amount": "2.00", "reason": "stopped early", "key": key})  # fmt: skip
    twice = client.post(desk.post("ticket-refund"),
                        {"session": session.pk, "amount": "2.00", "reason": "stopped early", "key": key})  # fmt: skip

    assert refused.status_code == 400
    page = refused.content.decode()
    assert "your refund limit is 2.00 EUR" in page
    assert 'value="3.00"' in page and "stopped early" in page
    assert given.status_code == 302 and twice.status_code == 302
    action = TicketAction.objects.get(ticket=desk.ticket, kind="refund")
    assert action.by == actors.support and action.refund.amount == D("2.00")
    assert action.refund.payment.amount_refunded == D("2.00")
    assert "Succeeded" in client.get(reverse("support:ticket-live", args=[desk.ticket.pk])).content.decode()


def test_macro_placeholders_for_energy_and_price_come_from_the_session(client, actors, desk):
    _paid_session(desk)
    Macro.objects.create(name="Energy", body="{energy_kwh} kWh for {price}")
    client.force_login(actors.support)

    macros = client.get(desk.url).context["macros_json"]

    assert {"Energy": "10.00 kWh for 5.95 EUR"}.items() <= {m["name"]: m["body"] for m in macros}.items()


# --- Finding a driver ------------------------------------------------------------------------------


@pytest.mark.parametrize("query", ["DRV-1", "ada@example.test", "+31612345678", "+31 6 1234 5678"])
def test_driver_found_by_tag_email_or_phone(client, actors, desk, query):
    client.force_login(actors.support)

    response = client.get(reverse("support:driver-search"), {"q": query})

    [match] = response.context["result"].drivers
    assert match.driver == desk.driver
    assert desk.ticket.reference in response.content.decode()


def test_driver_found_by_transaction_and_charger_with_why_a_tag_is_refused(client, actors, desk):
    account = Account.objects.create(name="Ada", funding=Funding.PREPAID, status=AccountStatus.BLOCKED)
    AccountTag.objects.create(account=account, id_tag=desk.tag)
    session = ChargingSession.objects.create(station=desk.station, connector=desk.connector, id_tag="DRV-1",
                                             id_tag_status="Accepted", meter_start=0, start_at=D0,
                                             start_fingerprint="s")  # fmt: skip
    client.force_login(actors.support)

    by_transaction = client.get(reverse("support:driver-search"), {"q": str(session.pk)})
    by_charger = client.get(reverse("support:driver-search"), {"q": "desk-1"})
    unknown = client.get(reverse("support:driver-search"), {"q": "NOPE"})

    [match] = by_transaction.context["result"].drivers
    assert match.driver == desk.driver
    assert "the account behind it is blocked" in by_transaction.content.decode()
    assert by_charger.context["result"].station == desk.station
    assert desk.ticket.reference in by_charger.content.decode()
    assert "Nothing matches" in unknown.content.decode()


def test_unknown_and_expired_tags_say_why(db):
    from support.selectors import tag_verdicts

    IdTag.objects.create(id_tag="OLD", expiry_date=datetime(2020, 1, 1, tzinfo=UTC))
    verdicts = {v.id_tag: v.reason for v in tag_verdicts(["GHOST", "OLD"])}

    assert verdicts["GHOST"].startswith("unknown tag")
    assert verdicts["OLD"] == "expired on 01 Jan 2020"


def test_overlong_search_is_a_400(client, actors, desk):
    client.force_login(actors.support)

    response = client.get(reverse("support:driver-search"), {"q": "x" * 101})

    assert response.status_code == 400


# --- Fixed query counts at 100,000 tickets -------------------------------------------------------


def _count(client, url) -> int:
    with CaptureQueriesContext(connection) as queries:
        assert client.get(url).status_code == 200
    return len(queries)


def _tickets_in_bulk(n: int, **values) -> None:
    """n tickets written by the database itself (INSERT ... SELECT over a counting CTE):
    one statement, seconds instead of a minute of building model instances."""
    now = timezone.now()
    values = {"subject": "bulk", "channel": "email", "status": "open", "created_at": now, "updated_at": now, **values}
    columns, params = [], []
    for f in Ticket._meta.concrete_fields:
        if f.primary_key or (f.attname not in values and f.null):
            continue
        value = values[f.attname] if f.attname in values else f.get_default()
        columns.append(connection.ops.quote_name(f.column))
        params.append(f.get_db_prep_value(value, connection, prepared=False))
    placeholders = ", ".join(["%s"] * len(params))
    sql = (
        # Names from the model's own metadata, values as parameters: nothing typed reaches it.
        f"INSERT INTO {Ticket._meta.db_table} ({', '.join(columns)}) "  # noqa: S608
        f"WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < %s) "
        f"SELECT {placeholders} FROM n"
    )
    with connection.cursor() as cursor:
        cursor.execute(sql, [n, *params])


def test_queue_and_ticket_page_keep_their_query_count_at_100000_tickets(client, actors, desk):
    Ticket.objects.filter(pk=desk.ticket.pk).update(first_response_due_at=timezone.now() - timedelta(minutes=1))
    client.force_login(actors.support)
    queue, ticket = reverse("support:queue"), desk.url
    breaching = f"{queue}?breaching=on&site={desk.site.pk}&channel=qr_page"
    small = (_count(client, queue), _count(client, breaching), _count(client, ticket))

    # The first page's rows name a driver, a charger and a site, as N+1 queries would need;
    # the rest name none, which spares PostgreSQL checking 300,000 deferred foreign keys.
    _tickets_in_bulk(
        60, requester_id=desk.driver.pk, station_id=desk.station.pk, team_id=desk.ticket.team_id,
        first_response_due_at=timezone.now() - timedelta(minutes=1), resolution_due_at=timezone.now(),
    )  # fmt: skip
    _tickets_in_bulk(99_940, resolution_due_at=timezone.now() + timedelta(days=1))
    for i in range(30):
        tickets.ticket_message_add(ticket=desk.ticket, kind=MessageKind.NOTE, body=f"n{i}", channel="phone",
                                   author=actors.support)  # fmt: skip

    big = (_count(client, queue), _count(client, breaching), _count(client, ticket))
    assert big == small
    response = client.get(queue)
    assert response.context["page_obj"].paginator.count == 100_001
    assert len(response.context["rows"]) == 50


# --- Charger actions against a real charger ----------------------------------------------------------


def _agent_can_act(actors):
    roles.ensure_roles()
    assert actors.support.groups.filter(name=roles.SUPPORT_AGENT).exists()


@pytest.mark.usefixtures("live_db")
def test_every_charger_action_reaches_a_real_charger_and_its_outcome_shows_on_the_ticket(client, actors, ocpp_server):
    _agent_can_act(actors)
    desk = Desk("ACT-1", tag="ACT-TAG")
    ChargingSession.objects.create(station=desk.station, connector=desk.connector, id_tag="ACT-TAG",
                                   id_tag_status="Accepted", meter_start=0, start_at=timezone.now(),
                                   start_fingerprint="running")  # fmt: skip
    client.force_login(actors.support)
    answers = {
        "RemoteStartTransaction": {"status": "Accepted"},
        "RemoteStopTransaction": {"status": "Accepted"},
        "UnlockConnector": {"status": "Unlocked"},
        "TriggerMessage": {"status": "Rejected"},
    }
    with BackgroundCharger(ocpp_server.url, "ACT-1", STATION_PASSWORD, answers=answers) as charger:
        for kind, extra in [("remote_start", {}), ("remote_stop", {"confirm": "on"}), ("unlock", {"confirm": "on"}),
                            ("trigger_status", {})]:  # fmt: skip
            response = client.post(desk.post("ticket-command"), {"kind": kind, "connector": "1", **extra})
            assert response.status_code == 302, response.content.decode()[:2000]

        def ended():
            rows = TicketAction.objects.filter(ticket=desk.ticket).select_related("command")
            return len(rows) == 4 and all(not a.command.is_open for a in rows) and rows

        rows = eventually(ended, timeout=15)
        assert rows, "the charger's answers did not arrive"
        sent = {call[2]: call[3] for call in charger.calls}

    outcomes = {a.kind: a.command.status for a in rows}
    assert outcomes == {"remote_start": CommandStatus.ACCEPTED, "remote_stop": CommandStatus.ACCEPTED,
                        "unlock": CommandStatus.ACCEPTED, "trigger_status": CommandStatus.REJECTED}  # fmt: skip
    assert sent["RemoteStartTransaction"] == {"idTag": "ACT-TAG", "connectorId": 1}
    assert sent["RemoteStopTransaction"]["transactionId"] == ChargingSession.objects.get().pk
    assert sent["UnlockConnector"] == {"connectorId": 1}
    assert all(a.by == actors.support and a.command.requested_by == actors.support for a in rows)
    assert TicketEvent.objects.filter(ticket=desk.ticket, kind="action", by=actors.support).count() == 4
    live = client.get(reverse("support:ticket-live", args=[desk.ticket.pk])).content.decode()
    assert live.count("outcome-accepted") == 3 and "outcome-rejected" in live


@pytest.mark.django_db
def test_disruptive_actions_need_confirmation_and_a_running_session(client, actors):
    desk = Desk("ACT-2", tag="ACT-TAG2")
    client.force_login(actors.support)

    unconfirmed = client.post(desk.post("ticket-command"), {"kind": "unlock", "connector": "1"})
    nothing_running = client.post(
        desk.post("ticket-command"), {"kind": "remote_stop", "connector": "1", "confirm": "on"}
    )

    assert unconfirmed.status_code == 400 and "confirm it to send it" in unconfirmed.content.decode()
    assert nothing_running.status_code == 400 and "no session is running" in nothing_running.content.decode()
    assert not TicketAction.objects.exists()


@pytest.mark.django_db
def test_remote_start_only_for_the_drivers_own_tag(client, actors):
    desk = Desk("ACT-3", tag="ACT-TAG3")
    other = Group.objects.get(name=roles.SUPPORT_AGENT)
    assert other
    client.force_login(actors.support)

    response = client.post(
        desk.post("ticket-command"), {"kind": "remote_start", "connector": "1", "id_tag": "STRANGER"}
    )

    assert response.status_code == 400
    assert "STRANGER is not one of the driver" in response.content.decode()


# --- Hostile text ----------------------------------------------------------------------------------


def test_what_drivers_and_chargers_write_reaches_the_page_only_as_text(client, actors, db):
    from tests.helpers import IMG, SCRIPT, SHORT

    desk = Desk("HOSTILE-1", tag="HOST-TAG")
    Driver.objects.filter(pk=desk.driver.pk).update(name=IMG)
    Ticket.objects.filter(pk=desk.ticket.pk).update(subject=SCRIPT, tags=[SHORT])
    tickets.ticket_message_add(ticket=desk.ticket, kind=MessageKind.DRIVER, body=SCRIPT + IMG, channel="email")
    Macro.objects.create(name=IMG, body=SCRIPT + "{driver_name}")
    FrameLog.objects.create(station=desk.station, direction="in", message_type=2, action="Authorize", unique_id="x",
                            raw=f'[2,"x","Authorize",{{"idTag":"HOST-TAG","x":"{SCRIPT}"}}]',
                            created_at=timezone.now())  # fmt: skip
    client.force_login(actors.support)

    pages = [client.get(desk.url).content.decode(), client.get(reverse("support:queue")).content.decode(),
             client.get(reverse("support:driver-search"), {"q": "HOST-TAG"}).content.decode()]  # fmt: skip

    for page in pages:
        assert SCRIPT not in page and IMG not in page and SHORT not in page
        assert "<script>" not in page.replace('<script id="ticket-macros" type="application/json">', "")
    assert "&lt;script&gt;window.__xss=1&lt;/script&gt;" in pages[0]
