"""Payments: a hold when a session starts, a capture or a void at its stop, refunds on request.

Card accounts are pre-authorised the tariff version's `preauth_amount`; the
stop captures the price (never more than the hold; the rest of a larger price
stays on the account's receivable) and the provider releases what is left of
the hold; a zero price voids it. Prepaid accounts pay from their balance, and
postpaid ones by invoice.

Every change of a payment's status is a compare-and-swap (`_move`) that writes
a PaymentEvent with who or what made it, and the ledger postings of that
change, in one transaction. Calls to a provider happen outside transactions,
with the intent recorded first: a capture attempt is counted and leased in a
committed row before the provider is asked, and every attempt after the first
asks the provider what became of the payment before it asks for a capture, so a
worker killed mid-call or an answer lost on the way never captures twice.
"""

import enum
import logging
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal

from django.conf import settings
from django.db import IntegrityError, transaction
from django.db.models import F, Q
from django.utils import timezone

from billing.models import (
    Account,
    Funding,
    Payment,
    PaymentEvent,
    PaymentMethod,
    PaymentStatus,
    Refund,
    RefundLimit,
    RefundStatus,
    SessionBilling,
)

from . import ledger
from .gateways import (
    INVOICE,
    MANUAL,
    PREPAID,
    STRIPE,
    FailureKind,
    GatewayError,
    ProviderPayment,
    ProviderStatus,
    gateway_for,
    has_provider,
)
from .pricing import round_money

log = logging.getLogger(__name__)

S = PaymentStatus
# The allowed moves (the diagram is on PaymentStatus). CAPTURE_FAILED to itself
# counts another failed attempt.
TRANSITIONS: dict[str, frozenset[str]] = {
    S.PENDING: frozenset({S.AUTHORISED, S.FAILED, S.INVOICED, S.CAPTURED, S.VOIDED}),
    S.AUTHORISED: frozenset({S.CAPTURED, S.CAPTURE_FAILED, S.VOIDED}),
    S.CAPTURE_FAILED: frozenset({S.CAPTURED, S.CAPTURE_FAILED, S.VOIDED}),
    S.CAPTURED: frozenset(),
    S.VOIDED: frozenset(),
    S.FAILED: frozenset(),
    S.INVOICED: frozenset(),
}
CAPTURABLE = (S.AUTHORISED, S.CAPTURE_FAILED)


class IllegalPaymentMove(ValueError):
    pass


class PaymentNotReady(RuntimeError):
    """The session's authorisation has not finished yet; the caller tries again later."""


class RefundRefused(ValueError):
    def __init__(self, message: str):
        super().__init__(message)
        self.message = message


class TopUpRefused(ValueError):
    pass


class TopUpMethod(enum.StrEnum):
    CARD = "card"
    MANUAL = "manual"


def _lease() -> timedelta:
    # Twice what one provider call with the library's own retries may take: an attempt
    # still claimed after that belongs to a worker that died.
    return timedelta(seconds=2 * settings.STRIPE_TIMEOUT_S * (settings.STRIPE_MAX_NETWORK_RETRIES + 1))


def _user(by):
    return by if getattr(by, "is_authenticated", False) else None


def _move(
    payment: Payment,
    *,
    to: str,
    expected: tuple[str, ...],
    kind: str,
    by=None,
    amount: Decimal | None = None,
    detail: str = "",
    **fields,
) -> bool:
    """Compare-and-swap the payment's status from one of `expected` to `to`; False if it had moved on.
    Call inside a transaction, with the postings of the move."""
    for source in expected:
        if to not in TRANSITIONS[source]:
            raise IllegalPaymentMove(f"payment {payment.pk}: {source} → {to} is not allowed")
    now = timezone.now()
    moved = Payment.objects.filter(pk=payment.pk, status__in=expected).update(status=to, updated_at=now, **fields)
    if moved:
        PaymentEvent.objects.create(payment=payment, kind=kind, amount=amount, detail=detail[:500], by=_user(by))
        payment.status = to
        for name, value in fields.items():
            setattr(payment, name, value)
    return bool(moved)


