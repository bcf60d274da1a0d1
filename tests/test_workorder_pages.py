"""Work order pages: who may open and act on what, what they show, fixed query counts."""

from datetime import timedelta

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.core.management import call_command
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from stations.models import RemoteCommand
from tests.factories import ROTTERDAM, StationFactory
from tests.helpers import advance, amsterdam_station, fault, technician
from workorders.models import DispatchDecision, Incident, Technician, WorkOrder, WorkOrderPhoto
from workorders.services import lifecycle

PNG = (
    b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\x00\x00\x00\x01\x00\x00\x00\x01\x08\x06\x00\x00\x00\x1f\x15\xc4\x89"
    b"\x00\x00\x00\rIDATx\x9cc\xf8\xff\xff?\x00\x05\xfe\x02\xfe\xa7V\xbd\xfa\x00\x00\x00\x00IEND\xaeB`\x82"
)


@pytest.fixture
def tom(actors):
    """The technician actor, with a technician profile."""
    return Technician.objects.create(
        user=actors.technician, skills=["ac", "dc", "hv", "mechanical", "network"], work_start="00:00", work_end="23:59"
    )


def make_order(station, *, tech=None, moves=(), title="Connector 1 faulted", priority="p2", **kwargs) -> WorkOrder:
    order = lifecycle.workorder_create(
        kind="corrective",
        station=station,
        connector=station.connectors.filter(connector_id=1).first(),
        title=title,
        priority=priority,
        **kwargs,
    )
    if tech is not None:
        order = lifecycle.workorder_transition(work_order=order, to="assigned", technician=tech)
    for to in moves:
        order = lifecycle.workorder_transition(work_order=order, to=to)
    return order


@pytest.fixture
def own_order(tom):
    return make_order(amsterdam_station("WO-OWN"), tech=tom, checklist=["Check the cable", "Test the RCD"])


@pytest.fixture
def others_order(actors):
    return make_order(amsterdam_station("WO-OTHER"), tech=technician("olivia"))


def _queries(client, url) -> list[str]:
    with CaptureQueriesContext(connection) as ctx:
        response = client.get(url)
    assert response.status_code == 200
    return [q["sql"] for q in ctx.captured_queries]


# --- Who may open what ------------------------------------------------------


@pytest.mark.django_db
@pytest.mark.parametrize(
    "name", ["board", "my-queue", "technicians", "incident-board", "detail", "live", "dispatch", "incident-detail"]
)
def test_anonymous_visitor_is_sent_to_login(client, own_order, name):
    args = {"detail": [own_order.pk], "live": [own_order.pk], "dispatch": [own_order.pk], "incident-detail": [1]}
    response = client.get(reverse(f"workorders:{name}", args=args.get(name, [])))
    assert response.status_code == 302
    assert response.url.startswith(reverse("login"))


@pytest.mark.django_db
def test_technician_opens_their_own_work_order_and_its_live_part(client, actors, own_order):
    client.force_login(actors.technician)
    detail = client.get(reverse("workorders:detail", args=[own_order.pk]))
    live = client.get(reverse("workorders:live", args=[own_order.pk]))
    assert detail.status_code == 200 and live.status_code == 200
    assert "WO-OWN" in detail.content.decode()


@pytest.mark.django_db
@pytest.mark.parametrize("name", ["detail", "live"])
def test_technician_gets_404_for_another_technicians_work_order(client, actors, tom, others_order, name):
    client.force_login(actors.technician)
    assert client.get(reverse(f"workorders:{name}", args=[others_order.pk])).status_code == 404


@pytest.mark.django_db
def test_technician_cannot_act_on_another_technicians_work_order(client, actors, tom, others_order):
    client.force_login(actors.technician)
    moved = client.post(reverse("workorders:move", args=[others_order.pk]), {"to": "en_route"})
    commanded = client.post(reverse("workorders:command", args=[others_order.pk]), {"command": "soft_reset"})
    assert (moved.status_code, commanded.status_code) == (404, 404)
    others_order.refresh_from_db()
    assert others_order.status == "assigned"
    assert not RemoteCommand.objects.exists()


@pytest.mark.django_db
@pytest.mark.parametrize("name", ["board", "technicians", "incident-board", "dispatch"])
def test_technician_cannot_open_the_boards(client, actors, own_order, name):
    client.force_login(actors.technician)
    args = [own_order.pk] if name == "dispatch" else []
    assert client.get(reverse(f"workorders:{name}", args=args)).status_code == 403


