"""Billing's Celery tasks: thin wrappers that load ids and call services."""

from celery import shared_task

from .services import sessions


@shared_task(acks_late=True, autoretry_for=(Exception,), retry_backoff=True, retry_jitter=True, max_retries=5)
def session_started(session_id: int) -> None:
    sessions.session_billing_open(session_id=session_id)


@shared_task(acks_late=True, autoretry_for=(Exception,), retry_backoff=True, retry_jitter=True, max_retries=5)
def session_stopped(session_id: int) -> None:
    sessions.session_price(session_id=session_id)