def _hold(payment: Payment, amount: Decimal, *, release: bool, by=None) -> None:
    if not amount:
        return
    sign = -1 if release else 1
    ledger.posting_create(
        kind="hold_released" if release else "hold_placed",
        currency=payment.currency,
        entries=[
            (ledger.holds(payment.gateway), sign * amount),
            (ledger.holds_offset(payment.gateway), -sign * amount),
        ],
        memo=f"payment {payment.pk}",
        session_id=payment.session_id,
        payment=payment,
        account=payment.account,
        by=_user(by),
    )


def _settles(payment: Payment) -> str:
    """The ledger account a captured amount pays into: the session's debt, or the prepaid balance for a top-up."""
    return ledger.receivable(payment.account) if payment.session_id else ledger.prepaid(payment.account)


def _default_method(account: Account) -> PaymentMethod | None:
    return PaymentMethod.objects.filter(account=account).order_by("-is_default", "-created_at").first()


# --- Authorisation ------------------------------------------------------------


def payment_authorise(*, session_id: int) -> Payment | None:
    """Hold the tariff's pre-authorisation on a card account's card when its session starts.

    A refused card is recorded (the payment shows failed) without blocking the
    account: the charger has already started. No answer from the provider
    raises, and the retry sends the same idempotency key.
    """
    billing = (
        SessionBilling.objects.select_related("account", "tariff_version", "session")
        .filter(session_id=session_id)
        .first()
    )
    if billing is None or billing.account is None or billing.tariff_version is None:
        return None
    account = billing.account
    if account.funding != Funding.CARD:
        return None
    payment, _ = Payment.objects.get_or_create(
        session_id=session_id,
        defaults={"account": account, "gateway": STRIPE, "currency": billing.currency, "status": S.PENDING},
    )
    if payment.status != S.PENDING:
        return payment
    amount = round_money(billing.tariff_version.preauth_amount, payment.currency)
    method = _default_method(account)
    if method is None or amount <= 0:
        _authorisation_failed(payment, reason="no card on file" if method is None else "the tariff holds nothing")
        return payment
    return _authorise(payment, amount=amount, method=method)


def _authorise(payment: Payment, *, amount: Decimal, method: PaymentMethod, by=None) -> Payment:
    gateway = gateway_for(payment.gateway)
    try:
        seen = gateway.authorise(
            amount=amount, currency=payment.currency, method=method, idempotency_key=f"payment-{payment.pk}-authorise"
        )
    except GatewayError as exc:
        if exc.retryable:
            Payment.objects.filter(pk=payment.pk).update(last_error=str(exc)[:500])
            raise
        _authorisation_failed(payment, reason=str(exc), by=by, amount=amount)
        return payment
    _record_authorised(payment, seen, by=by)
    return payment


def _authorisation_failed(payment: Payment, *, reason: str, by=None, amount: Decimal | None = None) -> None:
    with transaction.atomic():
        _move(
            payment,
            to=S.FAILED,
            expected=(S.PENDING,),
            kind="authorisation_failed",
            by=by,
            amount=amount,
            detail=reason,
            last_error=reason[:500],
        )


def _record_authorised(payment: Payment, seen: ProviderPayment, *, by=None, detail: str = "") -> bool:
    with transaction.atomic():
        moved = _move(
            payment,
            to=S.AUTHORISED,
            expected=(S.PENDING,),
            kind="authorised",
            by=by,
            amount=seen.amount_authorised,
            detail=detail,
            amount_authorised=seen.amount_authorised,
            provider_payment_id=seen.provider_id,
            last_error="",
        )
        if moved:
            _hold(payment, seen.amount_authorised, release=False, by=by)
    return moved


# --- Settling at the stop -------------------------------------------------------


