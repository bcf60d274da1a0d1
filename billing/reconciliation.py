"""Reconciliation: per session, what was priced, taken and given back, ours against the provider's.

A read (a selector): it changes nothing. A row is a mismatch when our own
figures disagree with each other or with the provider's view of the payment.
"""

import csv
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal

from django.db.models import QuerySet, Sum

from billing.models import Funding, Payment, PaymentStatus, Refund, RefundStatus, SessionBilling
from billing.services.gateways import STRIPE, GatewayError, ProviderStatus, gateway_for, has_provider

S = PaymentStatus
# What the provider should say for each of our statuses.
_EXPECTED = {
    S.AUTHORISED: {ProviderStatus.AUTHORISED},
    S.CAPTURE_FAILED: {ProviderStatus.AUTHORISED},
    S.CAPTURED: {ProviderStatus.CAPTURED},
    S.VOIDED: {ProviderStatus.CANCELED},
    S.FAILED: {ProviderStatus.FAILED, ProviderStatus.CANCELED},
}
ZERO = Decimal("0")
CSV_COLUMNS = (
    "session",
    "started",
    "account",
    "funding",
    "currency",
    "price",
    "authorised",
    "captured",
    "refunded",
    "outstanding",
    "payment",
    "gateway",
    "status",
    "provider_status",
    "provider_captured",
    "provider_refunded",
    "mismatch",
    "reason",
)


@dataclass
class ReconciliationRow:
    session_id: int
    started_at: datetime
    account: str
    funding: str
    currency: str
    price: Decimal
    authorised: Decimal = ZERO
    captured: Decimal = ZERO
    refunded: Decimal = ZERO
    outstanding: Decimal = ZERO
    payment_id: int | None = None
    gateway: str = ""
    status: str = ""
    provider_status: str = ""
    provider_captured: Decimal | None = None
    provider_refunded: Decimal | None = None
    reasons: list[str] = field(default_factory=list)

    @property
    def mismatch(self) -> bool:
        return bool(self.reasons)

    @property
    def reason(self) -> str:
        return "; ".join(self.reasons)

    def csv_values(self) -> list:
        return [
            self.session_id,
            self.started_at.isoformat(),
            self.account,
            self.funding,
            self.currency,
            self.price,
            self.authorised,
            self.captured,
            self.refunded,
            self.outstanding,
            self.payment_id or "",
            self.gateway,
            self.status,
            self.provider_status,
            "" if self.provider_captured is None else self.provider_captured,
            "" if self.provider_refunded is None else self.provider_refunded,
            "yes" if self.mismatch else "",
            self.reason,
        ]


def reconciliation_billings(*, since: datetime | None = None, until: datetime | None = None) -> QuerySet:
    """The billed sessions started in [since, until), newest first."""
    rows = SessionBilling.objects.filter(account__isnull=False).exclude(status=SessionBilling.Status.RUNNING)
    if since:
        rows = rows.filter(session__start_at__gte=since)
    if until:
        rows = rows.filter(session__start_at__lt=until)
    return rows.select_related("session", "account", "invoice").order_by("-session__start_at", "-session_id")


def reconciliation_rows(billings: Iterable[SessionBilling], *, ask_provider: bool = True) -> list[ReconciliationRow]:
    """One row per session. Three queries, plus one provider call per card payment when `ask_provider`."""
    billings = list(billings)
    session_ids = [b.session_id for b in billings]
    payments = {p.session_id: p for p in Payment.objects.filter(session_id__in=session_ids)}
    refunded: dict[int, Decimal] = defaultdict(lambda: ZERO)
    pending: dict[int, Decimal] = defaultdict(lambda: ZERO)
    sums = (
        Refund.objects.filter(payment__session_id__in=session_ids)
        .values("payment_id", "status")
        .annotate(total=Sum("amount"))
    )
    for row in sums:
        # Quantized: SQLite sums decimals as floats.
        total = Decimal(row["total"]).quantize(Decimal("0.01"))
        if row["status"] == RefundStatus.SUCCEEDED:
            refunded[row["payment_id"]] = total
        elif row["status"] == RefundStatus.PENDING:
            pending[row["payment_id"]] = total
    return [_row(b, payments.get(b.session_id), refunded, pending, ask_provider=ask_provider) for b in billings]


