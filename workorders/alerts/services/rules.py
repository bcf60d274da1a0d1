"""Rules operators edit: every change written down with who made it."""

from django.db import transaction
from django.utils import timezone

from ..models import AlertRule, AlertRuleChange

_M2M = ("sites", "station_models", "users", "endpoints")


def rule_snapshot(rule: AlertRule) -> dict:
    """The rule as it stands, for its change history (ids for the relations)."""
    fields = {
        f.name: f.value_to_string(rule)
        for f in rule._meta.concrete_fields
        if f.name not in ("id", "created_at", "updated_at")
    }
    if rule.pk:
        for name in _M2M:
            fields[name] = sorted(getattr(rule, name).values_list("pk", flat=True))
    return fields


def _apply(rule: AlertRule, data: dict) -> None:
    relations = {name: data.pop(name) for name in _M2M if name in data}
    for name, value in data.items():
        setattr(rule, name, value)
    rule.full_clean(exclude=list(_M2M))
    rule.save()
    for name, value in relations.items():
        getattr(rule, name).set(value)


def rule_create(*, data: dict, by, via: str = "portal") -> AlertRule:
    with transaction.atomic():
        rule = AlertRule()
        _apply(rule, dict(data))
        AlertRuleChange.objects.create(
            rule=rule,
            action=AlertRuleChange.Action.CREATED,
            snapshot=rule_snapshot(rule),
            by=by,
            via=via,
            at=timezone.now(),
        )
    return rule


def rule_update(*, rule: AlertRule, data: dict, by, via: str = "portal") -> AlertRule:
    with transaction.atomic():
        _apply(rule, dict(data))
        AlertRuleChange.objects.create(
            rule=rule,
            action=AlertRuleChange.Action.UPDATED,
            snapshot=rule_snapshot(rule),
            by=by,
            via=via,
            at=timezone.now(),
        )
    return rule


def rule_delete(*, rule: AlertRule, by, via: str = "portal") -> None:
    """Deleting a rule deletes its alerts; the change row keeps what it was."""
    with transaction.atomic():
        AlertRuleChange.objects.create(
            rule=rule,
            action=AlertRuleChange.Action.DELETED,
            snapshot=rule_snapshot(rule),
            by=by,
            via=via,
            at=timezone.now(),
        )
        rule.delete()
