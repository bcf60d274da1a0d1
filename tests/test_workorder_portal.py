"""The workorders portal as a new user meets it: fixed query counts, refusals that
keep what was typed, one way to show time, navigation, error pages, the API root."""

from datetime import UTC, datetime, timedelta

import pytest
from django.urls import reverse
from django.utils import timezone
from rest_framework.test import APIClient

from stations.services import status
from tests.factories import IncidentFactory, StationFactory, TechnicianFactory, WorkOrderFactory
from tests.helpers import amsterdam_station
from workorders.models import DispatchDecision, WorkOrder, WorkOrderEvent

# Queries each page costs, whatever the number of rows (session, user and
# permissions included). A change here is a change in the page's reads.
PINNED = {
    "my-queue": 6,
    "board": 9,
    "board-live": 7,
    "incident-board": 8,
    "technicians": 7,
    "detail": 13,
    "live": 10,
    "incident-detail": 9,
    "dispatch": 8,
}


@pytest.fixture
def tom_tech(actors):
    return TechnicianFactory(user=actors.technician)


def orders_for(tech, n: int) -> list[WorkOrder]:
    made = []
    for _ in range(n):
        order = WorkOrderFactory(technician=tech, status="assigned")
        WorkOrderEvent.objects.create(work_order=order, to_status="assigned", at=timezone.now())
        made.append(order)
    return made


@pytest.mark.django_db
@pytest.mark.parametrize("name", ["my-queue", "board", "board-live", "incident-board", "technicians"])
def test_list_pages_cost_a_fixed_number_of_queries(client, actors, tom_tech, django_assert_num_queries, name):
    user = actors.technician if name == "my-queue" else actors.dispatcher
    client.force_login(user)
    url = reverse(f"workorders:{name}")
    orders_for(tom_tech, 1)
    with django_assert_num_queries(PINNED[name]):
        assert client.get(url).status_code == 200
    orders_for(tom_tech, 25)
    with django_assert_num_queries(PINNED[name]):
        assert client.get(url).status_code == 200


@pytest.mark.django_db
@pytest.mark.parametrize("name", ["detail", "live", "dispatch", "incident-detail"])
def test_order_and_incident_pages_cost_a_fixed_number_of_queries(
    client, actors, tom_tech, django_assert_num_queries, name
):
    order = orders_for(tom_tech, 1)[0]
    args = [order.incident_id] if name == "incident-detail" else [order.pk]
    client.force_login(actors.dispatcher)
    url = reverse(f"workorders:{name}", args=args)

    def more_rows():
        connector = order.connector
        for n in range(15):
            event = status.connector_status_report(
                station_id=order.station_id, connector_id=1, status="Faulted", error_code="InternalError",
                vendor_error_code=f"E{n}",
            )  # fmt: skip
            order.incident.status_events.add(event)
            order.incident.steps.create(kind="note", reason=f"note {n}", at=timezone.now(), key=f"n{n}")
            WorkOrderEvent.objects.create(work_order=order, change="notes", to_status="assigned", at=timezone.now())
        DispatchDecision.objects.create(work_order=order, reasons={}, at=timezone.now())
        return connector

    with django_assert_num_queries(PINNED[name]):
        assert client.get(url).status_code == 200
    more_rows()
    with django_assert_num_queries(PINNED[name]):
        assert client.get(url).status_code == 200


# -- refusals that keep what was typed ----------------------------------------------


@pytest.mark.django_db
def test_dispatch_without_a_choice_is_refused_not_read_as_the_proposal(client, actors, tom_tech):
    order = WorkOrderFactory()
    client.force_login(actors.dispatcher)

    response = client.post(reverse("workorders:dispatch", args=[order.pk]), {"technician": ""})

    assert response.status_code == 400
    assert "Choose a technician, or accept the proposal." in response.content.decode()
    order.refresh_from_db()
    assert order.technician is None and not DispatchDecision.objects.exists()


@pytest.mark.django_db
def test_dispatch_accepting_the_proposal_still_works(client, actors, tom_tech):
    order = WorkOrderFactory()
    client.force_login(actors.dispatcher)

    response = client.post(reverse("workorders:dispatch", args=[order.pk]), {"accept": "on"})

    assert response.status_code == 302
    order.refresh_from_db()
    assert order.technician == tom_tech


@pytest.mark.django_db
def test_too_long_resolution_code_is_refused_in_the_page(client, actors, tom_tech):
    order = WorkOrderFactory(technician=tom_tech, status="on_site")
    client.force_login(actors.technician)

    response = client.post(reverse("workorders:move", args=[order.pk]), {"to": "resolved", "resolution_code": "r" * 41})

    assert response.status_code == 400
    assert "at most 40 characters" in response.content.decode()
    assert WorkOrder.objects.get(pk=order.pk).status == "on_site"


# -- a work order from a station or an incident ---------------------------------------