@pytest.mark.django_db
def test_support_agent_sees_incidents_read_only(client, actors, own_order):
    incident = Incident.objects.create(
        station=own_order.station, connector=own_order.connector, kind="fault", opened_at=timezone.now()
    )
    client.force_login(actors.support)
    assert client.get(reverse("workorders:incident-board")).status_code == 200
    assert client.get(reverse("workorders:incident-detail", args=[incident.pk])).status_code == 200
    assert client.get(reverse("workorders:board")).status_code == 403
    assert client.get(reverse("workorders:detail", args=[own_order.pk])).status_code == 403


@pytest.mark.django_db
def test_support_agent_cannot_dispatch(client, actors, own_order):
    client.force_login(actors.support)
    url = reverse("workorders:dispatch", args=[own_order.pk])
    assert client.get(url).status_code == 403
    assert client.post(url, {"accept": "on"}).status_code == 403
    assert not DispatchDecision.objects.exists()


@pytest.mark.django_db
@pytest.mark.parametrize("actor", ["dispatcher", "operator"])
@pytest.mark.parametrize("name", ["board", "technicians", "incident-board", "detail", "live", "dispatch"])
def test_dispatcher_and_operator_open_every_page(client, actors, own_order, actor, name):
    client.force_login(getattr(actors, actor))
    args = [own_order.pk] if name in ("detail", "live", "dispatch") else []
    assert client.get(reverse(f"workorders:{name}", args=args)).status_code == 200


@pytest.mark.django_db
@pytest.mark.parametrize("name", ["board", "my-queue", "incident-board", "technicians"])
def test_user_without_a_role_gets_403(client, actors, name):
    client.force_login(actors.outsider)
    assert client.get(reverse(f"workorders:{name}")).status_code == 403


# --- The technician's queue ---------------------------------------------------


@pytest.mark.django_db
def test_queue_groups_own_open_orders_by_urgency_then_sla(client, actors, tom):
    station = amsterdam_station("Q-1")
    now = timezone.now()
    make_order(station, tech=tom, title="later", priority="p3")  # due in a week
    urgent = make_order(station, tech=tom, title="urgent", priority="p1")
    overdue = make_order(station, tech=tom, title="overdue")
    WorkOrder.objects.filter(pk=urgent.pk).update(sla_due_at=now + timedelta(hours=2))
    WorkOrder.objects.filter(pk=overdue.pk).update(sla_due_at=now - timedelta(hours=1))
    make_order(station, tech=tom, title="done", moves=["cancelled"])
    make_order(amsterdam_station("Q-2"), tech=technician("someone-else"), title="not mine")
    client.force_login(actors.technician)

    response = client.get(reverse("workorders:my-queue"))

    groups = {group.title: [o.title for o in group.orders] for group in response.context["groups"]}
    assert groups["Overdue"] == ["overdue"]
    assert groups["Due within 4 h"] == ["urgent"]
    assert groups["Later"] == ["later"]
    body = response.content.decode()
    assert "not mine" not in body and "done" not in body
    assert "SLA breached" in body and "P1" in body and "Q-1" in body


@pytest.mark.django_db
def test_queue_query_count_does_not_grow_with_orders(client, actors, tom):
    client.force_login(actors.technician)
    url = reverse("workorders:my-queue")
    make_order(amsterdam_station("QC-0"), tech=tom)
    with_one = _queries(client, url)
    for n in range(29):
        make_order(amsterdam_station(f"QC-{n + 1}"), tech=tom)
    with_many = _queries(client, url)
    assert len(with_one) == len(with_many), "\n".join(with_many)


# --- Acting on a work order -------------------------------------------------


@pytest.mark.django_db
def test_technician_sends_an_onsite_command_to_their_work_orders_station(client, actors, own_order):
    client.force_login(actors.technician)

    response = client.post(
        reverse("workorders:command", args=[own_order.pk]), {"command": "soft_reset", "confirm": "on"}
    )

    assert response.status_code == 302
    command = RemoteCommand.objects.get()
    assert (command.station, command.action, command.payload) == (own_order.station, "Reset", {"type": "Soft"})
    assert command.requested_by == actors.technician


