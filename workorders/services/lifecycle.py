"""Work orders: creation, the allowed status moves, and who made each move."""

from datetime import datetime, timedelta

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from stations.models import ChargingStation, Connector
from workorders.models import (
    Incident,
    MaintenancePlan,
    Priority,
    WorkOrder,
    WorkOrderEvent,
    WorkOrderKind,
    WorkOrderStatus,
)

S = WorkOrderStatus
# The only status moves there are; anything else is refused.
TRANSITIONS: dict[str, frozenset[str]] = {
    S.NEW: frozenset({S.ASSIGNED, S.CANCELLED}),
    S.ASSIGNED: frozenset({S.ASSIGNED, S.NEW, S.EN_ROUTE, S.ON_SITE, S.ON_HOLD, S.CANCELLED}),
    S.EN_ROUTE: frozenset({S.ASSIGNED, S.ON_SITE, S.ON_HOLD, S.CANCELLED}),
    S.ON_SITE: frozenset({S.ON_HOLD, S.RESOLVED}),
    S.ON_HOLD: frozenset({S.ASSIGNED, S.EN_ROUTE, S.ON_SITE, S.CANCELLED}),
    # A resolved order is verified by the charger itself (workorder_verify), or
    # goes back on site when the charger says the fix did not hold.
    S.RESOLVED: frozenset({S.VERIFIED, S.ON_SITE}),
    S.VERIFIED: frozenset({S.CLOSED}),
    S.CLOSED: frozenset(),
    S.CANCELLED: frozenset(),
}


class IllegalTransition(ValueError):
    pass


def sla_due(*, priority: str, created_at: datetime, site=None) -> datetime:
    """Due time from the priority's SLA hours; a site may stretch them (remote sites)."""
    hours = settings.WORKORDER_SLA_HOURS[priority]
    factor = site.sla_factor if site is not None else 1
    return created_at + timedelta(hours=hours * float(factor))


def workorder_create(
    *,
    kind: str,
    station: ChargingStation,
    title: str,
    priority: str = Priority.P2,
    connector: Connector | None = None,
    incident: Incident | None = None,
    diagnosis: dict | None = None,
    checklist: list[str] | None = None,
    plan: MaintenancePlan | None = None,
    period_key: str = "",
    by=None,
    via: str = "",
    now: datetime | None = None,
) -> WorkOrder:
    if kind not in WorkOrderKind.values or priority not in Priority.values:
        raise ValueError(f"unknown kind {kind!r} or priority {priority!r}")
    now = now or timezone.now()
    with transaction.atomic():
        order = WorkOrder.objects.create(
            kind=kind,
            priority=priority,
            station=station,
            connector=connector,
            incident=incident,
            title=title[:200],
            diagnosis=diagnosis or {},
            checklist=[{"item": item, "done": False} for item in (checklist or [])],
            plan=plan,
            period_key=period_key,
            sla_due_at=sla_due(priority=priority, created_at=now, site=station.site),
        )
        WorkOrderEvent.objects.create(work_order=order, to_status=order.status, by=_user(by), via=via, at=now)
    return order


def _user(by):
    return by if getattr(by, "is_authenticated", False) else None


def workorder_transition(
    *, work_order: WorkOrder, to: str, by=None, via: str = "", note: str = "", now: datetime | None = None, **fields
) -> WorkOrder:
    """Move a work order to `to` if the table allows it, recording who and when.

    Compare-and-swap on the current status: two people acting at once cannot
    both move it from the same state.
    """
    now = now or timezone.now()
    current = work_order.status
    if to not in TRANSITIONS[current]:
        raise IllegalTransition(f"a work order cannot go from {current} to {to}")
    if to == S.ON_SITE and not work_order.on_site_started_at:
        fields["on_site_started_at"] = now
    if to == S.RESOLVED:
        fields["on_site_ended_at"] = now
    if to == S.VERIFIED:
        fields["verified_at"] = now
    with transaction.atomic():
        moved = WorkOrder.objects.filter(pk=work_order.pk, status=current).update(status=to, **fields)
        if not moved:
            work_order.refresh_from_db()
            raise IllegalTransition(f"work order {work_order.pk} changed meanwhile; it is now {work_order.status}")
        WorkOrderEvent.objects.create(
            work_order=work_order, from_status=current, to_status=to, by=_user(by), via=via, note=note, at=now
        )
    work_order.refresh_from_db()
    return work_order


def workorder_update_fieldwork(
    *,
    work_order: WorkOrder,
    by,
    checklist_done: list[int] | None = None,
    notes: str | None = None,
    parts_used: str | None = None,
    resolution_code: str | None = None,
    follow_up: str | None = None,
) -> WorkOrder:
    """What a technician records on site; no status change."""
    with transaction.atomic():
        order = WorkOrder.objects.select_for_update().get(pk=work_order.pk)
        if checklist_done is not None:
            done = set(checklist_done)
            order.checklist = [{**item, "done": index in done} for index, item in enumerate(order.checklist)]
        for name, value in (
            ("notes", notes),
            ("parts_used", parts_used),
            ("resolution_code", resolution_code),
            ("follow_up", follow_up),
        ):
            if value is not None:
                setattr(order, name, value)
        order.save()
    return order
