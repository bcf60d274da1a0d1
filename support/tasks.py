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


# --- Telling drivers; many reports, one fault -----------------------------------------


@shared_task(acks_late=True, autoretry_for=(OSError,), retry_backoff=True, retry_jitter=True, max_retries=8)
def driver_mail_send(message_id: int, mail: str) -> bool:
    """SMTP errors are OSErrors: retried with backoff; the message's claim keeps it to one mail."""
    from support.services import notifications

    return notifications.driver_mail_send(message_id=message_id, mail=mail)


@shared_task(acks_late=True)
def incident_fixed(incident_id: int) -> int:
    from support.services import one_fault

    return len(one_fault.tickets_resolve_for_fixed_incident(incident_id=incident_id))


def incident_fixed_heard(incident_id: int) -> None:
    """workorders' listener, after the incident's close commits: enqueue only."""
    incident_fixed.delay(incident_id)
