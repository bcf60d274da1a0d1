"""Accounts answer who may charge (registered as the stations app's authoriser)."""

from datetime import datetime
from decimal import Decimal

from django.db.models import Q

from billing.models import Account, AccountStatus, AccountTag, Funding, PaymentMethod
from stations.models import ChargingSession, IdTag, IdTagStatus
from stations.services.authorisation import Purpose, tag_rules_info

from . import ledger


def account_for_tag(tag: IdTag) -> Account | None:
    """The account a tag charges to: its own, or its parent tag's."""
    links = AccountTag.objects.select_related("account").filter(
        Q(id_tag=tag) | Q(id_tag_id=tag.parent_id) if tag.parent_id else Q(id_tag=tag)
    )
    by_tag = {link.id_tag_id: link.account for link in links}
    return by_tag.get(tag.pk) or by_tag.get(tag.parent_id)


def account_outstanding(account: Account) -> Decimal:
    """What the account owes and has not paid."""
    return ledger.ledger_balance(ledger.receivable(account), account.currency)


def account_refusal(account: Account, *, purpose: Purpose) -> str | None:
    """The idTagInfo status that refuses this account, or None when it may charge."""
    if account.status == AccountStatus.CLOSED:
        return IdTagStatus.INVALID.value
    if account.status == AccountStatus.BLOCKED:
        return IdTagStatus.BLOCKED.value
    if purpose == Purpose.STOP:
        return None
    if account.funding == Funding.PREPAID and account.balance <= 0:
        return IdTagStatus.BLOCKED.value
    if account.funding == Funding.POSTPAID and account_outstanding(account) >= account.credit_limit > 0:
        return IdTagStatus.BLOCKED.value
    if account.funding == Funding.CARD and not PaymentMethod.objects.filter(account=account).exists():
        return IdTagStatus.BLOCKED.value
    return None


def _charging_elsewhere(account: Account, *, session_id: int | None) -> bool:
    tags = IdTag.objects.filter(Q(billing_account__account=account) | Q(parent__billing_account__account=account))
    running = ChargingSession.objects.filter(stop_at__isnull=True, id_tag__in=tags.values("id_tag"))
    if session_id is not None:
        running = running.exclude(pk=session_id)
    return running.exists()


def authorise(
    *, tag: IdTag | None, id_tag: str, station_id: int | None, purpose: Purpose, session_id: int | None, now: datetime
) -> dict | None:
    """idTagInfo from the tag's account; None for a tag no account owns (the IdTag rules answer)."""
    if tag is None:
        return None
    account = account_for_tag(tag)
    if account is None:
        return None
    info = tag_rules_info(tag, now=now)
    if info["status"] != IdTagStatus.ACCEPTED:
        return info
    refusal = account_refusal(account, purpose=purpose)
    if refusal is None and purpose != Purpose.STOP and not account.allow_concurrent_sessions:
        if _charging_elsewhere(account, session_id=session_id):
            refusal = IdTagStatus.CONCURRENT_TX.value
    if refusal:
        info["status"] = refusal
    return info
