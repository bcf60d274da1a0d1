"""The workorders pages in a real headless Chromium: the technician's queue on a
phone, a dispatcher's incident and dispatch pages, the error pages."""

from datetime import timedelta

import pytest
from django.utils import timezone

from tests.factories import IncidentFactory, TechnicianFactory, WorkOrderFactory
from tests.helpers import SCREENSHOTS, login
from workorders.models import IncidentStep, WorkOrder

pytestmark = [pytest.mark.browser, pytest.mark.usefixtures("live_db")]

PHONE = {"viewport": {"width": 390, "height": 844}, "is_mobile": True, "has_touch": True, "device_scale_factor": 2}
DESKTOP = {"viewport": {"width": 1280, "height": 900}}


def _shot(page, name: str, full_page: bool = True) -> None:
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SCREENSHOTS / name), full_page=full_page)


def _queue_world(actors):
    tech = TechnicianFactory(user=actors.technician)
    now = timezone.now()
    for title, due, priority in (
        ("Overdue fix", now - timedelta(hours=1), "p2"),
        ("Urgent after midnight", now + timedelta(hours=3), "p1"),
        ("Planned check", now + timedelta(days=3), "p3"),
    ):
        order = WorkOrderFactory(technician=tech, status="assigned", title=title, priority=priority)
        WorkOrder.objects.filter(pk=order.pk).update(sla_due_at=due)
    return tech


def test_technician_queue_on_a_phone_groups_by_urgency_and_updates_itself(ocpp_server, browser, actors):
    tech = _queue_world(actors)
    page = browser.new_page(**PHONE)
    login(page, ocpp_server.http, "tom")
    page.goto(f"{ocpp_server.http}/workorders/my/")

    groups = page.locator("[data-group]")
    assert [groups.nth(i).get_attribute("data-group") for i in range(groups.count())] == ["overdue", "soon", "later"]
    assert "Urgent after midnight" in page.locator("[data-group=soon]").inner_text()
    assert (
        " CET" in page.locator("[data-group=later]").inner_text()
        or " CEST" in page.locator("[data-group=later]").inner_text()
    )
    assert page.evaluate("document.documentElement.scrollWidth") <= 390
    _shot(page, "technician-queue-urgency-phone.png")

    # New work arrives while the page is open; the queue fetches itself again.
    WorkOrderFactory(technician=tech, status="assigned", title="Just dispatched")
    page.evaluate("() => document.dispatchEvent(new Event('visibilitychange'))")
    page.wait_for_function(
        "() => document.querySelector('#my-queue').innerText.includes('Just dispatched')", timeout=10_000
    )


def test_work_order_page_on_a_phone_keeps_refused_notes_and_shows_readable_history(ocpp_server, browser, actors):
    tech = TechnicianFactory(user=actors.technician)
    order = WorkOrderFactory(technician=tech, status="on_site")
    page = browser.new_page(**PHONE)
    login(page, ocpp_server.http, "tom")
    page.goto(f"{ocpp_server.http}/workorders/{order.pk}/")

    page.fill("textarea[name=parts_used]", "two fuses")
    page.click("#fieldwork button[type=submit]")

    page.wait_for_url(f"{ocpp_server.http}/workorders/{order.pk}/#fieldwork")
    history = page.locator("#history").inner_text()
    assert "Parts used · written: two fuses" in history and "tom" in history
    assert page.evaluate("document.documentElement.scrollWidth") <= 390
    _shot(page, "technician-workorder-history-phone.png")


def test_dispatcher_notes_and_closes_an_incident_from_its_page(ocpp_server, browser, actors):
    incident = IncidentFactory()
    page = browser.new_page(**DESKTOP)
    login(page, ocpp_server.http, "dana")
    page.goto(f"{ocpp_server.http}/workorders/incidents/{incident.pk}/")

    page.click("summary:has-text('Add a note')")
    page.fill("textarea[name=note-text]", "Site manager says the canopy leaks")
    page.click("button:has-text('Add the note')")
    page.wait_for_selector(".tl-note")
    page.click("summary:has-text('Close it')")
    page.select_option("select[name=close-resolution]", "not_equipment")
    page.click("button:has-text('Close the incident')")

    # Without a reason the page says so and keeps the choice made.
    assert "Why: This field is required." in page.locator("#actions").inner_text()
    assert page.locator("select[name=close-resolution]").input_value() == "not_equipment"
    _shot(page, "dispatcher-incident-close-refused.png")
    page.fill("input[name=close-reason]", "a driver's adapter, not ours")
    page.click("button:has-text('Close the incident')")
    page.wait_for_selector(".tl-closed")

    timeline = page.locator("#timeline").inner_text()
    assert "Site manager says the canopy leaks" in timeline and "closed by dana" in timeline
    assert IncidentStep.objects.filter(incident=incident, by=actors.dispatcher).count() == 2
    _shot(page, "dispatcher-incident-closed.png")


def test_dispatch_page_refuses_an_empty_choice_in_the_page(ocpp_server, browser, actors):
    TechnicianFactory()
    order = WorkOrderFactory()
    page = browser.new_page(**DESKTOP)
    login(page, ocpp_server.http, "dana")
    page.goto(f"{ocpp_server.http}/workorders/{order.pk}/dispatch/")

    page.click("button:has-text('Assign to the selected technician')")

    assert "Choose a technician, or accept the proposal." in page.locator("#dispatch-form").inner_text()
    assert WorkOrder.objects.get(pk=order.pk).technician is None
    _shot(page, "dispatcher-dispatch-empty-choice.png")


def test_not_found_page_keeps_the_portal_around_it(ocpp_server, browser, actors):
    page = browser.new_page(**PHONE)
    login(page, ocpp_server.http, "tom")

    response = page.goto(f"{ocpp_server.http}/workorders/987654/")

    assert response.status == 404
    assert "Not found" in page.locator("main h1").inner_text()
    assert page.locator("header.topbar nav").is_visible()
    _shot(page, "not-found-phone.png")
