"""Where a work order stands against its SLA: the one definition the pages, the API,
its filter and the KPIs share.

A fix counts when the charger confirms it (verified), not when the technician
says it is done: an order resolved on time but still waiting for the charger
when the due time passes is breached, and nobody sees "met" before it is
verified.

    verified ──► met (verified by the due time) or missed (verified after it)
    cancelled ─► none (no SLA to keep)
    otherwise ─► breached (past due), due soon (due within DUE_SOON), ok

`sla_state` decides it for one order in Python; `sla_state_expression` is the
same table as a database expression, for filtering and counting without
loading the rows. tests/test_workorder_sla.py holds the two to each other.
"""

from datetime import datetime, timedelta

from django.db import models
from django.db.models import Case, F, Q, Value, When

from workorders.models import WorkOrder, WorkOrderStatus

# An open order due within this is flagged before it breaches.
DUE_SOON = timedelta(hours=1)


class SlaState(models.TextChoices):
    MET = "met", "SLA met"
    MISSED = "missed", "SLA missed"
    BREACHED = "breached", "SLA breached"
    DUE_SOON = "soon", "due soon"
    OK = "ok", "within SLA"
    NONE = "none", "no SLA"


# The states that count as "SLA breached" in filters and in the API.
BREACHED_STATES = frozenset({SlaState.MISSED, SlaState.BREACHED})


def sla_state(order: WorkOrder, now: datetime) -> SlaState:
    if order.verified_at is not None:
        return SlaState.MET if order.verified_at <= order.sla_due_at else SlaState.MISSED
    if order.status == WorkOrderStatus.CANCELLED:
        return SlaState.NONE
    if now > order.sla_due_at:
        return SlaState.BREACHED
    if order.sla_due_at - now < DUE_SOON:
        return SlaState.DUE_SOON
    return SlaState.OK


def sla_state_expression(now: datetime) -> Case:
    """sla_state as SQL, rule for rule and in the same order."""
    unverified = Q(verified_at__isnull=True)
    return Case(
        When(verified_at__lte=F("sla_due_at"), then=Value(SlaState.MET.value)),
        When(verified_at__isnull=False, then=Value(SlaState.MISSED.value)),
        When(unverified & Q(status=WorkOrderStatus.CANCELLED), then=Value(SlaState.NONE.value)),
        When(unverified & Q(sla_due_at__lt=now), then=Value(SlaState.BREACHED.value)),
        When(unverified & Q(sla_due_at__lt=now + DUE_SOON), then=Value(SlaState.DUE_SOON.value)),
        default=Value(SlaState.OK.value),
        output_field=models.CharField(),
    )


def is_breached(order: WorkOrder, now: datetime) -> bool:
    return sla_state(order, now) in BREACHED_STATES


def with_sla_state(queryset, now: datetime):
    return queryset.annotate(sla_state_value=sla_state_expression(now))


def filter_breached(queryset, now: datetime, breached: bool = True):
    """Orders whose SLA is (or is not) breached, decided by the database."""
    annotated = with_sla_state(queryset, now)
    states = [state.value for state in BREACHED_STATES]
    return annotated.filter(sla_state_value__in=states) if breached else annotated.exclude(sla_state_value__in=states)


def met_q() -> Q:
    """Verified by the due time: the KPIs' "within SLA" among completed orders."""
    return Q(verified_at__isnull=False, verified_at__lte=F("sla_due_at"))