def payment_settle(*, session_id: int, by=None) -> Payment | None:
    """After the session is priced: take the price the way the account pays. Safe to repeat."""
    billing = SessionBilling.objects.select_related("account").filter(session_id=session_id).first()
    if billing is None or billing.account is None:
        return None
    if billing.status not in (SessionBilling.Status.PRICED, SessionBilling.Status.FREE):
        return None  # still running, or waiting for a meter review; the sweep settles it once priced
    account = billing.account
    priced = billing.status == SessionBilling.Status.PRICED
    total = (billing.total or Decimal("0")) if priced else Decimal("0")
    payment = Payment.objects.filter(session_id=session_id).first()
    if account.funding == Funding.CARD:
        if payment is None:
            if total <= 0:
                return None
            payment = payment_authorise(session_id=session_id)
            if payment is None:
                return None
        if payment.status == S.PENDING:
            # The start's authorisation got no answer yet: ask again with its key (the provider replays it).
            payment = payment_authorise(session_id=session_id)
            if payment.status == S.PENDING:
                raise PaymentNotReady(f"payment {payment.pk} is still being authorised")
        if payment.status == S.AUTHORISED and payment.capture_attempts == 0:
            if total <= 0:
                return payment_void(payment=payment, by=by)
            return payment_capture(payment=payment, by=by)
        return payment
    if total <= 0:
        return payment
    if account.funding == Funding.PREPAID:
        return _prepaid_spend(billing, total, by=by)
    return _invoice(billing, total, by=by)


def _prepaid_spend(billing: SessionBilling, total: Decimal, *, by=None) -> Payment:
    """The price comes off the balance at once; a balance that goes below zero is a debt the next top-up pays."""
    account = billing.account
    payment, _ = Payment.objects.get_or_create(
        session_id=billing.session_id,
        defaults={"account": account, "gateway": PREPAID, "currency": billing.currency, "status": S.PENDING},
    )
    with transaction.atomic():
        if _move(
            payment,
            to=S.CAPTURED,
            expected=(S.PENDING,),
            kind="prepaid_spent",
            by=by,
            amount=total,
            amount_captured=total,
        ):
            ledger.posting_create(
                kind="prepaid_spent",
                currency=payment.currency,
                entries=[(ledger.prepaid(account), total), (ledger.receivable(account), -total)],
                memo=f"transaction {billing.session_id}",
                session_id=billing.session_id,
                payment=payment,
                account=account,
                by=_user(by),
            )
    return payment


def _invoice(billing: SessionBilling, total: Decimal, *, by=None) -> Payment:
    """Nothing is taken: the price stays on the receivable until the account's invoice is paid."""
    payment, _ = Payment.objects.get_or_create(
        session_id=billing.session_id,
        defaults={"account": billing.account, "gateway": INVOICE, "currency": billing.currency, "status": S.PENDING},
    )
    gateway_for(INVOICE).authorise(
        amount=total, currency=payment.currency, method=None, idempotency_key=f"payment-{payment.pk}-invoice"
    )
    with transaction.atomic():
        _move(
            payment,
            to=S.INVOICED,
            expected=(S.PENDING,),
            kind="invoiced",
            by=by,
            amount=total,
            detail="on the account's next invoice",
        )
    return payment


def _session_total(payment: Payment) -> Decimal:
    if payment.session_id is None:
        return payment.amount_authorised
    total = SessionBilling.objects.filter(session_id=payment.session_id).values_list("total", flat=True).first()
    return total or Decimal("0")


def _capture_amount(payment: Payment) -> Decimal:
    """The price, never more than the hold: the rest of a larger price stays on the receivable."""
    return min(_session_total(payment), payment.amount_authorised)


