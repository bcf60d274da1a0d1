"""What every payment gateway offers, in our terms: Decimal amounts, our enums, our errors.

Each call that moves money takes an idempotency key: the same key sent again
gets the first call's answer and moves nothing more. Gateways keep no state of
their own; a payment's provider id is on the Payment row.
"""

import enum
from dataclasses import dataclass
from decimal import Decimal
from typing import Protocol

from billing.services.pricing import minor_unit


class ProviderStatus(enum.StrEnum):
    """A payment as the provider sees it."""

    AUTHORISED = "authorised"  # funds held, waiting for a capture
    CAPTURED = "captured"
    CANCELED = "canceled"
    FAILED = "failed"  # the card refused; nothing held
    PROCESSING = "processing"
    INVOICED = "invoiced"  # not held anywhere: the account pays by invoice
    OTHER = "other"


class FailureKind(enum.StrEnum):
    DECLINED = "declined"  # the card or the provider said no; asking again gets the same no
    STATE = "state"  # the payment is not in a state that allows this (already captured, canceled)
    UNKNOWN_OUTCOME = "unknown_outcome"  # no answer: the provider may have done it
    TEMPORARY = "temporary"  # the provider is busy or failed; nothing to learn but to try later
    PERMANENT = "permanent"  # our request was wrong


class GatewayError(Exception):
    def __init__(self, message: str, *, kind: FailureKind, code: str = ""):
        super().__init__(message)
        self.message = message
        self.kind = kind
        self.code = code

    @property
    def retryable(self) -> bool:
        return self.kind in (FailureKind.UNKNOWN_OUTCOME, FailureKind.TEMPORARY)

    def __str__(self) -> str:
        return f"{self.code}: {self.message}" if self.code else self.message


@dataclass(frozen=True)
class ProviderPayment:
    provider_id: str
    status: ProviderStatus
    currency: str
    amount_authorised: Decimal = Decimal("0")
    amount_captured: Decimal = Decimal("0")
    # None when the answer did not say (a PaymentIntent without its charge).
    amount_refunded: Decimal | None = None


@dataclass(frozen=True)
class ProviderRefund:
    provider_id: str
    amount: Decimal
    currency: str


class Gateway(Protocol):
    name: str

    def authorise(self, *, amount: Decimal, currency: str, method, idempotency_key: str) -> ProviderPayment: ...

    def capture(self, *, payment, amount: Decimal, idempotency_key: str) -> ProviderPayment: ...

    def void(self, *, payment, idempotency_key: str) -> ProviderPayment: ...

    def refund(self, *, payment, amount: Decimal, idempotency_key: str) -> ProviderRefund: ...

    def retrieve(self, *, payment) -> ProviderPayment: ...


def to_minor(amount: Decimal, currency: str) -> int:
    """Providers count in the currency's smallest unit (cents); a fraction of one is refused, not rounded."""
    units = Decimal(amount) / minor_unit(currency)
    if units != units.to_integral_value():
        raise ValueError(f"{amount} {currency} has a fraction of the smallest unit")
    return int(units)


def from_minor(units: int, currency: str) -> Decimal:
    return (Decimal(int(units)) * minor_unit(currency)).quantize(minor_unit(currency))
