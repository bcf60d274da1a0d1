"""Charger and user data with scripts in it, shown in a real headless Chromium:
nothing runs, and our own scripts still work under the Content-Security-Policy."""

import os
import tempfile
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from urllib.parse import quote

import pytest
from django.db import connections

from config import roles
from stations.models import ChargingStation, RemoteCommand
from tests import ocpp_client
from tests.factories import STATION_PASSWORD, UserFactory
from tests.helpers import IDENTITY, IMG, SCRIPT, SHORT, TEMPLATE, hostile_world, login
from tests.ocpp_client import BackgroundCharger

pytestmark = [pytest.mark.browser, pytest.mark.usefixtures("live_db", "playbook_seeded")]

SCREENSHOTS = Path(os.environ.get("XSS_SCREENSHOT_DIR", tempfile.gettempdir()))

# Runs before any page script, outside the page's policy: records what the
# policy refused, so a page whose own scripts break under it fails the test.
WATCH_VIOLATIONS = """
window.__violations = [];
document.addEventListener("securitypolicyviolation", (e) => {
  window.__violations.push(`${e.violatedDirective} ${e.blockedURI} ${e.sourceFile}:${e.lineNumber}`);
});
"""


class Watched:
    """A page with everything that would show script running or our scripts failing."""

    def __init__(self, context, expected_confirmations: tuple[str, ...] = ()):
        self.page = context.new_page()
        self.dialogs: list[tuple[str, str]] = []
        self.console_errors: list[str] = []
        self.page_errors: list[str] = []
        self.expected = expected_confirmations
        self.page.on("dialog", self._dialog)
        self.page.on("console", lambda m: m.type == "error" and self.console_errors.append(m.text))
        self.page.on("pageerror", lambda e: self.page_errors.append(str(e)))

    def _dialog(self, dialog) -> None:
        self.dialogs.append((dialog.type, dialog.message))
        if dialog.type == "confirm" and dialog.message in self.expected:
            dialog.accept()
        else:
            dialog.dismiss()

    def goto(self, url: str) -> None:
        self.page.goto(url)
        self.assert_clean(url)

    def assert_clean(self, where: str = "") -> None:
        page = self.page
        assert page.evaluate("typeof window.__xss") == "undefined", f"script ran on {where or page.url}"
        assert page.evaluate("window.__violations") == [], f"policy refused something on {where or page.url}"
        unexpected = [d for d in self.dialogs if not (d[0] == "confirm" and d[1] in self.expected)]
        assert unexpected == [], f"unexpected dialogs on {where or page.url}"
        csp = [m for m in self.console_errors if "Content Security Policy" in m]
        assert csp == [], csp
        assert self.page_errors == [], self.page_errors


def _context(browser, **kwargs):  # noqa: F811
    context = browser.new_context(**kwargs)
    context.add_init_script(WATCH_VIOLATIONS)
    return context


def _in_thread(fn):
    """Services push to live pages through async_to_sync, which cannot run in
    the thread Playwright's loop owns."""

    def call():
        try:
            return fn()
        finally:
            connections.close_all()

    with ThreadPoolExecutor(1) as pool:
        return pool.submit(call).result(timeout=60)


def _operator(username: str):
    from django.contrib.auth.models import Group

    roles.ensure_roles()
    user = UserFactory(username=username, is_staff=True)
    user.groups.add(Group.objects.get(name=roles.OPERATOR))
    return user


@pytest.fixture
def quoted_charger_urls(monkeypatch):
    """The identity holds characters a URL must escape; chargers percent-encode them."""
    original = ocpp_client.open_charger

    def open_quoted(url, identity, password, **kwargs):
        kwargs.setdefault("additional_headers", ocpp_client.auth_header(identity, password))
        return original(url, quote(identity, safe=""), password, **kwargs)

    monkeypatch.setattr(ocpp_client, "open_charger", open_quoted)


def _restore_hostile_boot_fields(station: ChargingStation) -> None:
    # The test charger boots as vendor "T", model "T"; put the hostile ones back.
    ChargingStation.objects.filter(pk=station.pk).update(vendor=TEMPLATE, model=SHORT)