def payment_capture(*, payment: Payment, by=None) -> Payment:
    """One capture attempt of an authorised (or earlier failed) payment; returns it as it ends up.

    The attempt is claimed by compare-and-swap on the attempt count, so two
    workers never run the same attempt, and leased until `next_capture_at` so
    the sweep takes it up again only if this worker dies.
    """
    current = Payment.objects.select_related("account").get(pk=payment.pk)
    if current.status not in CAPTURABLE:
        return current
    attempt = current.capture_attempts + 1
    now = timezone.now()
    claimed = (
        Payment.objects.filter(pk=current.pk, status=current.status, capture_attempts=attempt - 1)
        .filter(Q(next_capture_at__isnull=True) | Q(next_capture_at__lte=now))
        .update(capture_attempts=attempt, next_capture_at=now + _lease(), updated_at=now)
    )
    if not claimed:
        return Payment.objects.get(pk=current.pk)
    current.capture_attempts = attempt
    gateway = gateway_for(current.gateway)
    amount = _capture_amount(current)
    try:
        if attempt > 1:
            # An earlier attempt may have captured with its answer lost: look before asking again.
            if _follow_provider(current, gateway.retrieve(payment=current), by=by):
                return Payment.objects.get(pk=current.pk)
        if amount <= 0:
            return payment_void(payment=current, by=by)
        seen = gateway.capture(
            payment=current, amount=amount, idempotency_key=f"payment-{current.pk}-capture-{attempt}"
        )
    except GatewayError as exc:
        if exc.kind == FailureKind.STATE:
            try:
                if _follow_provider(current, gateway.retrieve(payment=current), by=by):
                    return Payment.objects.get(pk=current.pk)
            except GatewayError as lookup:
                exc = lookup
        _capture_failed(current, attempt, exc, by=by)
        return Payment.objects.get(pk=current.pk)
    total = _session_total(current)
    detail = f"the price {total} is above the hold; {total - amount} stays owed" if total > amount else ""
    _record_capture(current, seen.amount_captured or amount, by=by, detail=detail)
    return Payment.objects.get(pk=current.pk)


def _follow_provider(payment: Payment, seen: ProviderPayment, *, by=None) -> bool:
    """Bring a payment the provider has finished up to its state; True if it is finished there."""
    if seen.status == ProviderStatus.CAPTURED:
        _record_capture(payment, seen.amount_captured, by=by, detail="found captured at the provider")
        return True
    if seen.status == ProviderStatus.CANCELED:
        _record_void(payment, by=by, detail="found canceled at the provider")
        return True
    return False


def _record_capture(payment: Payment, amount: Decimal, *, by=None, detail: str = "") -> bool:
    """Captured: the hold is released, the money is at the provider, the debt is paid (that far)."""
    with transaction.atomic():
        expected = (S.PENDING, *CAPTURABLE)
        moved = _move(
            payment,
            to=S.CAPTURED,
            expected=expected,
            kind="captured",
            by=by,
            amount=amount,
            detail=detail,
            amount_captured=amount,
            next_capture_at=None,
            last_error="",
        )
        if not moved:
            return False
        _hold(payment, payment.amount_authorised, release=True, by=by)
        if amount:
            ledger.posting_create(
                kind="captured",
                currency=payment.currency,
                entries=[(ledger.cash(payment.gateway), amount), (_settles(payment), -amount)],
                memo=f"payment {payment.pk}",
                session_id=payment.session_id,
                payment=payment,
                account=payment.account,
                by=_user(by),
            )
    return True


def _capture_failed(payment: Payment, attempt: int, exc: GatewayError, *, by=None) -> None:
    last = attempt >= settings.PAYMENT_CAPTURE_MAX_ATTEMPTS
    backoff = timedelta(seconds=settings.PAYMENT_CAPTURE_BACKOFF_S * 2 ** (attempt - 1))
    with transaction.atomic():
        moved = _move(
            payment,
            to=S.CAPTURE_FAILED,
            expected=CAPTURABLE,
            kind="capture_failed",
            by=by,
            detail=f"attempt {attempt}: {exc}",
            last_error=str(exc)[:500],
            next_capture_at=None if last else timezone.now() + backoff,
        )
        if moved and last and payment.session_id:
            reason = f"payment {payment.pk} could not be captured after {attempt} attempts: {exc}"
            _account_block(payment.account, reason)
            PaymentEvent.objects.create(payment=payment, kind="account_blocked", detail=reason[:500])
    log.warning("capture of payment %s failed (attempt %s): %s", payment.pk, attempt, exc)