@pytest.mark.django_db
def test_technician_command_to_a_station_without_their_open_work_is_refused(client, actors, own_order):
    elsewhere = StationFactory(identity="NOT-MINE")
    client.force_login(actors.technician)

    response = client.post(
        reverse("stations:station-command", args=[elsewhere.identity]),
        {"action": "Reset", "payload": '{"type": "Soft"}', "confirm": "on"},
    )

    assert response.status_code == 403
    assert not RemoteCommand.objects.exists()


@pytest.mark.django_db
def test_technician_command_through_their_closed_work_order_is_refused(client, actors, tom):
    order = make_order(amsterdam_station("WO-DONE"), tech=tom, moves=["cancelled"])
    client.force_login(actors.technician)

    response = client.post(reverse("workorders:command", args=[order.pk]), {"command": "soft_reset", "confirm": "on"})

    assert response.status_code == 403
    assert not RemoteCommand.objects.exists()


@pytest.mark.django_db
def test_disruptive_command_without_confirmation_is_a_400(client, actors, own_order):
    client.force_login(actors.technician)
    response = client.post(reverse("workorders:command", args=[own_order.pk]), {"command": "hard_reset"})
    assert response.status_code == 400
    assert "confirm" in response.content.decode()
    assert not RemoteCommand.objects.exists()


@pytest.mark.django_db
def test_work_order_page_offers_the_onsite_commands_to_its_technician_only(client, actors, own_order):
    url = reverse("workorders:detail", args=[own_order.pk])
    client.force_login(actors.technician)
    technician_buttons = [c.label for c in client.get(url).context["onsite_commands"]]
    client.force_login(actors.dispatcher)
    dispatcher_buttons = client.get(url).context["onsite_commands"]

    assert technician_buttons[:3] == ["Soft reset", "Hard reset", "Trigger status"]
    assert "Unlock connector 1" in technician_buttons
    assert "Take connector 1 out of service" in technician_buttons
    assert dispatcher_buttons == []


@pytest.mark.django_db
def test_illegal_status_move_is_a_400_with_a_clear_message(client, actors, own_order):
    client.force_login(actors.technician)

    response = client.post(reverse("workorders:move", args=[own_order.pk]), {"to": "resolved", "resolution_code": "x"})

    assert response.status_code == 400
    assert "cannot go from assigned to resolved" in response.content.decode()
    own_order.refresh_from_db()
    assert own_order.status == "assigned"


@pytest.mark.django_db
def test_technician_may_not_cancel_their_order(client, actors, own_order):
    client.force_login(actors.technician)
    response = client.post(reverse("workorders:move", args=[own_order.pk]), {"to": "cancelled"})
    assert response.status_code == 403
    own_order.refresh_from_db()
    assert own_order.status == "assigned"


@pytest.mark.django_db
def test_arriving_on_site_starts_the_on_site_time_and_records_who(client, actors, own_order):
    client.force_login(actors.technician)

    response = client.post(reverse("workorders:move", args=[own_order.pk]), {"to": "on_site"})

    assert response.status_code == 302
    own_order.refresh_from_db()
    assert own_order.status == "on_site" and own_order.on_site_started_at
    assert own_order.events.last().by == actors.technician


@pytest.mark.django_db
def test_resolving_requires_a_resolution_code(client, actors, tom):
    station = amsterdam_station("WO-RES")
    station.connectors.filter(connector_id=1).update(status="Faulted", error_code="GroundFailure")
    order = make_order(station, tech=tom, moves=["on_site"])
    client.force_login(actors.technician)
    url = reverse("workorders:move", args=[order.pk])

    refused = client.post(url, {"to": "resolved", "resolution_code": "  "})
    order.refresh_from_db()
    status_after_refusal = order.status
    accepted = client.post(url, {"to": "resolved", "resolution_code": "replaced-cable"})

    assert refused.status_code == 400
    assert "resolution code is required" in refused.content.decode()
    assert status_after_refusal == "on_site"
    assert accepted.status_code == 302
    order.refresh_from_db()
    assert (order.status, order.resolution_code) == ("resolved", "replaced-cable")
    assert order.on_site_ended_at is not None


