"""Thin Celery wrappers around the support services."""

from celery import shared_task

from support.services import sla, watches


@shared_task(acks_late=True, autoretry_for=(OSError,), retry_backoff=True, retry_jitter=True, max_retries=5)
def availability_watches_check(event_id: int) -> int:
    return watches.status_event_handle(event_id=event_id)


def status_event_recorded(event_id: int) -> None:
    """stations' status listener, on the OCPP answer path after commit: enqueue only."""
    availability_watches_check.delay(event_id)


@shared_task(acks_late=True)
def sla_breach_sweep() -> int:
    """Record an "sla_breached" event for each ticket and target newly past due."""
    return sla.sla_breaches_record()
