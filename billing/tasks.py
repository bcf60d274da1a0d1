"""Billing's Celery tasks: thin wrappers that load ids and call services."""

from celery import shared_task

from .services import payments, receipts, sessions


@shared_task(acks_late=True, autoretry_for=(Exception,), retry_backoff=True, retry_jitter=True, max_retries=5)
def session_started(session_id: int) -> None:
    sessions.session_billing_open(session_id=session_id)
    # A provider that does not answer raises: the retry sends the same idempotency key.
    payments.payment_authorise(session_id=session_id)


@shared_task(acks_late=True, autoretry_for=(Exception,), retry_backoff=True, retry_jitter=True, max_retries=5)
def session_stopped(session_id: int) -> None:
    sessions.session_price(session_id=session_id)
    payments.payment_settle(session_id=session_id)
    receipts.receipt_send(session_id=session_id)


@shared_task(acks_late=True)
def payment_sweep() -> None:
    """Periodic (settings.CELERY_BEAT_SCHEDULE): failed captures whose time has come, late settlements, lost refunds."""
    payments.payment_sweep()
