"""Faults become incidents: one open per connector and kind, fed by status events.

A fault opens an incident (or attaches to the open one); a recovery closes it.
What happens in between is remediation.py's: it runs when the incident's
`next_check_at` comes due.
"""

from datetime import datetime, timedelta

from django.conf import settings
from django.db import IntegrityError, transaction
from django.utils import timezone

from stations.models import (
    ChargePointErrorCode,
    ChargingSession,
    Connector,
    ConnectorStatus,
    StatusEvent,
    StatusEventSource,
)
from stations.uptime import rules
from workorders.models import (
    Incident,
    IncidentKind,
    IncidentResolution,
    IncidentStatus,
    IncidentStepKind,
    WorkOrderStatus,
)

# Status moves and timeline rows have one writer each: incident_lifecycle.
from . import playbook
from .incident_lifecycle import incident_close, step_record

HEALTHY = frozenset(
    {
        ConnectorStatus.AVAILABLE,
        ConnectorStatus.PREPARING,
        ConnectorStatus.CHARGING,
        ConnectorStatus.SUSPENDED_EV,
        ConnectorStatus.SUSPENDED_EVSE,
        ConnectorStatus.FINISHING,
        ConnectorStatus.RESERVED,
    }
)
# Verification reads a stopped session above this energy as "the port delivers". Whether a
# session failed is stations.uptime.rules' to say, not this.
FAILED_SESSION_MAX_WH = 50


def is_fault(event: StatusEvent) -> bool:
    return event.status == ConnectorStatus.FAULTED or event.error_code != ChargePointErrorCode.NO_ERROR


def is_healthy(status: str, error_code: str) -> bool:
    return status in HEALTHY and error_code == ChargePointErrorCode.NO_ERROR


def incident_open_or_attach(
    *, connector: Connector, kind: str, event: StatusEvent | None, now: datetime, grace_s: int
) -> tuple[Incident, bool]:
    """The connector's open incident of this kind, created if there is none (a database
    constraint keeps it to one, even when two workers race)."""
    incident = Incident.objects.filter(connector=connector, kind=kind).exclude(status=IncidentStatus.CLOSED).first()
    created = False
    if incident is None:
        entry = None
        if event is not None:
            entry = playbook.playbook_entry_for(
                vendor=connector.station.vendor,
                vendor_error_code=event.vendor_error_code,
                error_code=event.error_code,
            )
        try:
            with transaction.atomic():
                incident = Incident.objects.create(
                    station_id=connector.station_id,
                    connector=connector,
                    kind=kind,
                    error_code=event.error_code if event else "",
                    vendor_error_code=event.vendor_error_code if event else "",
                    playbook=entry,
                    opened_at=now,
                    next_check_at=now + timedelta(seconds=grace_s),
                )
                created = True
        except IntegrityError:
            incident = (
                Incident.objects.filter(connector=connector, kind=kind).exclude(status=IncidentStatus.CLOSED).get()
            )
    if event is not None:
        incident.status_events.add(event)
    if created:
        codes = (incident.error_code, incident.vendor_error_code)
        code = " / ".join(c for c in codes if c and c != ChargePointErrorCode.NO_ERROR)
        reason = f"{incident.get_kind_display()}{': ' + code if code else ''}"
        if incident.playbook:
            reason += f" — playbook: {incident.playbook.meaning}"
        step_record(incident, kind=IncidentStepKind.OPENED, key="opened", reason=reason, now=now)
    elif event is not None:
        step_record(
            incident,
            kind=IncidentStepKind.ATTACHED,
            key=f"event-{event.pk}",
            reason=f"again: {event.status} {event.error_code} {event.vendor_error_code}".strip(),
            now=now,
        )
    return incident, created


def status_event_handle(*, event_id: int, now: datetime | None = None) -> Incident | None:
    """React to one status event: open or feed an incident, or note a recovery."""
    now = now or timezone.now()
    event = StatusEvent.objects.select_related("connector__station").filter(pk=event_id).first()
    if event is None:
        return None
    connector = event.connector
    with transaction.atomic():
        if event.source == StatusEventSource.OFFLINE_SWEEP:
            if connector.connector_id != 0:
                return None  # one offline incident per station, on connector 0
            return incident_open_or_attach(
                connector=connector,
                kind=IncidentKind.OFFLINE,
                event=event,
                now=now,
                grace_s=settings.REMEDIATION_OFFLINE_GRACE_S,
            )[0]
        if event.source == StatusEventSource.RECONNECT and connector.connector_id == 0:
            for incident in Incident.objects.filter(station_id=event.station_id, kind=IncidentKind.OFFLINE).exclude(
                status=IncidentStatus.CLOSED
            ):
                recovery_note(incident=incident, reason="station is back online", now=now)
        if event.source == StatusEventSource.CHARGER and is_fault(event):
            return incident_open_or_attach(
                connector=connector,
                kind=IncidentKind.FAULT,
                event=event,
                now=now,
                grace_s=settings.REMEDIATION_GRACE_S,
            )[0]
        if is_healthy(event.status, event.error_code):
            for incident in Incident.objects.filter(connector=connector, kind=IncidentKind.FAULT).exclude(
                status=IncidentStatus.CLOSED
            ):
                recovery_note(incident=incident, reason=f"connector reports {event.status}", now=now)
    return None


def recovery_note(*, incident: Incident, reason: str, now: datetime) -> None:
    """The charger reports healthy again. Before any remote step: it cleared by
    itself. After remote steps: remediation worked, a truck roll avoided. With a
    work order out: the fix is verified by the charger, and the order with it."""
    from . import verification

    if incident.status == IncidentStatus.DISPATCHED:
        verification.verify_from_charger(incident=incident, now=now)
        return
    ran_steps = incident.steps.filter(kind=IncidentStepKind.COMMAND).exists()
    if ran_steps:
        incident_close(
            incident=incident,
            resolution=IncidentResolution.REMOTE,
            reason=f"{reason} after remote steps: resolved remotely, no truck roll",
            now=now,
        )
    else:
        incident_close(
            incident=incident,
            resolution=IncidentResolution.SELF_CLEARED,
            reason=f"{reason} before any remote step: cleared by itself",
            now=now,
        )


def session_stopped_handle(*, session_id: int, now: datetime | None = None) -> Incident | None:
    """Repeated failed sessions on one connector open an incident."""
    now = now or timezone.now()
    session = ChargingSession.objects.select_related("connector__station").filter(pk=session_id).first()
    if session is None or not rules.port_failed(session):
        return None
    threshold = settings.FAILED_SESSIONS_THRESHOLD
    # The sessions the rule judges, as uptime's runs of failures count them: a refused tag or an
    # unmeasured session neither makes nor breaks a run.
    recent = list(
        ChargingSession.objects.filter(rules.judged_q(), connector=session.connector).order_by("-start_at", "-id")[
            :threshold
        ]
    )
    if len(recent) < threshold or not all(rules.port_failed(s) for s in recent):
        return None
    with transaction.atomic():
        incident, _ = incident_open_or_attach(
            connector=session.connector,
            kind=IncidentKind.FAILED_SESSIONS,
            event=None,
            now=now,
            grace_s=0,
        )
    return incident


def open_work_order_for(incident: Incident):
    return incident.work_orders.exclude(status__in=[WorkOrderStatus.CLOSED, WorkOrderStatus.CANCELLED]).first()
