"""Thin Celery wrappers around the support services."""

from celery import shared_task

from support.services import sla


@shared_task(acks_late=True)
def sla_breach_sweep() -> int:
    """Record an "sla_breached" event for each ticket and target newly past due."""
    return sla.sla_breaches_record()
