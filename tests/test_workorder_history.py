"""Nothing changes on a work order unrecorded: every edit leaves a history row with who."""

import pytest
from django.contrib.admin.sites import site as admin_site
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse

from tests.factories import TechnicianFactory, WorkOrderFactory
from workorders.models import MaintenancePlan, WorkOrder, WorkOrderEvent
from workorders.services import lifecycle

PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 64


@pytest.fixture
def own_open_order(actors):
    tech = TechnicianFactory(user=actors.technician)
    order = WorkOrderFactory(status="on_site", technician=tech)
    WorkOrder.objects.filter(pk=order.pk).update(checklist=[{"item": "Check the cable", "done": False}])
    order.refresh_from_db()
    return order


def edits(order) -> list[tuple[str, str, str]]:
    return [
        (e.change, e.by.username if e.by else "", e.note)
        for e in WorkOrderEvent.objects.filter(work_order=order).exclude(change="status").order_by("id")
    ]


@pytest.mark.django_db
def test_each_fieldwork_edit_leaves_a_row_with_who(client, actors, own_open_order):
    client.force_login(actors.technician)

    response = client.post(
        reverse("workorders:fieldwork", args=[own_open_order.pk]),
        {"checklist": ["0"], "notes": "Cable cut", "parts_used": "1 cable", "follow_up": "Check in a week"},
    )

    assert response.status_code == 302
    assert edits(own_open_order) == [
        ("checklist", "tom", "ticked Check the cable"),
        ("notes", "tom", "written: Cable cut"),
        ("parts_used", "tom", "written: 1 cable"),
        ("follow_up", "tom", "written: Check in a week"),
    ]


@pytest.mark.django_db
def test_saving_without_a_change_records_nothing(actors, own_open_order):
    lifecycle.workorder_update_fieldwork(work_order=own_open_order, by=actors.technician, notes="", checklist_done=[])

    assert edits(own_open_order) == []


@pytest.mark.django_db
def test_photo_leaves_a_row_with_who(client, actors, own_open_order, tmp_path, settings):
    settings.MEDIA_ROOT = tmp_path
    client.force_login(actors.technician)

    client.post(
        reverse("workorders:photo-add", args=[own_open_order.pk]),
        {"photo": SimpleUploadedFile("p.png", PNG, content_type="image/png")},
    )

    assert edits(own_open_order) == [("photo", "tom", "added")]


@pytest.mark.django_db
def test_too_long_notes_are_refused_in_the_page_keeping_what_was_typed(client, actors, own_open_order):
    client.force_login(actors.technician)
    notes = "n" * (lifecycle.MAX_NOTES + 1)

    response = client.post(
        reverse("workorders:fieldwork", args=[own_open_order.pk]),
        {"notes": notes, "parts_used": "kept parts", "follow_up": ""},
    )

    assert response.status_code == 400
    body = response.content.decode()
    assert "Notes: Ensure this value has at most 4000 characters" in body
    assert notes in body and "kept parts" in body
    assert edits(own_open_order) == []


@pytest.mark.django_db
def test_history_names_statuses_and_edits_for_people(client, actors, own_open_order):
    lifecycle.workorder_update_fieldwork(work_order=own_open_order, by=actors.technician, parts_used="fuse")
    lifecycle.workorder_transition(work_order=own_open_order, to="on_hold", by=actors.technician)
    client.force_login(actors.technician)

    body = client.get(reverse("workorders:detail", args=[own_open_order.pk])).content.decode()

    assert "On site &rarr; <strong>on hold for parts</strong>" in body
    assert "<strong>Parts used</strong> · written: fuse" in body


@pytest.mark.django_db
def test_admin_edits_only_title_and_priority_and_records_them(client, actors):
    order = WorkOrderFactory(title="Old title", priority="p2")
    client.force_login(actors.operator)
    url = reverse("admin:workorders_workorder_change", args=[order.pk])

    form = client.get(url)
    response = client.post(url, {"title": "New title", "priority": "p1", "status": "closed", **_no_inline()})

    assert set(form.context["adminform"].form.base_fields) == {"title", "priority"}
    assert response.status_code == 302
    order.refresh_from_db()
    assert (order.title, order.priority, order.status) == ("New title", "p1", "new")
    event = WorkOrderEvent.objects.get(work_order=order, change="details")
    assert event.by == actors.operator and event.via == "admin"
    assert not admin_site._registry[WorkOrder].has_add_permission(form.wsgi_request)


def _no_inline():
    return {
        "events-TOTAL_FORMS": "0",
        "events-INITIAL_FORMS": "0",
        "events-MIN_NUM_FORMS": "0",
        "events-MAX_NUM_FORMS": "0",
    }


@pytest.mark.django_db
def test_maintenance_plan_checklist_is_edited_as_lines(client, actors):
    client.force_login(actors.operator)

    response = client.post(
        reverse("admin:workorders_maintenanceplan_add"),
        {
            "name": "Quarterly",
            "every_days": "90",
            "checklist": "Clean filters\r\n\r\n  Tighten terminals \r\n",
            "skills": "ac",
        },
    )

    assert response.status_code == 302
    plan = MaintenancePlan.objects.get(name="Quarterly")
    assert plan.checklist == ["Clean filters", "Tighten terminals"]
    page = client.get(reverse("admin:workorders_maintenanceplan_change", args=[plan.pk])).content.decode()
    assert "Clean filters\nTighten terminals</textarea>" in page