def _account_block(account: Account, reason: str) -> None:
    from .account_changes import AccountChangeRefused, account_block

    try:
        account_block(account=account, reason=reason[:200], by=None)
    except AccountChangeRefused:
        pass  # blocked or closed already


def payment_void(*, payment: Payment, by=None) -> Payment:
    """Release the whole hold (a zero price, or an operator's decision)."""
    current = Payment.objects.select_related("account").get(pk=payment.pk)
    if current.status not in (*CAPTURABLE, S.PENDING):
        return current
    if current.provider_payment_id and has_provider(current.gateway):
        gateway = gateway_for(current.gateway)
        try:
            gateway.void(payment=current, idempotency_key=f"payment-{current.pk}-void")
        except GatewayError as exc:
            if exc.kind != FailureKind.STATE or not _follow_provider(current, gateway.retrieve(payment=current), by=by):
                raise
            return Payment.objects.get(pk=current.pk)
    _record_void(current, by=by)
    return Payment.objects.get(pk=current.pk)


def _record_void(payment: Payment, *, by=None, detail: str = "") -> bool:
    with transaction.atomic():
        moved = _move(
            payment,
            to=S.VOIDED,
            expected=(S.PENDING, *CAPTURABLE),
            kind="voided",
            by=by,
            detail=detail,
            next_capture_at=None,
        )
        if moved:
            _hold(payment, payment.amount_authorised, release=True, by=by)
    return moved


# --- Retries --------------------------------------------------------------------


@dataclass(frozen=True)
class SweepResult:
    captures: int = 0
    settled: int = 0
    refunds: int = 0


def payment_sweep(*, now: datetime | None = None, limit: int = 100) -> SweepResult:
    """What the periodic task does: retry due captures, settle payments whose session was priced
    later (after a meter review), and finish refunds whose answer was lost."""
    now = now or timezone.now()
    captures = settled = refunds = 0
    due = Payment.objects.filter(status__in=CAPTURABLE, next_capture_at__lte=now).order_by("next_capture_at")
    for payment in due[:limit]:
        try:
            payment_capture(payment=payment)
            captures += 1
        except Exception:  # one bad payment must not stop the others
            log.exception("capture retry of payment %s failed", payment.pk)
    stale = now - _lease()
    unsettled = (
        Payment.objects.filter(session__billing__status__in=(SessionBilling.Status.PRICED, SessionBilling.Status.FREE))
        .filter(Q(status=S.AUTHORISED, capture_attempts=0) | Q(status=S.PENDING, created_at__lte=stale))
        .values_list("session_id", flat=True)
    )
    for session_id in unsettled[:limit]:
        try:
            payment_settle(session_id=session_id)
            settled += 1
        except Exception:
            log.exception("settling session %s failed", session_id)
    for refund in Refund.objects.filter(status=RefundStatus.PENDING, created_at__lte=stale)[:limit]:
        try:
            _refund_send(refund)
            refunds += 1
        except RefundRefused:
            refunds += 1
        except Exception:
            log.exception("refund %s could not be finished", refund.pk)
    return SweepResult(captures=captures, settled=settled, refunds=refunds)


# --- Refunds --------------------------------------------------------------------


def refund_refusal(*, by, amount: Decimal, currency: str) -> str | None:
    """Why this person may not refund this amount, or None.

    Operators hold `billing.refund_any_amount` and refund any amount. Anyone
    else needs `billing.add_refund` and a RefundLimit in the payment's
    currency at least as large as the amount: no limit row means no refunds.
    """
    if by is None or not getattr(by, "is_authenticated", False):
        raise RefundRefused("a refund needs the person who gives it")
    if by.has_perm("billing.refund_any_amount"):
        return None
    if not by.has_perm("billing.add_refund"):
        return "you may not give refunds"
    limit = RefundLimit.objects.filter(user=by).first()
    if limit is None:
        return "you have no refund limit; ask an operator"
    if limit.currency != currency:
        return f"your refund limit is in {limit.currency}, this payment is in {currency}"
    if amount > limit.max_amount:
        return f"your refund limit is {limit.max_amount} {limit.currency}"
    return None


