"""Many reports, one fault: tickets about a charger follow its open incident, are
resolved when the charger confirms the fix, and each driver is told; duplicates merge."""

import pytest
from django.contrib.auth.models import Permission
from django.test import TestCase
from django.urls import reverse
from django.utils import timezone

from support.models import MessageKind, Ticket, TicketChannel, TicketEvent, TicketMessage, TicketStatus
from support.services import links
from support.services.merge import ticket_merge
from support.services.tickets import TicketRefused, driver_find_or_create, ticket_create, ticket_move
from tests.factories import STATION_PASSWORD, UserFactory
from tests.helpers import amsterdam_station, eventually, fault, recover
from workorders.models import Incident, IncidentResolution, IncidentStatus
from workorders.services import incident_lifecycle


def after_commit():
    """Run what the services leave for after commit (hooks, tasks, mail) as the test's
    transaction never commits; callbacks those add run too."""
    return TestCase.captureOnCommitCallbacks(execute=True)


@pytest.fixture
def mail(settings, smtp):
    smtp.configure(settings)
    settings.SUPPORT_FROM_EMAIL = "support@evops.test"
    return smtp


def _report(station, email: str, body: str = "It will not start", channel=TicketChannel.QR_PAGE) -> Ticket:
    with after_commit():
        return ticket_create(
            channel=channel,
            subject=body,
            body=body,
            requester=driver_find_or_create(email=email) if email else None,
            station=station,
        )


def _resolved_mails(smtp, address: str):
    return [m for m in smtp.to(address) if "Resolved:" in str(m["Subject"])]


@pytest.mark.django_db
def test_a_ticket_about_a_charger_with_an_open_incident_links_to_it():
    faulty, healthy = amsterdam_station("ONE-01"), amsterdam_station("ONE-02")
    with after_commit():
        fault(faulty)
    incident = Incident.objects.get(station=faulty)

    linked = _report(faulty, "")
    unlinked = _report(healthy, "")

    linked.refresh_from_db()
    unlinked.refresh_from_db()
    assert linked.incident == incident
    assert TicketEvent.objects.filter(ticket=linked, kind="incident_linked", detail__incident=incident.pk).exists()
    assert unlinked.incident is None


@pytest.mark.django_db
def test_the_charger_recovering_resolves_every_linked_ticket_and_mails_each_driver(mail):
    station, elsewhere = amsterdam_station("ONE-03"), amsterdam_station("ONE-04")
    with after_commit():
        fault(station)
    with after_commit():
        fault(elsewhere)
    ann = _report(station, "ann@example.com")
    bo = _report(station, "bo@example.com", body="Screen says fault")
    anonymous = _report(station, "")
    other = _report(elsewhere, "cy@example.com")
    closed_before = _report(station, "di@example.com")
    closed_before.refresh_from_db()
    with after_commit():
        ticket_move(ticket=closed_before, to=TicketStatus.CLOSED, by=None, reason="driver gave up")
    mail.wait_for(4)  # the acknowledgements

    with after_commit():
        recover(station)  # the charger itself reports Available: the incident closes self-cleared

    incident = Incident.objects.get(station=station)
    assert incident.status == IncidentStatus.CLOSED and incident.resolution == IncidentResolution.SELF_CLEARED
    for ticket in (ann, bo, anonymous):
        ticket.refresh_from_db()
        assert ticket.status == TicketStatus.RESOLVED, ticket
        event = TicketEvent.objects.get(ticket=ticket, kind="status", to_status=TicketStatus.RESOLVED)
        assert event.by is None and "charger confirms" in event.detail["reason"]
    for ticket in (other, closed_before):
        status = ticket.status
        ticket.refresh_from_db()
        assert ticket.status == status
    mail.wait_for(6)
    assert len(_resolved_mails(mail, "ann@example.com")) == 1
    assert len(_resolved_mails(mail, "bo@example.com")) == 1
    assert _resolved_mails(mail, "cy@example.com") == []
    assert _resolved_mails(mail, "di@example.com") == []


@pytest.mark.django_db
def test_a_dispatcher_closing_the_incident_by_hand_leaves_the_tickets_open():
    station = amsterdam_station("ONE-05")
    with after_commit():
        fault(station)
    ticket = _report(station, "")
    incident = Incident.objects.get(station=station)
    dispatcher = UserFactory(username="dana-one")

    with after_commit():
        incident_lifecycle.incident_close_by_hand(
            incident=incident, by=dispatcher, resolution=IncidentResolution.FIELD, reason="looked fine to me"
        )

    ticket.refresh_from_db()
    assert ticket.status == TicketStatus.NEW


@pytest.mark.django_db
def test_not_the_equipment_is_not_a_fix():
    station = amsterdam_station("ONE-06")
    with after_commit():
        fault(station)
    ticket = _report(station, "")
    incident = Incident.objects.get(station=station)

    with after_commit():
        incident_lifecycle.incident_close(
            incident=incident, resolution=IncidentResolution.NOT_EQUIPMENT, reason="vehicle", now=timezone.now()
        )

    ticket.refresh_from_db()
    assert ticket.status == TicketStatus.NEW


