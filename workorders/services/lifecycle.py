"""Work orders: creation, the allowed status moves, what is written on them, and who did each."""

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
    WorkOrderChange,
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


# What a person may write on a work order, in characters: enough for a visit's
# notes, short enough to read on a phone.
MAX_NOTES = 4000
MAX_PARTS = 1000
MAX_FOLLOW_UP = 1000
MAX_RESOLUTION_CODE = 40
MAX_TITLE = 200


class FieldworkRefused(ValueError):
    pass


def workorder_event_record(
    *, work_order: WorkOrder, change: str, by=None, via: str = "", note: str = "", now: datetime | None = None
) -> WorkOrderEvent:
    """A row in the order's history for a change that is not a status move."""
    return WorkOrderEvent.objects.create(
        work_order=work_order,
        change=change,
        from_status=work_order.status,
        to_status=work_order.status,
        by=_user(by),
        via=via,
        note=note,
        at=now or timezone.now(),
    )


def _checklist_note(before: list[dict], after: list[dict]) -> str:
    ticked = [a["item"] for b, a in zip(before, after, strict=True) if a.get("done") and not b.get("done")]
    unticked = [a["item"] for b, a in zip(before, after, strict=True) if b.get("done") and not a.get("done")]
    parts = [f"ticked {', '.join(ticked)}" if ticked else "", f"unticked {', '.join(unticked)}" if unticked else ""]
    return "; ".join(p for p in parts if p)


def _text_note(before: str, after: str) -> str:
    if not after:
        return "cleared"
    return f"{'written' if not before else 'changed'}: {after[:120]}{'…' if len(after) > 120 else ''}"


_LIMITS = {
    WorkOrderChange.NOTES: MAX_NOTES,
    WorkOrderChange.PARTS: MAX_PARTS,
    WorkOrderChange.FOLLOW_UP: MAX_FOLLOW_UP,
    WorkOrderChange.RESOLUTION: MAX_RESOLUTION_CODE,
}


def workorder_update_fieldwork(
    *,
    work_order: WorkOrder,
    by,
    checklist_done: list[int] | None = None,
    notes: str | None = None,
    parts_used: str | None = None,
    resolution_code: str | None = None,
    follow_up: str | None = None,
    via: str = "portal",
    now: datetime | None = None,
) -> WorkOrder:
    """What a technician records on site; no status change. Each field that
    changed gets its own history row, saying who changed it and to what."""
    now = now or timezone.now()
    texts = {
        WorkOrderChange.NOTES: notes,
        WorkOrderChange.PARTS: parts_used,
        WorkOrderChange.RESOLUTION: resolution_code,
        WorkOrderChange.FOLLOW_UP: follow_up,
    }
    for change, value in texts.items():
        if value is not None and len(value) > _LIMITS[change]:
            raise FieldworkRefused(f"{WorkOrderChange(change).label} is longer than {_LIMITS[change]} characters")
    with transaction.atomic():
        order = WorkOrder.objects.select_for_update().get(pk=work_order.pk)
        changed: list[tuple[str, str]] = []
        if checklist_done is not None:
            done = set(checklist_done)
            before = order.checklist
            order.checklist = [{**item, "done": index in done} for index, item in enumerate(before)]
            if order.checklist != before:
                changed.append((WorkOrderChange.CHECKLIST, _checklist_note(before, order.checklist)))
        for change, value in texts.items():
            current = getattr(order, change)
            if value is not None and value != current:
                setattr(order, change, value)
                changed.append((change, _text_note(current, value)))
        if changed:
            # Each change is named after its field.
            order.save(update_fields=[str(change) for change, _ in changed])
            for change, note in changed:
                workorder_event_record(work_order=order, change=change, by=by, via=via, note=note, now=now)
    return order


def workorder_edit(
    *, work_order: WorkOrder, by, title: str, priority: str, via: str = "admin", now: datetime | None = None
) -> WorkOrder:
    """Change what the order is about (title, priority), recorded like every other change.
    A new priority does not move the SLA due time: the promise was made when the order was."""
    title = title.strip()
    if not title or len(title) > MAX_TITLE:
        raise FieldworkRefused(f"a title is needed, of at most {MAX_TITLE} characters")
    if priority not in Priority.values:
        raise FieldworkRefused(f"{priority!r} is not a priority")
    with transaction.atomic():
        order = WorkOrder.objects.select_for_update().get(pk=work_order.pk)
        notes = []
        if title != order.title:
            notes.append(f"title: {title}")
        if priority != order.priority:
            notes.append(f"priority {order.priority} → {priority}")
        if notes:
            order.title, order.priority = title, priority
            order.save(update_fields=["title", "priority"])
            workorder_event_record(
                work_order=order, change=WorkOrderChange.DETAILS, by=by, via=via, note="; ".join(notes), now=now
            )
    return order