def payment_refund(*, payment: Payment, amount: Decimal, reason: str, by, idempotency_key: str) -> Refund:
    """Give back part or all of what a payment captured.

    The same key again returns the first Refund and moves no money. The amount
    is reserved on the payment by compare-and-swap before the provider is
    asked, so concurrent refunds never add up to more than was captured.
    """
    key = (idempotency_key or "").strip()
    if not key or len(key) > 100:
        raise RefundRefused("a refund needs an idempotency key of at most 100 characters")
    try:
        amount = Decimal(amount)
    except (TypeError, ValueError, ArithmeticError):
        raise RefundRefused("the amount is not a number") from None
    existing = Refund.objects.filter(idempotency_key=key).first()
    if existing is not None:
        return _refund_again(existing, payment=payment, amount=amount)
    reason = (reason or "").strip()
    if not amount.is_finite() or amount <= 0:
        raise RefundRefused("the amount must be positive")
    if round_money(amount, payment.currency) != amount:
        raise RefundRefused(f"the amount has more decimals than {payment.currency} has")
    if not reason:
        raise RefundRefused("say why the money is given back")
    refusal = refund_refusal(by=by, amount=amount, currency=payment.currency)
    if refusal:
        raise RefundRefused(refusal)
    if payment.session_id is None:
        raise RefundRefused("only a session's payment is refunded here")
    try:
        with transaction.atomic():
            reserved = Payment.objects.filter(
                pk=payment.pk, status=S.CAPTURED, amount_captured__gte=F("amount_refunded") + amount
            ).update(amount_refunded=F("amount_refunded") + amount, updated_at=timezone.now())
            if not reserved:
                current = Payment.objects.get(pk=payment.pk)
                if current.status != S.CAPTURED:
                    raise RefundRefused(f"the payment is {current.get_status_display().lower()}, not captured")
                left = current.amount_captured - current.amount_refunded
                raise RefundRefused(f"at most {left} {current.currency} is left to refund")
            refund = Refund.objects.create(
                payment=payment,
                amount=amount,
                reason=reason[:500],
                idempotency_key=key,
                status=RefundStatus.PENDING,
                by=_user(by),
            )
            PaymentEvent.objects.create(
                payment=payment, kind="refund_requested", amount=amount, detail=reason[:500], by=_user(by)
            )
    except IntegrityError:
        # The same key, sent twice at once: the other request won.
        return _refund_again(Refund.objects.get(idempotency_key=key), payment=payment, amount=amount)
    return _refund_send(refund, by=by)


def _refund_again(existing: Refund, *, payment: Payment, amount: Decimal) -> Refund:
    if existing.payment_id != payment.pk or existing.amount != amount:
        raise RefundRefused("this idempotency key was used for another refund")
    if existing.status == RefundStatus.PENDING and existing.created_at <= timezone.now() - _lease():
        return _refund_send(existing)
    return existing


def _refund_send(refund: Refund, *, by=None) -> Refund:
    """Ask the provider for a reserved refund (with its key, so asking twice refunds once) and record the answer."""
    payment = Payment.objects.select_related("account").get(pk=refund.payment_id)
    provider_id = ""
    if has_provider(payment.gateway):
        try:
            answer = gateway_for(payment.gateway).refund(
                payment=payment, amount=refund.amount, idempotency_key=f"refund-{refund.idempotency_key}"
            )
            provider_id = answer.provider_id
        except GatewayError as exc:
            if exc.kind == FailureKind.UNKNOWN_OUTCOME:
                # No answer: it may have happened. It stays reserved; the same key finishes it.
                # (An error answer is final for this key: the provider replays it to the same key.)
                Payment.objects.filter(pk=payment.pk).update(last_error=str(exc)[:500])
                return refund
            _refund_failed(refund, payment, str(exc), by=by)
            raise RefundRefused(f"the provider refused the refund: {exc.message}") from exc
    elif payment.gateway not in (PREPAID, MANUAL):
        _refund_failed(refund, payment, f"{payment.gateway} payments are not refunded", by=by)
        raise RefundRefused(f"{payment.gateway} payments are not refunded")
    _refund_succeeded(refund, payment, provider_id, by=by)
    refund.refresh_from_db()
    return refund


