"""A fix counts when the charger says so, not when a box is ticked."""

from datetime import datetime

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from stations.models import ChargingSession
from workorders.models import Incident, IncidentResolution, WorkOrder, WorkOrderStatus

from . import incidents, lifecycle


class NotVerified(ValueError):
    pass


def charger_confirms(work_order: WorkOrder) -> tuple[bool, str]:
    """Does the charger itself report healthy since the technician started work?"""
    connector = work_order.connector
    if connector is None:
        return False, "no connector to check"
    connector.refresh_from_db(fields=["status", "error_code", "status_since"])
    if not incidents.is_healthy(connector.status, connector.error_code):
        return False, f"connector reports {connector.status} {connector.error_code}"
    since = work_order.on_site_started_at or work_order.created_at
    if connector.status_since and connector.status_since < since:
        return False, "no fresh status from the charger since the work started"
    if settings.VERIFY_REQUIRES_TEST_SESSION:
        tested = ChargingSession.objects.filter(
            connector=connector, stop_at__gte=since, energy_wh__gt=incidents.FAILED_SESSION_MAX_WH
        ).exists()
        if not tested:
            return False, "waiting for a successful test session"
    return True, f"connector reports {connector.status}"


def workorder_resolve(*, work_order: WorkOrder, by, resolution_code: str, now: datetime | None = None) -> WorkOrder:
    """The technician says it is fixed; it is verified at once if the charger agrees,
    else when the charger next reports healthy."""
    now = now or timezone.now()
    if not resolution_code:
        raise ValueError("a resolution code is required")
    order = lifecycle.workorder_transition(
        work_order=work_order, to=WorkOrderStatus.RESOLVED, by=by, via="technician", now=now,
        resolution_code=resolution_code,
    )  # fmt: skip
    try_verify(work_order=order, now=now)
    order.refresh_from_db()
    return order


def try_verify(*, work_order: WorkOrder, now: datetime | None = None) -> bool:
    now = now or timezone.now()
    if work_order.status != WorkOrderStatus.RESOLVED:
        return False
    confirmed, reason = charger_confirms(work_order)
    if not confirmed:
        return False
    with transaction.atomic():
        lifecycle.workorder_transition(
            work_order=work_order, to=WorkOrderStatus.VERIFIED, via="charger", note=reason, now=now
        )
        if work_order.incident_id:
            incidents.incident_close(
                incident=work_order.incident,
                resolution=IncidentResolution.FIELD,
                reason=f"fixed on site, verified by the charger: {reason}",
                now=now,
            )
    return True


def verify_from_charger(*, incident: Incident, now: datetime) -> None:
    """A dispatched incident's connector reports healthy."""
    order = incidents.open_work_order_for(incident)
    if order is not None:
        try_verify(work_order=order, now=now)