@pytest.mark.django_db
def test_dispatcher_creates_a_work_order_from_a_station_page(client, actors):
    station = amsterdam_station("NEW-WO")
    client.force_login(actors.dispatcher)

    station_page = client.get(reverse("stations:station-detail", args=[station.identity])).content.decode()
    form = client.get(reverse("workorders:create"), {"station": station.identity})
    empty = client.post(reverse("workorders:create"), {"station": station.identity, "title": "", "kind": "inspection"})
    made = client.post(
        reverse("workorders:create"),
        {"station": station.identity, "title": "Check the canopy", "kind": "inspection", "priority": "p3"},
    )

    assert f"/workorders/new/?station={station.identity}" in station_page
    assert form.status_code == 200 and empty.status_code == 400
    order = WorkOrder.objects.get(station=station)
    assert made.url == reverse("workorders:detail", args=[order.pk])
    assert (order.title, order.kind, order.priority) == ("Check the canopy", "inspection", "p3")
    assert order.events.get().by == actors.dispatcher


@pytest.mark.django_db
def test_dispatcher_creates_a_work_order_for_an_incident(client, actors, tom_tech):
    incident = IncidentFactory()
    client.force_login(actors.dispatcher)

    page = client.get(reverse("workorders:incident-detail", args=[incident.pk])).content.decode()
    client.post(
        reverse("workorders:create"),
        {"incident": incident.pk, "title": "Replace cable", "kind": "corrective", "priority": "p1",
         "connector": incident.connector_id, "dispatch_now": "on"},
    )  # fmt: skip

    assert f"/workorders/new/?incident={incident.pk}" in page
    order = WorkOrder.objects.get(incident=incident)
    assert (order.station_id, order.connector_id, order.technician) == (
        incident.station_id,
        incident.connector_id,
        tom_tech,
    )


@pytest.mark.django_db
def test_technician_cannot_create_work_orders(client, actors):
    station = StationFactory()
    client.force_login(actors.technician)
    assert client.get(reverse("workorders:create"), {"station": station.identity}).status_code == 403


# -- time, status names, faulted since --------------------------------------------------


@pytest.mark.django_db
def test_times_are_in_the_sites_zone_with_the_zone_named(client, actors, tom_tech):
    order = WorkOrderFactory(technician=tom_tech, status="assigned")
    due = datetime(2030, 1, 15, 11, 30, tzinfo=UTC)
    WorkOrder.objects.filter(pk=order.pk).update(sla_due_at=due)
    DispatchDecision.objects.create(work_order=order, reasons={}, at=due)
    client.force_login(actors.dispatcher)

    detail = client.get(reverse("workorders:detail", args=[order.pk])).content.decode()
    dispatch = client.get(reverse("workorders:dispatch", args=[order.pk])).content.decode()

    # The factory's sites are in Amsterdam: 11:30 UTC is 12:30 CET.
    assert "15 Jan 2030, 12:30 CET" in detail
    assert "15 Jan 2030, 12:30 CET" in dispatch


@pytest.mark.django_db
def test_faulted_since_survives_the_same_fault_reported_again(client, actors, tom_tech):
    order = WorkOrderFactory(technician=tom_tech, status="on_site")
    first_at = timezone.now() - timedelta(hours=2)
    for minutes in (0, 30, 60):
        status.connector_status_report(
            station_id=order.station_id, connector_id=1, status="Faulted", error_code="GroundFailure",
            now=first_at + timedelta(minutes=minutes),
        )  # fmt: skip
    client.force_login(actors.technician)

    live = client.get(reverse("workorders:live", args=[order.pk]))

    connector = next(c for c in live.context["connectors"] if c.connector_id == 1)
    assert connector.since == first_at


# -- navigation, error pages, favicon, the API root ---------------------------------------


@pytest.mark.django_db
def test_dispatcher_reaches_every_page_of_the_role_from_the_navigation(client, actors):
    client.force_login(actors.dispatcher)

    nav = client.get(reverse("workorders:board")).content.decode().split("<main>")[0]

    for url in ("stations:station-list", "workorders:board", "workorders:incident-board", "workorders:technicians"):
        assert f'href="{reverse(url)}"' in nav
    assert f'href="{reverse("kpis")}"' in nav
    assert 'rel="icon"' in nav and "favicon.svg" in nav


@pytest.mark.django_db
def test_technician_navigation_is_their_queue(client, actors, tom_tech):
    client.force_login(actors.technician)
    nav = client.get(reverse("workorders:my-queue")).content.decode().split("<main>")[0]
    assert f'href="{reverse("workorders:my-queue")}"' in nav and reverse("kpis") not in nav


@pytest.mark.django_db
def test_403_and_404_use_the_portal_layout(client, actors):
    client.force_login(actors.technician)

    forbidden = client.get(reverse("workorders:board"))
    missing = client.get("/workorders/999999/")

    assert forbidden.status_code == 403 and missing.status_code == 404
    for response, heading in ((forbidden, "Not allowed"), (missing, "Not found")):
        body = response.content.decode()
        assert f"<h1>{heading}</h1>" in body and 'class="topbar"' in body and "Log out tom" in body


@pytest.mark.django_db
def test_api_root_lists_every_endpoint(actors):
    api = APIClient()
    api.force_login(actors.support)

    listed = api.get("/api/").json()

    for name in ("stations", "connectors", "sessions", "frames", "commands", "incidents", "workorders"):
        assert listed[name].endswith(f"/api/{name}/")
    for name in ("technicians", "playbook", "kpis"):
        assert listed[name].endswith(f"/api/{name}/")