@pytest.mark.usefixtures("quoted_charger_urls")
def test_operator_pages_show_hostile_station_data_as_text_and_still_work(ocpp_server, browser):  # noqa: F811
    world = _in_thread(hostile_world)
    _operator("xss-op")
    base = ocpp_server.http
    reset_question = f"Send Reset to {IDENTITY}? It interrupts the station."
    context = _context(browser, viewport={"width": 1280, "height": 900})
    watched = Watched(context, expected_confirmations=(reset_question,))
    page = watched.page
    login(page, base, "xss-op")
    watched.assert_clean("the station list")
    assert IDENTITY in page.locator("#station-rows").inner_text()
    assert f"{TEMPLATE} {SHORT}" in page.locator("#station-rows").inner_text()

    answers = {"DataTransfer": {"status": "Accepted", "data": SCRIPT}}
    with BackgroundCharger(ocpp_server.url, IDENTITY, STATION_PASSWORD, answers=answers) as charger:
        _restore_hostile_boot_fields(world.station)
        page.get_by_role("link", name=IDENTITY, exact=True).click()
        page.wait_for_url(lambda url: url.startswith(f"{base}/stations/Q"))
        page.wait_for_function("() => document.body.dataset.live === 'on'")
        watched.assert_clean("the station page")
        live = page.locator("#station-live").inner_text()
        for text in (IDENTITY, IMG, SCRIPT, TEMPLATE, SHORT):
            assert text in live, text

        # The quick button asks, names the station as text, and sends once confirmed.
        page.click("button:has-text('Soft reset')")
        page.wait_for_function(
            "() => document.querySelector('table.commands tbody tr')?.innerText.includes('Reset')", timeout=10_000
        )
        page.wait_for_function(
            "() => document.querySelector('table.commands tbody tr').innerText.includes('Accepted')", timeout=10_000
        )
        assert ("confirm", reset_question) in watched.dialogs
        assert [c[2:] for c in charger.calls] == [["Reset", {"type": "Soft"}]]
        watched.assert_clean("the station page after a reset")

        # A command typed in by hand, with scripts in its payload and in the charger's answer.
        page.select_option("form.advanced select[name=action]", "DataTransfer")
        page.click("form.advanced details.raw-payload summary")  # typed JSON is the advanced way
        page.fill("form.advanced textarea[name=payload]", f'{{"vendorId": "{SHORT}", "data": "{TEMPLATE}"}}')
        page.click("form.advanced button[type=submit]")
        page.wait_for_function(
            "() => document.querySelector('table.commands tbody tr')?.innerText.includes('DataTransfer')",
            timeout=10_000,
        )
        page.wait_for_function(
            "() => document.querySelector('table.commands tbody tr').innerText.includes('window.__xss=1</script>')",
            timeout=10_000,
        )
        assert charger.calls[-1][2:] == ["DataTransfer", {"vendorId": SHORT, "data": TEMPLATE}]
        watched.assert_clean("the station page after a typed command")

        # A change the charger pushes reaches the open page without a reload, as text.
        charger.send(
            "StatusNotification",
            {
                "connectorId": 1,
                "errorCode": "OtherError",
                "status": "Faulted",
                "info": "<img src=x onerror=__xss=1>LIVE",
                "vendorErrorCode": "LIVE${window.__xss=1}",
            },
        )
        page.wait_for_function(
            "() => document.getElementById('station-live').innerText.includes('<img src=x onerror=__xss=1>LIVE')",
            timeout=10_000,
        )
        assert "LIVE${window.__xss=1}" in page.locator("#station-live").inner_text()
        watched.assert_clean("the station page after a live update")
        page.screenshot(path=str(SCREENSHOTS / "xss-station.png"), full_page=True)

    assert RemoteCommand.objects.filter(station=world.station, action="Reset", status="accepted").count() == 1

    for url in (
        "/workorders/",
        f"/workorders/{world.order.pk}/",
        f"/workorders/{world.order.pk}/dispatch/",
        "/workorders/incidents/?open=",
        f"/workorders/incidents/{world.incident.pk}/",
        "/workorders/technicians/",
    ):
        watched.goto(base + url)
        body = page.locator("main").inner_text()
        assert SCRIPT in body or IMG in body or IDENTITY in body, url
    context.close()


