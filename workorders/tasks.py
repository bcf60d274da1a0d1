"""Thin Celery wrappers around the workorders services."""

from datetime import datetime, timedelta

from celery import current_app, shared_task
from django.utils import timezone

from workorders.models import IncidentStatus
from workorders.services import incidents, maintenance, remediation

# Redis hands a task it has not seen acknowledged to another worker after its visibility
# timeout (an hour by default), and a worker holds a task with an ETA unacknowledged until
# then: checks further ahead than this are left to the sweep.
CHECK_AHEAD_MAX = timedelta(minutes=30)


def incident_check_at(incident_id: int, due_at: datetime | None) -> None:
    """Have a worker look at the incident when its check comes due, instead of at the sweep
    after it. The sweep stays the safety net for a check whose message is lost."""
    if due_at is None or current_app.conf.task_always_eager:
        return  # a task run inline cannot wait for `due_at`: the sweep takes it
    if due_at - timezone.now() > CHECK_AHEAD_MAX:
        return
    advance_incident.apply_async((incident_id, due_at.isoformat()), eta=due_at)


def _check_new(incident) -> None:
    # An incident waiting for its first check; later ones are scheduled by the advance.
    if incident is not None and incident.status == IncidentStatus.OPEN:
        incident_check_at(incident.pk, incident.next_check_at)


@shared_task(acks_late=True)
def status_event_received(event_id: int) -> None:
    _check_new(incidents.status_event_handle(event_id=event_id))


@shared_task(acks_late=True)
def session_stopped(session_id: int) -> None:
    _check_new(incidents.session_stopped_handle(session_id=session_id))


@shared_task(acks_late=True)
def remediation_sweep() -> int:
    """Hand every incident whose check is due to a worker of its own."""
    claimed = remediation.incidents_claim_due()
    for incident_id in claimed:
        advance_incident.delay(incident_id)
    return len(claimed)


@shared_task(
    bind=True, acks_late=True, autoretry_for=(ConnectionError,), retry_backoff=True, retry_jitter=True, max_retries=5
)
def advance_incident(self, incident_id: int, due_at: str | None = None) -> str:
    """Advance an incident: claimed by the sweep already, or (with `due_at`) the check
    scheduled for then, which this task claims itself (its retries hold the claim)."""
    if due_at is not None and not self.request.retries:
        if not remediation.incident_claim(incident_id=incident_id, due_at=datetime.fromisoformat(due_at)):
            return "nothing"
    advance = remediation.incident_advance(incident_id=incident_id)
    incident_check_at(incident_id, advance.next_check_at)
    return advance.action


@shared_task(acks_late=True)
def generate_maintenance() -> int:
    return len(maintenance.plans_generate())
