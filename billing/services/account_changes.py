"""Operators' changes to accounts and their tags, each recorded with who made it."""

from django.db import transaction

from billing.models import Account, AccountEvent, AccountEventKind, AccountStatus, AccountTag
from stations.models import IdTag

ACCOUNT_FIELDS = (
    "name",
    "kind",
    "funding",
    "currency",
    "email",
    "credit_limit",
    "allow_concurrent_sessions",
)


class AccountChangeRefused(ValueError):
    pass


def _event(account: Account, kind: AccountEventKind, detail: str, by) -> AccountEvent:
    return AccountEvent.objects.create(account=account, kind=kind, detail=detail[:500], by=_user(by))


def _user(by):
    return by if getattr(by, "is_authenticated", False) else None


@transaction.atomic
def account_create(*, by, **fields) -> Account:
    unknown = set(fields) - set(ACCOUNT_FIELDS)
    if unknown:
        raise AccountChangeRefused(f"unknown account fields: {sorted(unknown)}")
    fields["currency"] = fields.get("currency", "EUR").upper()
    account = Account.objects.create(**fields)
    _event(account, AccountEventKind.CREATED, f"{account.name} ({account.get_funding_display()})", by)
    return account


@transaction.atomic
def account_update(*, account: Account, by, **fields) -> Account:
    unknown = set(fields) - set(ACCOUNT_FIELDS)
    if unknown:
        raise AccountChangeRefused(f"unknown account fields: {sorted(unknown)}")
    account = Account.objects.select_for_update().get(pk=account.pk)
    if "currency" in fields:
        fields["currency"] = fields["currency"].upper()
        if fields["currency"] != account.currency and account.sessions.exists():
            raise AccountChangeRefused("the currency of an account that has been billed cannot change")
    changed = [name for name, value in fields.items() if getattr(account, name) != value]
    if not changed:
        return account
    detail = "; ".join(f"{name}: {getattr(account, name)} → {fields[name]}" for name in changed)
    for name in changed:
        setattr(account, name, fields[name])
    account.save(update_fields=changed)
    _event(account, AccountEventKind.CHANGED, detail, by)
    return account


def account_block(*, account: Account, reason: str, by) -> Account:
    """Stop the account's tags from charging. The reason is kept on the account and in its history."""
    reason = reason.strip()
    if not reason:
        raise AccountChangeRefused("say why the account is blocked")
    with transaction.atomic():
        moved = Account.objects.filter(pk=account.pk, status=AccountStatus.ACTIVE).update(
            status=AccountStatus.BLOCKED, status_reason=reason[:200]
        )
        if not moved:
            raise AccountChangeRefused("only an active account can be blocked")
        _event(account, AccountEventKind.BLOCKED, reason, by)
    account.refresh_from_db()
    return account


def account_unblock(*, account: Account, reason: str, by) -> Account:
    reason = reason.strip()
    if not reason:
        raise AccountChangeRefused("say why the account may charge again")
    with transaction.atomic():
        moved = Account.objects.filter(pk=account.pk, status=AccountStatus.BLOCKED).update(
            status=AccountStatus.ACTIVE, status_reason=""
        )
        if not moved:
            raise AccountChangeRefused("the account is not blocked")
        _event(account, AccountEventKind.UNBLOCKED, reason, by)
    account.refresh_from_db()
    return account


@transaction.atomic
def account_tag_link(*, account: Account, id_tag: str, label: str = "", by) -> AccountTag:
    """Charge a tag to this account; an unknown tag is registered as accepted."""
    id_tag = id_tag.strip()
    if not id_tag or len(id_tag) > 20:
        raise AccountChangeRefused("an ID tag has 1 to 20 characters")
    tag, _ = IdTag.objects.get_or_create(id_tag=id_tag)
    existing = AccountTag.objects.select_related("account").filter(id_tag=tag).first()
    if existing is not None:
        if existing.account_id == account.pk:
            return existing
        raise AccountChangeRefused(f"{id_tag} already charges to {existing.account.name}")
    link = AccountTag.objects.create(account=account, id_tag=tag, label=label.strip()[:100])
    _event(account, AccountEventKind.TAG_LINKED, id_tag, by)
    return link


@transaction.atomic
def account_tag_unlink(*, link: AccountTag, by) -> None:
    account, id_tag = link.account, link.id_tag.id_tag
    deleted, _ = AccountTag.objects.filter(pk=link.pk).delete()
    if deleted:
        _event(account, AccountEventKind.TAG_UNLINKED, id_tag, by)
