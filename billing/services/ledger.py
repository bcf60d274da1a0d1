"""The double-entry ledger: every movement of money is one balanced posting.

Entries are debits (positive) and credits (negative) to ledger account codes;
a posting's entries sum to zero in each currency, and nothing is ever edited
or deleted: a mistake is corrected by another posting. The chart:

| code | what it holds |
| --- | --- |
| `receivable:<account id>` | what a customer owes (debit when a session is priced) |
| `prepaid:<account id>` | a prepaid customer's balance (a liability: credit on top-up) |
| `revenue:charging`, `revenue:refunds` | sales (credit), refunds given (debit) |
| `tax:payable` | tax collected on sales |
| `cash:<gateway>` | money held at a payment provider |
| `holds:<gateway>`, `holds-offset:<gateway>` | card authorisations: a memorandum pair, apart from real money |
"""

from decimal import Decimal

from django.db import transaction
from django.db.models import F, Sum

from billing.models import Account, LedgerEntry, LedgerPosting

from .pricing import round_money

REVENUE = "revenue:charging"
REFUNDS = "revenue:refunds"
TAX = "tax:payable"


def receivable(account: Account) -> str:
    return f"receivable:{account.pk}"


def prepaid(account: Account) -> str:
    return f"prepaid:{account.pk}"


def cash(gateway: str) -> str:
    return f"cash:{gateway}"


def holds(gateway: str) -> str:
    return f"holds:{gateway}"


def holds_offset(gateway: str) -> str:
    return f"holds-offset:{gateway}"


class UnbalancedPosting(ValueError):
    pass


@transaction.atomic
def posting_create(
    *,
    kind: str,
    currency: str,
    entries: list[tuple[str, Decimal]],
    memo: str = "",
    session_id: int | None = None,
    payment=None,
    account: Account | None = None,
    by=None,
) -> LedgerPosting:
    """Write one balanced posting. A prepaid account's cached balance moves with it."""
    rounded = [(code, round_money(Decimal(amount), currency)) for code, amount in entries]
    rounded = [(code, amount) for code, amount in rounded if amount]
    if not rounded:
        raise UnbalancedPosting("a posting needs at least one non-zero entry")
    if sum(amount for _, amount in rounded) != 0:
        raise UnbalancedPosting(f"{kind}: entries sum to {sum(a for _, a in rounded)}, not zero")
    posting = LedgerPosting.objects.create(
        kind=kind, memo=memo[:300], session_id=session_id, payment=payment, account=account, by=by
    )
    LedgerEntry.objects.bulk_create(
        [
            LedgerEntry(posting=posting, ledger_account=code, amount=amount, currency=currency)
            for code, amount in rounded
        ]
    )
    if account is not None:
        moved = sum((amount for code, amount in rounded if code == prepaid(account)), Decimal("0"))
        if moved:
            # The prepaid ledger account is a liability: a credit (negative) adds to the balance.
            Account.objects.filter(pk=account.pk).update(balance=F("balance") - moved)
    return posting


# SQLite sums decimals as binary floats (0.86 comes back as 0.859999999999999);
# every stored amount has two decimal places, so the exact sum has them too.
_CENT = Decimal("0.01")


def _exact(total) -> Decimal:
    return Decimal(total or 0).quantize(_CENT)


def ledger_balance(code: str, currency: str | None = None) -> Decimal:
    entries = LedgerEntry.objects.filter(ledger_account=code)
    if currency:
        entries = entries.filter(currency=currency)
    return _exact(entries.aggregate(total=Sum("amount"))["total"])


def ledger_is_balanced() -> bool:
    """Every currency's entries sum to zero over the whole ledger."""
    per_currency = LedgerEntry.objects.values("currency").annotate(total=Sum("amount"))
    return all(_exact(row["total"]) == 0 for row in per_currency)