@pytest.mark.django_db
def test_technician_records_checklist_notes_parts_and_follow_up(client, actors, own_order):
    client.force_login(actors.technician)

    response = client.post(
        reverse("workorders:fieldwork", args=[own_order.pk]),
        {"checklist": ["1"], "notes": "RCD tripped again", "parts_used": "RCD type B", "follow_up": "replace cable"},
    )

    assert response.status_code == 302
    own_order.refresh_from_db()
    assert [item["done"] for item in own_order.checklist] == [False, True]
    assert (own_order.notes, own_order.parts_used, own_order.follow_up) == (
        "RCD tripped again",
        "RCD type B",
        "replace cable",
    )


@pytest.mark.django_db
def test_photo_is_stored_and_shown_only_to_who_may_see_the_order(client, actors, own_order, tmp_path, settings):
    settings.MEDIA_ROOT = tmp_path
    client.force_login(actors.technician)

    uploaded = client.post(
        reverse("workorders:photo-add", args=[own_order.pk]),
        {"photo": SimpleUploadedFile("site.png", PNG, content_type="image/png")},
    )

    assert uploaded.status_code == 302
    photo = WorkOrderPhoto.objects.get()
    assert photo.uploaded_by == actors.technician and photo.image.name.endswith(".png")
    url = reverse("workorders:photo", args=[own_order.pk, photo.pk])
    served = client.get(url)
    assert served.status_code == 200 and served["Content-Type"] == "image/png"
    assert b"".join(served.streaming_content) == PNG
    client.force_login(actors.support)
    assert client.get(url).status_code == 403


@pytest.mark.django_db
def test_file_that_is_not_an_image_is_refused(client, actors, own_order, tmp_path, settings):
    settings.MEDIA_ROOT = tmp_path
    client.force_login(actors.technician)
    response = client.post(
        reverse("workorders:photo-add", args=[own_order.pk]),
        {"photo": SimpleUploadedFile("x.png", b"<svg onload=alert(1)>", content_type="image/png")},
    )
    assert response.status_code == 400
    assert not WorkOrderPhoto.objects.exists()


@pytest.mark.django_db(transaction=True)
@pytest.mark.usefixtures("playbook_seeded")
def test_work_order_page_shows_diagnosis_playbook_and_incident_timeline(client, actors, tom, settings):
    settings.REMEDIATION_GRACE_S = 0
    station = amsterdam_station("WO-DIAG", connected=True)
    fault(station, error_code="OtherError", vendor_error_code="CX026")  # cut cable: straight to a truck
    advance(Incident.objects.get())
    order = WorkOrder.objects.get()
    client.force_login(actors.technician)

    response = client.get(reverse("workorders:detail", args=[order.pk]))

    body = response.content.decode()
    assert order.technician == tom
    assert "CX026" in body and order.incident.playbook.meaning in body
    assert "What to do on site" in body and "Why a visit" in body
    assert "Incident timeline" in body and "truck roll" in body
    assert 'id="station-live"' in body and "Faulted" in body


# --- Dispatch -----------------------------------------------------------------


@pytest.mark.django_db
def test_dispatcher_override_records_the_decision_and_who_made_it(client, actors):
    order = make_order(amsterdam_station("WO-DISP"))
    near = technician("near")
    far = technician("far", at=ROTTERDAM)
    client.force_login(actors.dispatcher)
    url = reverse("workorders:dispatch", args=[order.pk])
    proposal = client.get(url).context["proposal"]

    response = client.post(url, {"technician": str(far.pk)})

    assert proposal.technician == near
    assert response.status_code == 302
    decision = DispatchDecision.objects.get()
    assert (decision.proposed, decision.chosen, decision.decided_by) == (near, far, actors.dispatcher)
    assert decision.decided_via == "dispatcher" and decision.reasons["override"] is True
    order.refresh_from_db()
    assert (order.status, order.technician) == ("assigned", far)


@pytest.mark.django_db
def test_dispatcher_accepts_the_proposal(client, actors):
    order = make_order(amsterdam_station("WO-ACC"))
    near = technician("near")
    technician("far", at=ROTTERDAM)
    client.force_login(actors.dispatcher)

    client.post(reverse("workorders:dispatch", args=[order.pk]), {"accept": "on", "technician": ""})

    decision = DispatchDecision.objects.get()
    assert decision.chosen == near and decision.reasons["override"] is False
    assert decision.decided_by == actors.dispatcher


# --- Boards ---------------------------------------------------------------------


