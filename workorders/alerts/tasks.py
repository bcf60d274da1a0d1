"""Thin Celery wrappers: evaluate rules, send deliveries, tell operators about paused endpoints."""

from celery import shared_task
from django.conf import settings
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Permission
from django.core.mail import send_mail
from django.db.models import Q
from django.template.loader import render_to_string

from .conditions import STATUS_EVENT_KINDS
from .models import AlertEndpoint, DeliveryStatus
from .services import deliveries, evaluation


def enqueue_deliveries(delivery_ids: list[int]) -> None:
    for delivery_id in delivery_ids:
        send_delivery.delay(delivery_id)


@shared_task(acks_late=True)
def status_event_received(event_id: int) -> int:
    """A status event arrived: evaluate the rules it can change, for its station alone."""
    from stations.models import StatusEvent

    station_id = StatusEvent.objects.filter(pk=event_id).values_list("station_id", flat=True).first()
    if station_id is None:
        return 0
    result = evaluation.alerts_evaluate(kinds=STATUS_EVENT_KINDS, station_ids=[station_id])
    return len(result.fired) + len(result.resolved)


@shared_task(acks_late=True)
def alerts_sweep() -> int:
    """The schedule: every rule over everything, then whatever delivery is due."""
    result = evaluation.alerts_evaluate()
    enqueue_deliveries(deliveries.deliveries_due())
    return len(result.fired) + len(result.resolved)


@shared_task(acks_late=True)
def send_delivery(delivery_id: int) -> str | None:
    delivery = deliveries.delivery_send(delivery_id=delivery_id)
    if delivery is None:
        return None
    if delivery.status == DeliveryStatus.PENDING and delivery.next_attempt_at:
        # The next try; the sweep sends it too if this message is lost with a restart.
        send_delivery.apply_async((delivery_id,), eta=delivery.next_attempt_at)
    return delivery.status


@shared_task(acks_late=True, autoretry_for=(OSError,), retry_backoff=True, retry_jitter=True, max_retries=5)
def endpoint_paused_notify(endpoint_id: int) -> int:
    endpoint = AlertEndpoint.objects.filter(pk=endpoint_id).first()
    if endpoint is None:
        return 0
    perm = Permission.objects.get(content_type__app_label="workorders", codename="change_alertendpoint")
    operators = (
        get_user_model()
        .objects.filter(Q(is_superuser=True) | Q(groups__permissions=perm) | Q(user_permissions=perm), is_active=True)
        .exclude(email="")
        .distinct()
    )
    addresses = sorted({user.email for user in operators})
    if not addresses:
        return 0
    context = {"endpoint": endpoint, "alerts_link": settings.PUBLIC_BASE_URL.rstrip("/") + "/workorders/alerts/"}
    send_mail(
        subject=" ".join(render_to_string("emails/alerts/endpoint_paused_subject.txt", context).split()),
        message=render_to_string("emails/alerts/endpoint_paused_body.txt", context),
        from_email=settings.ALERTS_FROM_EMAIL,
        recipient_list=addresses,
        html_message=render_to_string("emails/alerts/endpoint_paused_body.html", context),
    )
    return len(addresses)