def _refund_succeeded(refund: Refund, payment: Payment, provider_id: str, *, by=None, detail: str = "") -> bool:
    with transaction.atomic():
        moved = Refund.objects.filter(pk=refund.pk, status=RefundStatus.PENDING).update(
            status=RefundStatus.SUCCEEDED, provider_refund_id=provider_id
        )
        if not moved:
            return False
        PaymentEvent.objects.create(
            payment=payment,
            kind="refunded",
            amount=refund.amount,
            detail=(detail or refund.reason)[:500],
            by=_user(by) or refund.by,
        )
        back_to = ledger.prepaid(payment.account) if payment.gateway == PREPAID else ledger.cash(payment.gateway)
        ledger.posting_create(
            kind="refunded",
            currency=payment.currency,
            entries=[(ledger.REFUNDS, refund.amount), (back_to, -refund.amount)],
            memo=f"refund {refund.pk} of payment {payment.pk}",
            session_id=payment.session_id,
            payment=payment,
            account=payment.account,
            by=_user(by) or refund.by,
        )
    return True


def _refund_failed(refund: Refund, payment: Payment, why: str, *, by=None) -> None:
    with transaction.atomic():
        moved = Refund.objects.filter(pk=refund.pk, status=RefundStatus.PENDING).update(status=RefundStatus.FAILED)
        if moved:
            Payment.objects.filter(pk=payment.pk).update(
                amount_refunded=F("amount_refunded") - refund.amount, updated_at=timezone.now()
            )
            PaymentEvent.objects.create(
                payment=payment, kind="refund_failed", amount=refund.amount, detail=why[:500], by=_user(by)
            )


# --- The provider's word (webhooks, reconciliation) ------------------------------


def payment_follow_provider(*, payment: Payment, seen: ProviderPayment, source: str) -> list[str]:
    """Move a payment forward where the provider is ahead of us; never backwards. Returns what changed."""
    changes = []
    payment = Payment.objects.select_related("account").get(pk=payment.pk)
    detail = f"from {source}"
    if seen.status == ProviderStatus.AUTHORISED and payment.status == S.PENDING:
        if _record_authorised(payment, seen, detail=detail):
            changes.append("authorised")
    elif seen.status == ProviderStatus.CAPTURED and payment.status in (S.PENDING, *CAPTURABLE):
        if _record_capture(payment, seen.amount_captured, detail=detail):
            changes.append("captured")
    elif seen.status == ProviderStatus.CANCELED and payment.status in (S.PENDING, *CAPTURABLE):
        if _record_void(payment, detail=detail):
            changes.append("voided")
    elif seen.status == ProviderStatus.FAILED and payment.status == S.PENDING:
        with transaction.atomic():
            if _move(payment, to=S.FAILED, expected=(S.PENDING,), kind="authorisation_failed", detail=detail):
                changes.append("failed")
    if seen.amount_refunded is not None:
        changes += _follow_refunds(Payment.objects.get(pk=payment.pk), seen.amount_refunded, source=source)
    return changes


