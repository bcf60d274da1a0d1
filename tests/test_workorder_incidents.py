"""Incident status moves: one table, compare-and-swap, a timeline row with who;
and what a dispatcher does to an incident from its page."""

import pytest
from django.urls import reverse

from tests.factories import IncidentFactory, TechnicianFactory
from tests.helpers import amsterdam_station, fault
from workorders.models import Incident, IncidentStatus, IncidentStep, WorkOrder
from workorders.services import incident_lifecycle, incidents
from workorders.services.incident_lifecycle import IllegalIncidentMove, StaleIncidentMove, incident_move

I = IncidentStatus  # noqa: E741
pytestmark = pytest.mark.usefixtures("playbook_seeded")


@pytest.mark.django_db
def test_illegal_incident_move_is_refused_and_leaves_no_trace(actors):
    incident = IncidentFactory(status=I.DISPATCHED)

    with pytest.raises(IllegalIncidentMove):
        incident_move(incident=incident, to=I.REMEDIATING, by=actors.dispatcher, reason="try again")

    incident.refresh_from_db()
    assert incident.status == I.DISPATCHED and not incident.steps.exists()


@pytest.mark.django_db
def test_stale_incident_move_is_refused(actors):
    incident = IncidentFactory(status=I.OPEN)
    seen_by_someone_else = Incident.objects.get(pk=incident.pk)
    incident_move(incident=incident, to=I.REMEDIATING, reason="first step")

    with pytest.raises(StaleIncidentMove):
        incident_move(incident=seen_by_someone_else, to=I.DISPATCHED, by=actors.dispatcher, reason="too late")

    assert Incident.objects.get(pk=incident.pk).status == I.REMEDIATING
    assert seen_by_someone_else.status == I.REMEDIATING  # told what it is now


@pytest.mark.django_db
def test_each_move_writes_one_timeline_row_with_who(actors):
    incident = IncidentFactory(status=I.OPEN)

    incident_move(incident=incident, to=I.REMEDIATING, by=actors.dispatcher, reason="trying a reset")

    step = incident.steps.get()
    assert (step.kind, step.reason, step.by) == ("status", "trying a reset", actors.dispatcher)


@pytest.mark.django_db
def test_close_after_someone_else_moved_it_still_closes_once(actors):
    incident = IncidentFactory(status=I.OPEN)
    stale = Incident.objects.get(pk=incident.pk)
    incident_move(incident=incident, to=I.REMEDIATING, reason="step")

    first = incident_lifecycle.incident_close_by_hand(
        incident=stale, by=actors.dispatcher, resolution="self_cleared", reason="cleared on its own"
    )
    second = incident_lifecycle.incident_close_by_hand(
        incident=stale, by=actors.dispatcher, resolution="self_cleared", reason="again"
    )

    assert (first, second) == (True, False)
    assert Incident.objects.get(pk=incident.pk).status == I.CLOSED
    assert incident.steps.filter(kind="closed").count() == 1


@pytest.mark.django_db
def test_page_and_worker_share_what_happens_next():
    incident = _fault_incident("NEXT-1")

    plan = incident_lifecycle.incident_next_step(incident)

    assert plan.kind == incident_lifecycle.NextKind.REMOTE_STEP and plan.index == 0
    assert plan.label.startswith("remote step 1 of")


def _fault_incident(identity: str) -> Incident:
    event = fault(amsterdam_station(identity), error_code="InternalError")
    return incidents.status_event_handle(event_id=event.pk)


# -- the incident page's actions ---------------------------------------------------


@pytest.mark.django_db
def test_dispatcher_adds_a_note_recorded_with_who(client, actors):
    incident = IncidentFactory()
    client.force_login(actors.dispatcher)

    response = client.post(
        reverse("workorders:incident-action", args=[incident.pk, "note"]), {"note-text": "Called site"}
    )

    assert response.status_code == 302
    note = incident.steps.get(kind="note")
    assert (note.reason, note.by) == ("Called site", actors.dispatcher)
    assert "Called site" in client.get(response.url).content.decode()


@pytest.mark.django_db
def test_too_long_note_is_refused_in_the_page_keeping_what_was_typed(client, actors):
    incident = IncidentFactory()
    client.force_login(actors.dispatcher)
    text = "x" * (incident_lifecycle.MAX_NOTE + 1)

    response = client.post(reverse("workorders:incident-action", args=[incident.pk, "note"]), {"note-text": text})

    assert response.status_code == 400
    body = response.content.decode()
    assert "at most 2000 characters" in body and text in body
    assert not incident.steps.exists()


@pytest.mark.django_db
def test_dispatcher_closes_with_a_reason(client, actors):
    incident = IncidentFactory()
    client.force_login(actors.dispatcher)
    url = reverse("workorders:incident-action", args=[incident.pk, "close"])

    refused = client.post(url, {"close-resolution": "not_equipment", "close-reason": ""})
    closed = client.post(url, {"close-resolution": "not_equipment", "close-reason": "driver's cable"})

    assert refused.status_code == 400
    assert closed.status_code == 302
    incident.refresh_from_db()
    assert (incident.status, incident.resolution) == ("closed", "not_equipment")
    step = incident.steps.get(kind="closed")
    assert step.by == actors.dispatcher and "driver's cable" in step.reason


@pytest.mark.django_db
def test_dispatcher_sends_a_truck_now(client, actors):
    TechnicianFactory(skills=["ac", "dc", "hv", "mechanical", "network"])
    incident = _fault_incident("NOW-1")
    client.force_login(actors.dispatcher)

    response = client.post(
        reverse("workorders:incident-action", args=[incident.pk, "dispatch"]), {"dispatch-reason": ""}
    )

    assert response.status_code == 302
    incident.refresh_from_db()
    assert incident.status == I.DISPATCHED
    order = WorkOrder.objects.get(incident=incident)
    assert order.technician is not None
    decision = IncidentStep.objects.get(incident=incident, kind="decision")
    assert decision.by == actors.dispatcher and "dana" in decision.reason


@pytest.mark.django_db
@pytest.mark.parametrize("action", ["note", "close", "dispatch"])
def test_support_agent_may_read_incidents_but_not_act(client, actors, action):
    incident = IncidentFactory()
    client.force_login(actors.support)

    page = client.get(reverse("workorders:incident-detail", args=[incident.pk]))
    acted = client.post(
        reverse("workorders:incident-action", args=[incident.pk, action]),
        {f"{action}-text": "x", f"{action}-reason": "x"},
    )

    assert page.status_code == 200 and "Act on it" not in page.content.decode()
    assert acted.status_code == 403
