"""Live chat in two real browsers: a driver on the charger's public page (a phone)
and an agent on the ticket page, over the real server's websockets."""

import asyncio
import json
from concurrent.futures import ThreadPoolExecutor

import pytest
from django.contrib.auth.models import Group, Permission
from django.db import connections
from django.test import Client
from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed, InvalidStatus

from config import roles
from support.models import MessageKind, Ticket, TicketChannel, TicketMessage, TicketStatus
from support.services.charger_pages import charger_page_create
from support.services.tickets import ticket_move
from tests.factories import ConnectorFactory, StationFactory, UserFactory
from tests.helpers import SCREENSHOTS, eventually, login

pytestmark = [pytest.mark.browser, pytest.mark.usefixtures("live_db")]

PHONE = {"viewport": {"width": 390, "height": 844}, "is_mobile": True}
HOSTILE = "<script>window.__xss=1</script><img src=x onerror=window.__xss=1>"


def _agent(username: str):
    roles.ensure_roles()
    user = UserFactory(username=username, first_name="Sam")
    user.groups.add(Group.objects.get(name=roles.SUPPORT_AGENT))
    user.user_permissions.add(Permission.objects.get(codename="work_ticket", content_type__app_label="support"))
    return user


def _charger(identity: str):
    station = StationFactory(identity=identity)
    ConnectorFactory(station=station, connector_id=1, status="Faulted")
    return station, charger_page_create(station=station)


def _off_the_browsers_thread(fn):
    """Playwright's loop owns the test's thread; a service that pushes after commit runs beside it."""

    def call():
        try:
            return fn()
        finally:
            connections.close_all()

    with ThreadPoolExecutor(1) as pool:
        return pool.submit(call).result(timeout=15)


def _say(page, text: str) -> None:
    page.fill("#support-chat textarea[name=body]", text)
    page.click("#support-chat button[type=submit]")


def test_driver_and_agent_chat_live_and_markup_stays_text(ocpp_server, browser):
    station, charger = _charger("CHAT-01")
    _agent("sam-chat")
    driver = browser.new_context(**PHONE).new_page()
    agent = browser.new_context(viewport={"width": 1280, "height": 900}).new_page()

    # The driver opens the charger's page from its QR code and writes first.
    driver.goto(f"{ocpp_server.http}/c/{charger.code}/")
    driver.wait_for_function("() => document.querySelector('#support-chat').dataset.chat === 'on'")
    driver.fill("#support-chat input[name=email]", "dora@example.com")
    _say(driver, "Connector 1 says fault and will not start")
    driver.wait_for_selector("#support-chat [data-chat-follow] a[href^='/support/t/']")
    assert not driver.is_visible("#support-chat input[name=email]")  # asked once, before the ticket
    ticket = eventually(lambda: Ticket.objects.filter(station=station).first())
    assert ticket.channel == TicketChannel.CHAT
    assert ticket.requester.email == "dora@example.com"

    # The agent opens the ticket: the charger beside it, the conversation in the chat panel.
    login(agent, ocpp_server.http, "sam-chat")
    agent.goto(f"{ocpp_server.http}/support/tickets/{ticket.pk}/")
    agent.wait_for_function(
        "() => document.querySelector('#support-chat .chat-log').innerText.includes('will not start')"
    )
    assert "CHAT-01" in agent.content()
    # The driver's page learns that someone is there now, without a reload.
    driver.wait_for_function("() => document.querySelector('#support-chat').dataset.agentsOnline === 'yes'")
    agent.wait_for_function("() => document.querySelector('#support-chat').dataset.driverOnline === 'yes'")

    _say(agent, "I am unlocking connector 1 now")
    driver.wait_for_function(
        "() => document.querySelector('#support-chat .chat-log').innerText.includes('unlocking connector 1')"
    )
    _say(driver, HOSTILE)
    agent.wait_for_function("() => document.querySelector('#support-chat .chat-log').innerText.includes('__xss')")

    # Markup a driver types is shown as the text it is, and never runs.
    for page in (agent, driver):
        last = page.locator("#support-chat .chat-log li").last
        assert last.locator(".body").inner_text() == HOSTILE
        assert last.locator("script, img").count() == 0
        assert page.evaluate("() => window.__xss") is None
    # The conversation is the ticket's, message by message.
    kinds = list(
        TicketMessage.objects.filter(ticket=ticket).exclude(kind=MessageKind.SYSTEM).values_list("kind", "channel")
    )
    assert kinds == [("driver", "chat"), ("reply", "chat"), ("driver", "chat")]
    assert driver.evaluate("() => document.documentElement.scrollWidth") <= 390

    # The agent resolves it: the driver's page says so at once.
    ticket.refresh_from_db()
    _off_the_browsers_thread(lambda: ticket_move(ticket=ticket, to=TicketStatus.RESOLVED, by=None, reason="done"))
    driver.wait_for_function("() => document.querySelector('#support-chat').dataset.ticketStatus === 'resolved'")
    assert "resolved" in driver.locator("#support-chat [data-chat-presence]").inner_text()
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    driver.screenshot(path=str(SCREENSHOTS / "support-chat-driver.png"), full_page=True)