def _follow_refunds(payment: Payment, provider_refunded: Decimal, *, source: str) -> list[str]:
    """Pending refunds the provider has made are finished (oldest first); a refund made at the
    provider itself (its dashboard) is recorded as one."""
    changes = []
    done = _refunded(payment)
    for refund in payment.refunds.filter(status=RefundStatus.PENDING).order_by("created_at", "id"):
        if done + refund.amount > provider_refunded:
            break
        if _refund_succeeded(refund, payment, "", detail=f"{refund.reason} (confirmed by {source})"):
            done += refund.amount
            changes.append(f"refund {refund.pk} succeeded")
    outside = provider_refunded - done
    if outside > 0 and payment.status == S.CAPTURED:
        key = f"{payment.gateway}:{payment.provider_payment_id}:refunded:{provider_refunded}"
        try:
            with transaction.atomic():
                reserved = Payment.objects.filter(
                    pk=payment.pk, amount_captured__gte=F("amount_refunded") + outside
                ).update(amount_refunded=F("amount_refunded") + outside, updated_at=timezone.now())
                if not reserved:
                    return changes
                refund = Refund.objects.create(
                    payment=payment,
                    amount=outside,
                    reason=f"refunded at the provider ({source})",
                    idempotency_key=key[:100],
                    status=RefundStatus.PENDING,
                )
                _refund_succeeded(refund, payment, "")
                changes.append(f"refund {refund.pk} recorded")
        except IntegrityError:
            pass  # recorded already
    return changes


def _refunded(payment: Payment) -> Decimal:
    return sum(payment.refunds.filter(status=RefundStatus.SUCCEEDED).values_list("amount", flat=True), Decimal("0"))


def payment_for_provider_id(gateway: str, provider_id: str) -> Payment | None:
    if not provider_id:
        return None
    return Payment.objects.filter(gateway=gateway, provider_payment_id=provider_id).first()


# --- Prepaid balance ------------------------------------------------------------


def account_topup(
    *, account: Account, amount: Decimal, method: str, by, idempotency_key: str, note: str = ""
) -> Payment:
    """Add to a prepaid balance: charged to the account's card, or money taken in by a person (manual).

    The same key again returns the first top-up. A manual top-up needs the
    person who took the money; a card top-up is authorised and captured at once.
    """
    amount = Decimal(amount)
    key = (idempotency_key or "").strip()
    if not key or len(key) > 100:
        raise TopUpRefused("a top-up needs an idempotency key of at most 100 characters")
    existing = Payment.objects.filter(idempotency_key=key).first()
    if existing is not None:
        if existing.account_id != account.pk:
            raise TopUpRefused("this idempotency key was used for another top-up")
        return existing
    if account.funding != Funding.PREPAID:
        raise TopUpRefused("only a prepaid account has a balance to top up")
    if not amount.is_finite() or amount <= 0 or round_money(amount, account.currency) != amount:
        raise TopUpRefused(f"the amount must be positive, in whole {account.currency} minor units")
    if method not in (TopUpMethod.CARD, TopUpMethod.MANUAL):
        raise TopUpRefused(f"unknown top-up method {method!r}")
    if method == TopUpMethod.MANUAL and _user(by) is None:
        raise TopUpRefused("a manual top-up needs the person who took the money")
    card = _default_method(account) if method == TopUpMethod.CARD else None
    if method == TopUpMethod.CARD and card is None:
        raise TopUpRefused("the account has no card")
    try:
        with transaction.atomic():
            payment = Payment.objects.create(
                account=account,
                session=None,
                gateway=STRIPE if card else MANUAL,
                currency=account.currency,
                status=S.PENDING,
                idempotency_key=key,
            )
    except IntegrityError:
        return Payment.objects.get(idempotency_key=key)
    if card is None:
        with transaction.atomic():
            _move(
                payment,
                to=S.CAPTURED,
                expected=(S.PENDING,),
                kind="topped_up",
                by=by,
                amount=amount,
                detail=note or "manual top-up",
                amount_captured=amount,
            )
            ledger.posting_create(
                kind="topped_up",
                currency=payment.currency,
                entries=[(ledger.cash(MANUAL), amount), (ledger.prepaid(account), -amount)],
                memo=(note or f"manual top-up, payment {payment.pk}"),
                payment=payment,
                account=account,
                by=_user(by),
            )
        return payment
    _authorise(payment, amount=amount, method=card, by=by)
    payment.refresh_from_db()
    if payment.status == S.AUTHORISED:
        return payment_capture(payment=payment, by=by)
    return payment
