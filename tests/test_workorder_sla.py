"""One SLA rule: the page, the API, its filter, the workload and the KPIs agree."""

from datetime import timedelta

import pytest
from django.urls import reverse
from django.utils import timezone
from rest_framework.test import APIClient

from tests.factories import WorkOrderFactory
from workorders.models import WorkOrder, WorkOrderStatus
from workorders.services import sla
from workorders.services.sla import SlaState

S = WorkOrderStatus
HOUR = timedelta(hours=1)


def order_with(**fields) -> WorkOrder:
    return WorkOrderFactory(**fields)


@pytest.fixture
def resolved_on_time_unverified_past_due():
    """Resolved an hour before its due time, the charger has not confirmed, and it is now past due."""
    now = timezone.now()
    return order_with(
        status=S.RESOLVED,
        sla_due_at=now - HOUR,
        on_site_started_at=now - 3 * HOUR,
        on_site_ended_at=now - 2 * HOUR,
    )


@pytest.mark.django_db
def test_resolved_on_time_but_unverified_and_past_due_is_breached_everywhere(
    client, actors, resolved_on_time_unverified_past_due
):
    order = resolved_on_time_unverified_past_due
    now = timezone.now()
    api = APIClient()
    api.force_login(actors.dispatcher)
    client.force_login(actors.dispatcher)

    page = client.get(reverse("workorders:detail", args=[order.pk]))
    board = client.get(reverse("workorders:board"), {"sla_breached": "true"})
    listed = api.get("/api/workorders/", {"sla_breached": "true"}).json()["results"]
    one = api.get(f"/api/workorders/{order.pk}/").json()

    assert sla.sla_state(order, now) == SlaState.BREACHED
    assert "SLA breached" in page.content.decode() and "SLA met" not in page.content.decode()
    assert [o.pk for o in board.context["orders"]] == [order.pk]
    assert [o["id"] for o in listed] == [order.pk]
    assert (one["sla_breached"], one["sla_state"]) == (True, "breached")


@pytest.mark.django_db
def test_no_sla_met_before_the_charger_verified_the_fix(client, actors):
    now = timezone.now()
    order = order_with(status=S.RESOLVED, sla_due_at=now + 5 * HOUR, on_site_ended_at=now - HOUR)
    client.force_login(actors.dispatcher)

    body = client.get(reverse("workorders:detail", args=[order.pk])).content.decode()

    assert sla.sla_state(order, now) == SlaState.OK
    assert "SLA met" not in body


@pytest.mark.django_db
def test_python_rule_and_database_expression_agree_on_every_case():
    now = timezone.now()
    cases = {
        "met": {"status": S.VERIFIED, "sla_due_at": now - HOUR, "verified_at": now - 2 * HOUR},
        "missed": {"status": S.CLOSED, "sla_due_at": now - 2 * HOUR, "verified_at": now - HOUR},
        "breached": {"status": S.ON_SITE, "sla_due_at": now - HOUR},
        "resolved, past due": {"status": S.RESOLVED, "sla_due_at": now - HOUR, "on_site_ended_at": now - 2 * HOUR},
        "soon": {"status": S.ASSIGNED, "sla_due_at": now + timedelta(minutes=30)},
        "ok": {"status": S.NEW, "sla_due_at": now + 5 * HOUR},
        "cancelled": {"status": S.CANCELLED, "sla_due_at": now - HOUR},
    }
    orders = {name: order_with(**fields) for name, fields in cases.items()}

    in_database = dict(sla.with_sla_state(WorkOrder.objects.all(), now).values_list("pk", "sla_state_value"))

    for name, order in orders.items():
        assert in_database[order.pk] == sla.sla_state(order, now).value, name
    breached = set(sla.filter_breached(WorkOrder.objects.all(), now).values_list("pk", flat=True))
    assert breached == {o.pk for o in orders.values() if sla.is_breached(o, now)}
    assert breached == {orders["missed"].pk, orders["breached"].pk, orders["resolved, past due"].pk}


@pytest.mark.django_db
def test_workload_counts_breached_orders_by_the_same_rule(client, actors, resolved_on_time_unverified_past_due):
    order = resolved_on_time_unverified_past_due
    from tests.factories import TechnicianFactory

    tech = TechnicianFactory()
    WorkOrder.objects.filter(pk=order.pk).update(technician=tech)
    client.force_login(actors.dispatcher)

    rows = client.get(reverse("workorders:technicians")).context["technicians"]

    assert next(t for t in rows if t.pk == tech.pk).breached == 1
