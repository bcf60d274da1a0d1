"""Card payments through Stripe's official library: PaymentIntents with a manual capture.

A session's hold is a PaymentIntent confirmed off-session with the customer's
stored card (`capture_method=manual`); the stop captures `amount_to_capture`
and Stripe releases the rest of the hold; a cancel releases all of it.
Configured from STRIPE_API_KEY, STRIPE_API_BASE (a loopback server in tests),
STRIPE_TIMEOUT_S and STRIPE_MAX_NETWORK_RETRIES.
"""

from decimal import Decimal
from functools import lru_cache

import stripe
from django.conf import settings

from .base import FailureKind, GatewayError, ProviderPayment, ProviderRefund, ProviderStatus, from_minor, to_minor

_INTENT_STATUS = {
    "requires_capture": ProviderStatus.AUTHORISED,
    "succeeded": ProviderStatus.CAPTURED,
    "canceled": ProviderStatus.CANCELED,
    "requires_payment_method": ProviderStatus.FAILED,
    "processing": ProviderStatus.PROCESSING,
}


@lru_cache(maxsize=4)
def _client(api_key: str, api_base: str, timeout: float, retries: int) -> stripe.StripeClient:
    return stripe.StripeClient(
        api_key,
        base_addresses={"api": api_base},
        max_network_retries=retries,
        http_client=stripe.RequestsClient(timeout=timeout),
    )


def client() -> stripe.StripeClient:
    return _client(
        settings.STRIPE_API_KEY or "sk_unset",
        settings.STRIPE_API_BASE,
        settings.STRIPE_TIMEOUT_S,
        settings.STRIPE_MAX_NETWORK_RETRIES,
    )


def _error(exc: stripe.StripeError) -> GatewayError:
    code = getattr(exc, "code", None) or ""
    message = getattr(exc, "user_message", None) or str(exc) or exc.__class__.__name__
    if isinstance(exc, stripe.CardError):
        kind = FailureKind.DECLINED
    elif isinstance(exc, stripe.APIConnectionError):
        kind = FailureKind.UNKNOWN_OUTCOME
    elif isinstance(exc, stripe.RateLimitError | stripe.APIError | stripe.IdempotencyError):
        kind = FailureKind.TEMPORARY
    elif isinstance(exc, stripe.InvalidRequestError) and code in (
        "payment_intent_unexpected_state",
        "charge_already_captured",
        "charge_already_refunded",
    ):
        kind = FailureKind.STATE
    elif isinstance(exc, stripe.AuthenticationError | stripe.PermissionError):
        # Our key is wrong or revoked: an operator fixes it, then the retry succeeds.
        kind = FailureKind.TEMPORARY
    else:
        kind = FailureKind.PERMANENT
    return GatewayError(message[:400], kind=kind, code=code)


def payment_from_intent(intent: dict) -> ProviderPayment:
    """Our view of a PaymentIntent object (from an answer or a webhook)."""
    currency = str(intent.get("currency") or "").upper()
    status = _INTENT_STATUS.get(intent.get("status"), ProviderStatus.OTHER)
    charge = intent.get("latest_charge")
    refunded = None
    if isinstance(charge, dict):
        refunded = from_minor(charge.get("amount_refunded") or 0, currency)
    held = intent.get("amount_capturable") or 0
    if status == ProviderStatus.AUTHORISED and not held:
        held = intent.get("amount") or 0
    return ProviderPayment(
        provider_id=intent["id"],
        status=status,
        currency=currency,
        amount_authorised=from_minor(held, currency) if status == ProviderStatus.AUTHORISED else Decimal("0"),
        amount_captured=from_minor(intent.get("amount_received") or 0, currency),
        amount_refunded=refunded,
    )


class StripeGateway:
    name = "stripe"

    def _call(self, fn, *args, **kwargs) -> dict:
        try:
            return fn(*args, **kwargs).to_dict()
        except stripe.StripeError as exc:
            raise _error(exc) from exc

    def authorise(self, *, amount: Decimal, currency: str, method, idempotency_key: str) -> ProviderPayment:
        intent = self._call(
            client().v1.payment_intents.create,
            params={
                "amount": to_minor(amount, currency),
                "currency": currency.lower(),
                "customer": method.provider_customer_id,
                "payment_method": method.provider_method_id,
                "capture_method": "manual",
                "confirm": True,
                "off_session": True,
                "metadata": {"payment_key": idempotency_key},
            },
            options={"idempotency_key": idempotency_key},
        )
        seen = payment_from_intent(intent)
        if seen.status != ProviderStatus.AUTHORISED:
            # Off-session, anything but a hold (3-D Secure wanted, say) is as good as a refusal.
            raise GatewayError(f"the card was not authorised ({intent.get('status')})", kind=FailureKind.DECLINED)
        return seen

    def capture(self, *, payment, amount: Decimal, idempotency_key: str) -> ProviderPayment:
        intent = self._call(
            client().v1.payment_intents.capture,
            payment.provider_payment_id,
            params={"amount_to_capture": to_minor(amount, payment.currency)},
            options={"idempotency_key": idempotency_key},
        )
        return payment_from_intent(intent)

    def void(self, *, payment, idempotency_key: str) -> ProviderPayment:
        intent = self._call(
            client().v1.payment_intents.cancel,
            payment.provider_payment_id,
            options={"idempotency_key": idempotency_key},
        )
        return payment_from_intent(intent)

    def refund(self, *, payment, amount: Decimal, idempotency_key: str) -> ProviderRefund:
        refund = self._call(
            client().v1.refunds.create,
            params={
                "payment_intent": payment.provider_payment_id,
                "amount": to_minor(amount, payment.currency),
                "metadata": {"refund_key": idempotency_key},
            },
            options={"idempotency_key": idempotency_key},
        )
        if refund.get("status") in ("failed", "canceled"):
            raise GatewayError(f"the refund {refund.get('status')}", kind=FailureKind.DECLINED, code="refund_failed")
        currency = str(refund.get("currency") or payment.currency).upper()
        return ProviderRefund(
            provider_id=refund["id"], amount=from_minor(refund["amount"], currency), currency=currency
        )

    def retrieve(self, *, payment) -> ProviderPayment:
        intent = self._call(
            client().v1.payment_intents.retrieve,
            payment.provider_payment_id,
            params={"expand": ["latest_charge"]},
        )
        return payment_from_intent(intent)