@pytest.mark.django_db
def test_work_order_board_query_count_does_not_grow_with_orders(client, actors, tom):
    client.force_login(actors.dispatcher)
    url = reverse("workorders:board")
    make_order(amsterdam_station("B-0"), tech=tom)
    with_one = _queries(client, url)
    for n in range(29):
        make_order(amsterdam_station(f"B-{n + 1}"), tech=tom if n % 2 else None)
    with_many = _queries(client, url)
    assert len(with_one) == len(with_many), "\n".join(with_many)


@pytest.mark.django_db
def test_work_order_board_paginates(client, actors):
    station = amsterdam_station("PAGES")
    for _ in range(60):
        make_order(station)
    client.force_login(actors.dispatcher)

    first = client.get(reverse("workorders:board"))
    second = client.get(reverse("workorders:board"), {"page": 2})

    assert first.context["paginator"].count == 60
    assert len(first.context["orders"]) == 50 and len(second.context["orders"]) == 10
    assert "Page 1 of 2" in first.content.decode()


@pytest.mark.django_db
def test_work_order_board_filters(client, actors, tom):
    station = amsterdam_station("FILTER")
    mine = make_order(station, tech=tom, priority="p1")
    late = make_order(station, priority="p3")
    WorkOrder.objects.filter(pk=late.pk).update(sla_due_at=timezone.now() - timedelta(minutes=5))
    closed = make_order(station, moves=["cancelled"])
    client.force_login(actors.dispatcher)

    def ids(**params):
        return sorted(o.pk for o in client.get(reverse("workorders:board"), params).context["orders"])

    assert ids() == sorted([mine.pk, late.pk])
    assert ids(priority="p1") == [mine.pk]
    assert ids(technician=tom.user.username) == [mine.pk]
    assert ids(sla_breached="true") == [late.pk]
    assert ids(status="cancelled") == [closed.pk]
    assert ids(status="all") == sorted([mine.pk, late.pk, closed.pk])
    assert ids(site=station.site.name) == sorted([mine.pk, late.pk])


@pytest.mark.django_db
def test_incident_board_shows_where_each_incident_is(client, actors):
    station = amsterdam_station("INC-1")
    now = timezone.now()
    incident = Incident.objects.create(
        station=station, connector=station.connectors.get(connector_id=1), kind="fault", error_code="InternalError",
        opened_at=now, next_check_at=now + timedelta(minutes=1),
    )  # fmt: skip
    incident.steps.create(kind="opened", key="opened", reason="charger reported a fault: InternalError", at=now)
    closed = Incident.objects.create(
        station=station, connector=station.connectors.get(connector_id=0), kind="offline", status="closed",
        opened_at=now, closed_at=now,
    )  # fmt: skip
    client.force_login(actors.dispatcher)

    open_page = client.get(reverse("workorders:incident-board"))
    closed_page = client.get(reverse("workorders:incident-board"), {"open": "false"})

    assert [i.pk for i in open_page.context["incidents"]] == [incident.pk]
    assert [i.pk for i in closed_page.context["incidents"]] == [closed.pk]
    body = open_page.content.decode()
    assert "remote step 1 of" in body and "charger reported a fault: InternalError" in body


@pytest.mark.django_db
def test_technician_workload_counts_open_orders_by_status(client, actors, tom):
    station = amsterdam_station("LOAD")
    make_order(station, tech=tom)
    make_order(station, tech=tom, moves=["on_site"])
    make_order(station, tech=tom, moves=["cancelled"])
    client.force_login(actors.dispatcher)

    response = client.get(reverse("workorders:technicians"))

    row = next(t for t in response.context["technicians"] if t.pk == tom.pk)
    assert row.open_orders == 2
    assert dict(row.by_status)["Assigned"] == 1 and dict(row.by_status)["on site"] == 1
    assert row.next_due is not None


@pytest.mark.django_db
def test_bootstrap_creates_demo_technicians_near_the_demo_sites():
    call_command("bootstrap", "--stations", "2")
    technicians = Technician.objects.select_related("user").order_by("user__username")
    assert "technician" in [t.user.username for t in technicians] and technicians.count() >= 3
    assert all(52.2 < float(t.home_latitude) < 52.5 and t.skills and t.certifications for t in technicians)
    assert all(t.user.groups.filter(name="technician").exists() for t in technicians)