def test_with_no_agent_online_the_page_says_so_and_the_message_becomes_a_ticket(ocpp_server, browser):
    station, charger = _charger("CHAT-02")
    driver = browser.new_context(**PHONE).new_page()

    driver.goto(f"{ocpp_server.http}/c/{charger.code}/")
    driver.wait_for_function("() => document.querySelector('#support-chat').dataset.agentsOnline === 'no'")

    assert "No agent is online" in driver.locator("#support-chat [data-chat-presence]").inner_text()
    _say(driver, "Nobody here? The cable is stuck")
    link = driver.wait_for_selector("#support-chat [data-chat-follow] a[href^='/support/t/']")
    ticket = eventually(lambda: Ticket.objects.filter(station=station).first())
    assert ticket.reference == link.inner_text()
    # The follow-up link opens the driver's own ticket.
    driver.click("#support-chat [data-chat-follow] a")
    driver.wait_for_url("**/support/t/**")
    assert "Nobody here? The cable is stuck" in driver.content()
    # And answers there, with no account (the form's CSRF token is the page's own).
    driver.fill("textarea[name=body]", "It is Tuesday, still stuck")
    driver.click("button[type=submit]")
    driver.wait_for_selector("text=Sent.")
    assert ticket.messages.filter(kind=MessageKind.DRIVER, body="It is Tuesday, still stuck").exists()


def test_an_agent_online_elsewhere_is_announced_before_the_driver_types(ocpp_server, browser):
    _station, charger = _charger("CHAT-03")
    other_station, _ = _charger("CHAT-04")
    _agent("sam-online")
    from support.services.tickets import ticket_create

    other = ticket_create(channel=TicketChannel.PHONE, subject="x", body="earlier call", station=other_station)
    agent = browser.new_context().new_page()
    login(agent, ocpp_server.http, "sam-online")
    agent.goto(f"{ocpp_server.http}/support/tickets/{other.pk}/")
    agent.wait_for_function("() => document.querySelector('#support-chat').dataset.chat === 'on'")

    driver = browser.new_context(**PHONE).new_page()
    driver.goto(f"{ocpp_server.http}/c/{charger.code}/")
    driver.wait_for_function("() => document.querySelector('#support-chat').dataset.agentsOnline === 'yes'")
    assert "An agent is online" in driver.locator("#support-chat [data-chat-presence]").inner_text()


# --- The sockets themselves: who may open them, and their bounds -------------------------