@pytest.mark.usefixtures("quoted_charger_urls")
def test_technician_work_order_with_hostile_station_data_still_works(ocpp_server, browser):  # noqa: F811
    world = _in_thread(hostile_world)
    base = ocpp_server.http
    question = f"Soft reset on {IDENTITY}? It interrupts the station."
    context = _context(browser, viewport={"width": 390, "height": 844}, is_mobile=True, has_touch=True)
    watched = Watched(context, expected_confirmations=(question,))
    page = watched.page

    page.goto(f"{base}/workorders/my/")
    page.fill("input[name=username]", "xss-tech")
    page.fill("input[name=password]", "pw-for-tests")
    page.click("button[type=submit]")
    page.wait_for_url(f"{base}/workorders/my/")
    watched.assert_clean("the technician's queue")
    assert IDENTITY in page.locator(".wo-cards").inner_text()
    assert SCRIPT in page.locator(".wo-cards").inner_text()

    with BackgroundCharger(ocpp_server.url, IDENTITY, STATION_PASSWORD) as charger:
        _restore_hostile_boot_fields(world.station)
        page.click(f"a[data-order='{world.order.pk}']")
        page.wait_for_url(f"{base}/workorders/{world.order.pk}/")
        page.wait_for_function("() => document.body.dataset.live === 'on'")
        watched.assert_clean("the work order")
        assert IMG in page.locator("#diagnosis").inner_text()

        page.click("button:has-text('Soft reset')")

        page.wait_for_function(
            "() => document.querySelector('#wo-commands li')?.innerText.includes('Accepted')", timeout=15_000
        )
        assert ("confirm", question) in watched.dialogs
        assert [c[2:] for c in charger.calls] == [["Reset", {"type": "Soft"}]]

        charger.send(
            "StatusNotification",
            {"connectorId": 1, "errorCode": "OtherError", "status": "Faulted", "info": "<b>${window.__xss=1}</b>"},
        )
        page.wait_for_function(
            "() => document.getElementById('wo-connectors').innerText.includes('<b>${window.__xss=1}</b>')",
            timeout=10_000,
        )
        watched.assert_clean("the work order after a live update")
        page.screenshot(path=str(SCREENSHOTS / "xss-workorder.png"), full_page=True)
    context.close()


def test_cancelling_a_hostile_work_order_asks_first_and_sends_nothing_when_declined(ocpp_server, browser):  # noqa: F811
    world = _in_thread(hostile_world)
    _operator("xss-cancel")
    context = _context(browser, viewport={"width": 1280, "height": 900})
    watched = Watched(context)  # expects no confirmation: the one that comes is dismissed
    page = watched.page
    login(page, ocpp_server.http, "xss-cancel")
    page.goto(f"{ocpp_server.http}/workorders/{world.order.pk}/")

    page.click("button:has-text('Cancel the order')")
    page.wait_for_timeout(300)

    assert watched.dialogs == [("confirm", "Cancel this work order?")]
    world.order.refresh_from_db()
    assert world.order.status == "assigned"
    context.close()


def test_admin_and_api_docs_work_under_the_policy(ocpp_server, browser):  # noqa: F811
    station = _in_thread(hostile_world).station
    UserFactory(username="xss-root", is_staff=True, is_superuser=True)
    context = _context(browser, viewport={"width": 1280, "height": 900})
    watched = Watched(context)
    page = watched.page
    base = ocpp_server.http
    page.goto(f"{base}/admin/login/?next=/admin/")
    page.fill("input[name=username]", "xss-root")
    page.fill("input[name=password]", "pw-for-tests")
    page.click("input[type=submit]")
    page.wait_for_url(f"{base}/admin/")
    watched.assert_clean("the admin index")

    page.goto(f"{base}/admin/stations/chargingstation/{station.pk}/change/")
    assert page.locator("input[name=new_password]").count() == 1
    assert station.password_hash not in page.content()
    watched.assert_clean("the station's admin page")
    page.goto(f"{base}/admin/stations/chargingstation/")
    watched.assert_clean("the station list in the admin")

    page.goto(f"{base}/api/docs/")
    # Swagger UI renders the schema only if its start-up script ran.
    page.wait_for_selector(".swagger-ui .info .title", timeout=15_000)
    page.wait_for_selector(".opblock-tag", timeout=15_000)
    watched.assert_clean("the API docs")
    context.close()
