"""Provider webhooks: each event stored once, then the payment moved forward where ours is behind.

The event row and every change it causes are one transaction: a failure stores
nothing and the provider delivers the event again; a replay finds the row and
changes nothing.
"""

import logging
from dataclasses import dataclass

from django.db import IntegrityError, transaction
from django.utils import timezone

from billing.models import Payment, WebhookEvent

from . import payments
from .gateways import STRIPE, ProviderPayment, ProviderStatus, from_minor
from .gateways.stripe_gateway import payment_from_intent

log = logging.getLogger(__name__)

INTENT_EVENTS = (
    "payment_intent.succeeded",
    "payment_intent.canceled",
    "payment_intent.payment_failed",
    "payment_intent.amount_capturable_updated",
)
REFUND_EVENTS = ("charge.refunded",)


@dataclass(frozen=True)
class WebhookOutcome:
    replay: bool
    changes: tuple[str, ...] = ()


def stripe_event_receive(*, event: dict) -> WebhookOutcome:
    """A verified Stripe event (a dict of the Event object)."""
    with transaction.atomic():
        try:
            with transaction.atomic():
                record = WebhookEvent.objects.create(
                    provider=STRIPE, event_id=str(event["id"])[:100], kind=str(event.get("type"))[:100], payload=event
                )
        except IntegrityError:
            return WebhookOutcome(replay=True)
        changes = _handle(record, event)
        record.processed_at = timezone.now()
        record.save(update_fields=["processed_at"])
    return WebhookOutcome(replay=False, changes=tuple(changes))


def _handle(record: WebhookEvent, event: dict) -> list[str]:
    obj = (event.get("data") or {}).get("object") or {}
    source = f"Stripe event {record.event_id}"
    if record.kind in INTENT_EVENTS:
        seen = payment_from_intent(obj)
        payment = _payment(seen.provider_id, obj.get("metadata") or {})
    elif record.kind in REFUND_EVENTS:
        currency = str(obj.get("currency") or "").upper()
        seen = ProviderPayment(
            provider_id=str(obj.get("payment_intent") or ""),
            status=ProviderStatus.OTHER,
            currency=currency,
            amount_refunded=from_minor(obj.get("amount_refunded") or 0, currency),
        )
        payment = _payment(seen.provider_id, {})
    else:
        return []
    if payment is None:
        log.info("%s (%s) is about no payment of ours", source, record.kind)
        return []
    if seen.currency and seen.currency != payment.currency:
        log.warning("%s: currency %s, payment %s is in %s", source, seen.currency, payment.pk, payment.currency)
        return []
    return payments.payment_follow_provider(payment=payment, seen=seen, source=source)


def _payment(provider_id: str, metadata: dict) -> Payment | None:
    payment = payments.payment_for_provider_id(STRIPE, provider_id)
    if payment is not None:
        return payment
    # The authorisation's answer was lost, so its id is not stored yet: the key we sent says whose it is.
    key = str(metadata.get("payment_key") or "")
    prefix, _, rest = key.partition("-")
    number = rest.removesuffix("-authorise")
    if prefix != "payment" or not number.isdigit():
        return None
    Payment.objects.filter(pk=int(number), gateway=STRIPE, provider_payment_id="").update(
        provider_payment_id=provider_id
    )
    return Payment.objects.filter(pk=int(number), gateway=STRIPE, provider_payment_id=provider_id).first()