async def _open(server, path: str, origin: str | None, cookie: str = ""):
    """'open' with the first frame when accepted, else the refusal."""
    headers = {}
    if origin is not None:
        headers["Origin"] = origin
    if cookie:
        headers["Cookie"] = f"sessionid={cookie}"
    try:
        async with connect(f"ws://127.0.0.1:{server.port}{path}", additional_headers=headers, open_timeout=5) as ws:
            return json.loads(await asyncio.wait_for(ws.recv(), 5))["type"]
    except ConnectionClosed:
        return "closed"
    except InvalidStatus as exc:
        return str(exc.response.status_code)


def test_chat_sockets_check_origin_and_the_agents_permission(ocpp_server, actors):
    _station, charger = _charger("CHAT-05")
    from support.services.tickets import ticket_create

    ticket = ticket_create(channel=TicketChannel.PHONE, subject="x", body="call", station=_station)
    agent = _agent("sam-sockets")
    own = f"http://127.0.0.1:{ocpp_server.port}"
    driver_path, agent_path = f"/ws/support/chat/{charger.code}/", f"/ws/support/tickets/{ticket.pk}/chat/"

    def cookie(user) -> str:
        session = Client()  # one client per person: a second login would end the first's session
        session.force_login(user)
        return session.cookies["sessionid"].value

    async def attempts(agent_cookie, dispatcher_cookie):
        return [
            await _open(ocpp_server, driver_path, own),
            await _open(ocpp_server, driver_path, "http://evil.example"),
            await _open(ocpp_server, driver_path, None),
            await _open(ocpp_server, "/ws/support/chat/NOSUCHCODE/", own),
            await _open(ocpp_server, agent_path, own),
            await _open(ocpp_server, agent_path, own, dispatcher_cookie),
            await _open(ocpp_server, agent_path, "http://evil.example", agent_cookie),
            await _open(ocpp_server, agent_path, own, agent_cookie),
        ]

    results = asyncio.run(attempts(cookie(agent), cookie(actors.dispatcher)))

    assert results == ["presence", "403", "403", "403", "403", "403", "403", "ticket"]


def test_chat_socket_bounds_message_length_and_rate():
    from tests.conftest import run_server

    station, charger = _charger("CHAT-06")
    # No token comes back while the test runs, however slow the database: the sixth message is refused.
    with run_server(SUPPORT_CHAT_BURST="5", SUPPORT_CHAT_REFILL_S="600") as server:
        seen = asyncio.run(_talk(server, charger.code))

    assert seen[0] == {"type": "error", "error": "a message is at most 2000 characters"}
    assert seen[1]["type"] == "error"
    assert [s["type"] for s in seen[2:7]] == ["ticket", "message", "message", "message", "message"]
    assert seen[7]["type"] == "error" and "faster" in seen[7]["error"]
    assert seen[8] == 1009
    ticket = Ticket.objects.get(station=station)
    assert ticket.messages.filter(kind=MessageKind.DRIVER).count() == 5


async def _talk(server, code: str) -> list:
    """Too long, not JSON, a burst past the rate, then a frame past the size limit."""
    own = f"http://127.0.0.1:{server.port}"
    url = f"ws://127.0.0.1:{server.port}/ws/support/chat/{code}/"
    seen = []
    async with connect(url, additional_headers={"Origin": own}, open_timeout=5) as ws:
        await ws.recv()  # presence

        async def say(body) -> dict:
            await ws.send(json.dumps({"type": "message", "body": body}))
            return json.loads(await asyncio.wait_for(ws.recv(), 5))

        seen.append(await say("x" * 2001))
        await ws.send("not json")
        seen.append(json.loads(await asyncio.wait_for(ws.recv(), 5)))
        for n in range(6):  # a burst of five, then too fast
            seen.append(await say(f"message {n}"))
    async with connect(url, additional_headers={"Origin": own}, open_timeout=5) as ws:
        await ws.recv()
        await ws.send("y" * 20_000)
        try:
            await asyncio.wait_for(ws.recv(), 5)
        except ConnectionClosed as closed:
            seen.append(closed.rcvd.code)
    return seen
