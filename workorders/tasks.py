"""Thin Celery wrappers around the workorders services."""

from celery import shared_task

from workorders.services import incidents, maintenance, remediation


@shared_task(acks_late=True)
def status_event_received(event_id: int) -> None:
    incidents.status_event_handle(event_id=event_id)


@shared_task(acks_late=True)
def session_stopped(session_id: int) -> None:
    incidents.session_stopped_handle(session_id=session_id)


@shared_task(acks_late=True)
def remediation_sweep() -> int:
    """Hand every incident whose check is due to a worker of its own."""
    claimed = remediation.incidents_claim_due()
    for incident_id in claimed:
        advance_incident.delay(incident_id)
    return len(claimed)


@shared_task(acks_late=True, autoretry_for=(ConnectionError,), retry_backoff=True, retry_jitter=True, max_retries=5)
def advance_incident(incident_id: int) -> str:
    return remediation.incident_advance(incident_id=incident_id).action


@shared_task(acks_late=True)
def generate_maintenance() -> int:
    return len(maintenance.plans_generate())