@pytest.mark.usefixtures("live_db")
@pytest.mark.filterwarnings("ignore::celery.exceptions.AlwaysEagerIgnored")
def test_a_real_charger_reporting_available_resolves_the_tickets_through_the_worker(django_db_setup, mail):
    """Charger → OCPP server → worker closes the incident → worker resolves the tickets → SMTP."""
    from tests.conftest import run_server, run_worker
    from tests.ocpp_client import BackgroundCharger

    station = amsterdam_station("ONE-E2E")
    faulted = {"connectorId": 1, "status": "Faulted", "errorCode": "InternalError", "vendorErrorCode": "X1"}
    available = {"connectorId": 1, "status": "Available", "errorCode": "NoError"}
    env = {**mail.env(), "SUPPORT_FROM_EMAIL": "support@evops.test", "REMEDIATION_GRACE_S": "600"}
    with (
        run_server(**env) as server,
        run_worker(**env),
        BackgroundCharger(server.url, "ONE-E2E", STATION_PASSWORD) as charger,
    ):
        charger.send("StatusNotification", faulted)
        assert eventually(lambda: Incident.objects.filter(station=station).exists(), timeout=20)
        first = _report(station, "eve@example.com")
        second = _report(station, "finn@example.com", body="Red light")
        mail.wait_for(2)

        charger.send("StatusNotification", available)

        def resolved():
            return Ticket.objects.filter(pk__in=[first.pk, second.pk], status=TicketStatus.RESOLVED).count() == 2

        assert eventually(resolved, timeout=20)
        mail.wait_for(4, timeout=20)
    assert len(_resolved_mails(mail, "eve@example.com")) == 1
    assert len(_resolved_mails(mail, "finn@example.com")) == 1
    assert Incident.objects.get(station=station).resolution == IncidentResolution.SELF_CLEARED


# --- merge ----------------------------------------------------------------------------


@pytest.mark.django_db
def test_merge_closes_the_duplicate_keeps_each_drivers_words_apart_and_records_both(client):
    station = amsterdam_station("ONE-07")
    agent = UserFactory(username="sam-merge")
    into = _report(station, "", body="Connector 1 dead")
    source = _report(station, "", body="My private phone is 555-0100")

    ticket_merge(source=source, into=into, by=agent)

    source.refresh_from_db()
    into.refresh_from_db()
    assert source.status == TicketStatus.CLOSED and source.merged_into == into
    assert TicketEvent.objects.get(ticket=source, kind="merged").by == agent
    assert TicketEvent.objects.get(ticket=into, kind="merged_in").detail["source"] == source.pk
    note = TicketMessage.objects.get(ticket=into, kind=MessageKind.SYSTEM)
    assert source.reference in note.body
    # Each driver's link shows their own words only.
    into_page = client.get(links.follow_path(into)).content.decode()
    source_page = client.get(links.follow_path(source)).content.decode()
    assert "555-0100" not in into_page and "555-0100" in source_page
    assert "handled together" in source_page


@pytest.mark.django_db
def test_merge_refuses_itself_twice_or_into_a_closed_ticket():
    station = amsterdam_station("ONE-08")
    a, b, c = (_report(station, "", body=f"report {n}") for n in range(3))
    with pytest.raises(TicketRefused):
        ticket_merge(source=a, into=a, by=None)
    ticket_merge(source=a, into=b, by=None)
    with pytest.raises(TicketRefused):
        ticket_merge(source=a, into=c, by=None)
    with pytest.raises(TicketRefused):
        ticket_merge(source=c, into=a, by=None)


@pytest.mark.django_db
def test_the_merged_duplicates_driver_hears_of_the_resolution(mail):
    station = amsterdam_station("ONE-09")
    into = _report(station, "gus@example.com")
    source = _report(station, "hal@example.com")
    mail.wait_for(2)
    with after_commit():
        ticket_merge(source=source, into=into, by=None)
    into.refresh_from_db()
    with after_commit():
        ticket_move(ticket=into, to=TicketStatus.RESOLVED, by=None, reason="fixed")

    mail.wait_for(4)
    [to_hal] = _resolved_mails(mail, "hal@example.com")
    assert source.reference in str(to_hal["Subject"])
    assert len(_resolved_mails(mail, "gus@example.com")) == 1


@pytest.mark.django_db
def test_merge_form_needs_work_ticket_and_keeps_a_bad_reference(client, actors):
    station = amsterdam_station("ONE-10")
    into = _report(station, "")
    source = _report(station, "")
    url = reverse("support:ticket-merge", args=[source.pk])

    client.force_login(actors.dispatcher)
    assert client.post(url, {"into": into.reference}).status_code == 403
    agent = UserFactory(username="agent-merge")
    agent.user_permissions.add(Permission.objects.get(codename="work_ticket", content_type__app_label="support"))
    client.force_login(agent)
    bad = client.post(url, {"into": "T-999999"})
    assert bad.status_code == 400 and "T-999999" in bad.content.decode()
    done = client.post(url, {"into": into.reference, "next": "/support/"})
    assert done.status_code == 302 and done["Location"] == "/support/"
    source.refresh_from_db()
    assert source.merged_into_id == into.pk
