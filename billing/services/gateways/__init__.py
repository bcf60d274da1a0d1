"""Payment gateways behind one interface (base.Gateway), chosen by the name stored on a payment."""

from .base import (
    FailureKind,
    Gateway,
    GatewayError,
    ProviderPayment,
    ProviderRefund,
    ProviderStatus,
    from_minor,
    to_minor,
)
from .invoice import InvoiceGateway
from .stripe_gateway import StripeGateway

STRIPE = StripeGateway.name
INVOICE = InvoiceGateway.name
# No provider behind these: money moves only in our ledger.
PREPAID = "prepaid"
MANUAL = "manual"

_GATEWAYS: dict[str, Gateway] = {STRIPE: StripeGateway(), INVOICE: InvoiceGateway()}


def gateway_for(name: str) -> Gateway:
    try:
        return _GATEWAYS[name]
    except KeyError:
        raise LookupError(f"no payment gateway called {name!r}") from None


def has_provider(name: str) -> bool:
    return name == STRIPE


__all__ = [
    "INVOICE",
    "MANUAL",
    "PREPAID",
    "STRIPE",
    "FailureKind",
    "Gateway",
    "GatewayError",
    "InvoiceGateway",
    "ProviderPayment",
    "ProviderRefund",
    "ProviderStatus",
    "StripeGateway",
    "from_minor",
    "gateway_for",
    "has_provider",
    "to_minor",
]
