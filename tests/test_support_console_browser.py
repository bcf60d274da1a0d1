"""The agent's console in a real headless Chromium: queue, ticket, a macro, an action on a real charger."""

import pytest

from support.models import Driver, Macro, MessageKind, TicketAction
from support.services import sla, tickets, troubleshooting
from tests.factories import STATION_PASSWORD, ConnectorFactory, SiteFactory, StationFactory, UserFactory
from tests.helpers import SCREENSHOTS, login
from tests.ocpp_client import BackgroundCharger

pytestmark = [pytest.mark.browser, pytest.mark.usefixtures("live_db")]


def _agent():
    from django.contrib.auth.models import Group

    from config import roles

    roles.ensure_roles()
    user = UserFactory(username="browser-agent")
    user.groups.add(Group.objects.get(name=roles.SUPPORT_AGENT))
    return user


def test_agent_works_a_ticket_from_the_queue_to_a_remote_start(ocpp_server, browser):
    sla.sla_defaults_seed()
    troubleshooting.troubleshooting_defaults_seed()
    agent = _agent()
    station = StationFactory(identity="CONSOLE-1", site=SiteFactory(name="Harbour Street"))
    ConnectorFactory(station=station, connector_id=0)
    connector = ConnectorFactory(station=station, connector_id=1, status="Available")
    driver = Driver.objects.create(name="Grace Hopper", email="grace@example.test")
    driver.id_tags.create(id_tag="GRACE-1")
    ticket = tickets.ticket_create(channel="qr_page", subject="Nothing happens", body="I tapped my card twice",
                                   category="wont_start", priority="p1", requester=driver, station=station,
                                   connector=connector)  # fmt: skip
    Macro.objects.create(name="Starting it", body="Hello {driver_name}, we start {charger} for you ({ticket}).")
    page = browser.new_page(viewport={"width": 1366, "height": 900})
    login(page, ocpp_server.http, agent.username)
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)

    # The queue: the ticket with its timers, then its page.
    page.goto(f"{ocpp_server.http}/support/")
    row = page.locator("#queue-rows tr", has_text=ticket.reference)
    assert "First response:" in row.inner_text()
    page.screenshot(path=str(SCREENSHOTS / "support-queue.png"), full_page=True)
    row.locator("a", has_text=ticket.reference).click()
    page.wait_for_url(f"{ocpp_server.http}/support/tickets/{ticket.pk}/")

    # A macro goes into the reply box with its placeholders filled, edited, then sent.
    page.select_option("#id_macro", label="Starting it")
    text = page.input_value("#id_body")
    assert text == f"Hello Grace Hopper, we start CONSOLE-1 for you ({ticket.reference})."
    page.fill("#id_body", text + " It takes a minute.")
    page.click("#reply-send")
    page.wait_for_selector(".msg-reply")
    assert "It takes a minute." in page.locator(".msg-reply").inner_text()
    assert ticket.messages.filter(kind=MessageKind.REPLY, author=agent).exists()

    # The troubleshooting step for an Available connector starts the session; the
    # charger answers a moment later and the outcome appears without a reload.
    with BackgroundCharger(ocpp_server.url, "CONSOLE-1", STATION_PASSWORD, delay=1.0,
                           answers={"RemoteStartTransaction": {"status": "Accepted"}}) as charger:  # fmt: skip
        page.reload()
        page.wait_for_function("() => document.body.dataset.live === 'on'")
        page.locator("#steps button", has_text="Remote start").click()
        page.wait_for_selector("#actions li")
        assert "Remote start" in page.locator("#actions").inner_text()
        page.wait_for_function("() => document.querySelector('#actions .outcome-accepted') !== null", timeout=15_000)
        assert charger.calls[0][2:] == ["RemoteStartTransaction", {"idTag": "GRACE-1", "connectorId": 1}]
    assert TicketAction.objects.get(ticket=ticket).command.requested_by == agent
    page.screenshot(path=str(SCREENSHOTS / "support-ticket.png"), full_page=True)


def test_console_on_a_phone_is_no_wider_than_the_screen(ocpp_server, browser):
    sla.sla_defaults_seed()
    agent = _agent()
    station = StationFactory(identity="CONSOLE-2")
    ConnectorFactory(station=station, connector_id=1)
    ticket = tickets.ticket_create(channel="email", subject="Cable stuck", body="It will not let go",
                                   category="cable_stuck", station=station)  # fmt: skip
    page = browser.new_page(viewport={"width": 390, "height": 844}, is_mobile=True)
    login(page, ocpp_server.http, agent.username)

    page.goto(f"{ocpp_server.http}/support/tickets/{ticket.pk}/")

    assert page.locator("h1").inner_text().startswith(ticket.reference)
    assert page.evaluate("document.documentElement.scrollWidth") <= 390
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SCREENSHOTS / "support-ticket-phone.png"), full_page=True)
