"""Postpaid accounts: nothing is held or taken at a charger; the monthly invoice collects.

The session's price stays on the account's receivable until the invoice is
paid, so this gateway moves no money: it only says the payment is invoiced.
"""

from decimal import Decimal

from .base import FailureKind, GatewayError, ProviderPayment, ProviderRefund, ProviderStatus


class InvoiceGateway:
    name = "invoice"

    def authorise(self, *, amount: Decimal, currency: str, method, idempotency_key: str) -> ProviderPayment:
        return ProviderPayment(provider_id="", status=ProviderStatus.INVOICED, currency=currency)

    def capture(self, *, payment, amount: Decimal, idempotency_key: str) -> ProviderPayment:
        raise GatewayError("an invoiced payment is collected by its invoice", kind=FailureKind.PERMANENT)

    def void(self, *, payment, idempotency_key: str) -> ProviderPayment:
        return ProviderPayment(provider_id="", status=ProviderStatus.CANCELED, currency=payment.currency)

    def refund(self, *, payment, amount: Decimal, idempotency_key: str) -> ProviderRefund:
        raise GatewayError("an invoiced payment is corrected on its invoice", kind=FailureKind.PERMANENT)

    def retrieve(self, *, payment) -> ProviderPayment:
        return ProviderPayment(provider_id="", status=ProviderStatus.INVOICED, currency=payment.currency)
