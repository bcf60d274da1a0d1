"""Sending deliveries, retrying them with backoff, and pausing endpoints that keep failing.

A delivery is claimed by compare-and-swap (pending and due ──► sending) before
anything is sent, so two workers never send it twice; every try is written
down with what came back. A failed try puts the delivery back to pending with
a later due time; the beat sweep sends whatever is due, so a worker that died
mid-send (a delivery stuck in `sending`) or a retry lost with a restarted
broker is picked up again.
"""

import logging
from datetime import datetime, timedelta

from django.conf import settings
from django.db import transaction
from django.db.models import F
from django.utils import timezone

from ..channels import SENDERS, SendFailed
from ..models import (
    OPEN_ALERT_STATUSES,
    AlertDelivery,
    AlertDeliveryAttempt,
    AlertEndpoint,
    DeliveryStatus,
    EndpointStatus,
    NotificationKind,
)
from . import endpoints

log = logging.getLogger(__name__)

# A delivery claimed this long ago and never finished belongs to a worker that died.
STALE_CLAIM = timedelta(minutes=5)


def retry_delay(attempts: int) -> timedelta:
    """BACKOFF, 2 x BACKOFF, 4 x ... after the 1st, 2nd, 3rd failed try, at most an hour."""
    return timedelta(seconds=min(settings.ALERTS_RETRY_BACKOFF_S * 2 ** max(attempts - 1, 0), 3600))


def delivery_send(*, delivery_id: int, now: datetime | None = None) -> AlertDelivery | None:
    """Try a due delivery once; None when it is not due, not pending, or its endpoint is paused."""
    now = now or timezone.now()
    claimed = (
        AlertDelivery.objects.filter(pk=delivery_id, status=DeliveryStatus.PENDING, next_attempt_at__lte=now)
        .exclude(endpoint__status=EndpointStatus.PAUSED)
        .update(status=DeliveryStatus.SENDING, claimed_at=now)
    )
    if not claimed:
        return None
    delivery = AlertDelivery.objects.select_related("alert__rule", "alert__site", "endpoint", "user").get(
        pk=delivery_id
    )
    try:
        outcome = SENDERS[delivery.channel](delivery)
    except SendFailed as exc:
        return _failed(delivery, error=exc.error, status_code=exc.status_code)
    except Exception as exc:  # a bug of ours must not leave the delivery claimed for ever
        log.exception("alert delivery %s raised", delivery.pk)
        return _failed(delivery, error=f"{type(exc).__name__}: {exc}"[:500], status_code=None)
    finished = timezone.now()
    with transaction.atomic():
        AlertDeliveryAttempt.objects.create(
            delivery=delivery, at=finished, ok=True, status_code=outcome.status_code, duration_ms=outcome.duration_ms
        )
        AlertDelivery.objects.filter(pk=delivery.pk, status=DeliveryStatus.SENDING).update(
            status=DeliveryStatus.SENT,
            attempts=F("attempts") + 1,
            sent_at=finished,
            last_status_code=outcome.status_code,
            last_error="",
            claimed_at=None,
        )
        if delivery.endpoint_id:
            endpoints.endpoint_succeeded(endpoint_id=delivery.endpoint_id)
    delivery.refresh_from_db()
    return delivery


def _failed(delivery: AlertDelivery, *, error: str, status_code: int | None) -> AlertDelivery:
    finished = timezone.now()
    attempts = delivery.attempts + 1
    gave_up = attempts >= settings.ALERTS_DELIVERY_MAX_ATTEMPTS
    with transaction.atomic():
        AlertDeliveryAttempt.objects.create(
            delivery=delivery, at=finished, ok=False, status_code=status_code, error=error[:500]
        )
        AlertDelivery.objects.filter(pk=delivery.pk, status=DeliveryStatus.SENDING).update(
            status=DeliveryStatus.FAILED if gave_up else DeliveryStatus.PENDING,
            attempts=attempts,
            next_attempt_at=None if gave_up else finished + retry_delay(attempts),
            last_status_code=status_code,
            last_error=error[:500],
            claimed_at=None,
        )
        if delivery.endpoint_id:
            endpoints.endpoint_failed(endpoint_id=delivery.endpoint_id, error=error, now=finished)
    log.warning("alert delivery %s failed (try %s): %s", delivery.pk, attempts, error)
    delivery.refresh_from_db()
    return delivery


def deliveries_due(*, now: datetime | None = None) -> list[int]:
    """Release what quiet hours held, reclaim what a dead worker held, and list what is due."""
    now = now or timezone.now()
    held = AlertDelivery.objects.filter(status=DeliveryStatus.DEFERRED, next_attempt_at__lte=now)
    # A "fired" held through quiet hours goes out only if the alert is still open.
    held.filter(notification=NotificationKind.FIRED).exclude(alert__status__in=OPEN_ALERT_STATUSES).update(
        status=DeliveryStatus.SKIPPED, last_error="resolved during quiet hours"
    )
    held.update(status=DeliveryStatus.PENDING)
    AlertDelivery.objects.filter(status=DeliveryStatus.SENDING, claimed_at__lt=now - STALE_CLAIM).update(
        status=DeliveryStatus.PENDING, claimed_at=None
    )
    return list(
        AlertDelivery.objects.filter(status=DeliveryStatus.PENDING, next_attempt_at__lte=now)
        .exclude(endpoint__status=EndpointStatus.PAUSED)
        .order_by("next_attempt_at")
        .values_list("pk", flat=True)[:500]
    )


def endpoint_deliveries_resume(*, endpoint: AlertEndpoint, now: datetime) -> int:
    """What waited on a paused endpoint is due again as soon as it is resumed."""
    return AlertDelivery.objects.filter(endpoint=endpoint, status=DeliveryStatus.PENDING).update(next_attempt_at=now)