def _row(billing, payment, refunded, pending, *, ask_provider: bool) -> ReconciliationRow:
    account = billing.account
    price = (billing.total or ZERO) if billing.status == SessionBilling.Status.PRICED else ZERO
    row = ReconciliationRow(
        session_id=billing.session_id,
        started_at=billing.session.start_at,
        account=account.name,
        funding=account.funding,
        currency=billing.currency or account.currency,
        price=price,
    )
    if billing.status == SessionBilling.Status.REVIEW:
        row.reasons.append("waiting for a meter review")
    if payment is None:
        paid_by_invoice = billing.invoice is not None and billing.invoice.paid_at is not None
        row.outstanding = ZERO if paid_by_invoice else price
        if price > 0 and account.funding != Funding.POSTPAID:
            row.reasons.append("priced but no payment")
        return row
    row.payment_id, row.gateway, row.status = payment.pk, payment.gateway, payment.status
    row.authorised, row.captured = payment.amount_authorised, payment.amount_captured
    row.refunded = refunded[payment.pk]
    if payment.status == S.INVOICED:
        paid = billing.invoice is not None and billing.invoice.paid_at is not None
        row.outstanding = ZERO if paid else price
    else:
        row.outstanding = max(price - payment.amount_captured, ZERO)
    _check_ours(row, payment, price, pending[payment.pk])
    if ask_provider and has_provider(payment.gateway) and payment.provider_payment_id:
        _check_provider(row, payment)
    return row


def _check_ours(row: ReconciliationRow, payment: Payment, price: Decimal, pending: Decimal) -> None:
    if payment.gateway == STRIPE and payment.amount_captured > payment.amount_authorised:
        row.reasons.append("captured more than was authorised")
    if payment.amount_captured > price:
        row.reasons.append("captured more than the price")
    if row.refunded > payment.amount_captured:
        row.reasons.append("refunded more than was captured")
    if payment.amount_refunded != row.refunded + pending:
        row.reasons.append("the payment's refunded total disagrees with its refunds")
    if pending:
        row.reasons.append(f"{pending} of refunds waiting for the provider")
    if payment.status == S.AUTHORISED:
        row.reasons.append("priced but not captured yet")
    elif payment.status == S.CAPTURE_FAILED:
        row.reasons.append(f"capture failed {payment.capture_attempts} times: {payment.last_error}")
    elif payment.status == S.PENDING:
        row.reasons.append("authorisation never answered")


def _check_provider(row: ReconciliationRow, payment: Payment) -> None:
    try:
        seen = gateway_for(payment.gateway).retrieve(payment=payment)
    except GatewayError as exc:
        row.provider_status = "unknown"
        row.reasons.append(f"the provider did not answer: {exc}")
        return
    row.provider_status = seen.status.value
    row.provider_captured = seen.amount_captured
    row.provider_refunded = seen.amount_refunded
    expected = _EXPECTED.get(payment.status)
    if expected is not None and seen.status not in expected:
        row.reasons.append(f"ours is {payment.status}, the provider's is {seen.status.value}")
    if seen.amount_captured != payment.amount_captured:
        row.reasons.append(f"the provider captured {seen.amount_captured}, we recorded {payment.amount_captured}")
    if seen.amount_refunded is not None and seen.amount_refunded != row.refunded:
        row.reasons.append(f"the provider refunded {seen.amount_refunded}, we recorded {row.refunded}")


def reconciliation_csv(rows: Iterable[ReconciliationRow], out) -> None:
    writer = csv.writer(out)
    writer.writerow(CSV_COLUMNS)
    for row in rows:
        writer.writerow([_safe(value) for value in row.csv_values()])


def _safe(value):
    # A spreadsheet runs a cell that starts like a formula; account names come from people.
    text = str(value)
    return "'" + text if text[:1] in ("=", "+", "-", "@", "\t", "\r") and not _is_number(text) else value


def _is_number(text: str) -> bool:
    try:
        Decimal(text)
    except ArithmeticError:
        return False
    return True
