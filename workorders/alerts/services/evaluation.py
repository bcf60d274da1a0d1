"""Rules against the world: fire what has held long enough, resolve what cleared, acknowledge.

Evaluation runs on status events (for the event's station) and on a schedule
(everything, for conditions that only time makes true). Each run compares the
conditions that hold now with the open alerts of the rule:

- a condition with no open alert fires once it has held for the rule's delay
  (a charger back within the delay never fires);
- an open alert whose condition is gone is resolved;
- anything else is left alone, so a repeated event adds nothing.

Two runs at once cannot open two alerts: the partial unique constraint admits
one open alert per rule and subject, and the loser's insert is dropped.
"""

import logging
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.db import IntegrityError, transaction
from django.utils import timezone

from stations.models import ChargingStation

from ..conditions import SOURCES, Condition
from ..models import (
    ALERT_TRANSITIONS,
    OPEN_ALERT_STATUSES,
    Alert,
    AlertEvent,
    AlertRule,
    AlertStatus,
    NotificationKind,
)
from ..selectors import rules_enabled
from . import notifications

log = logging.getLogger(__name__)


class AlertTransitionError(Exception):
    pass


@dataclass
class EvaluationResult:
    fired: list[int]
    resolved: list[int]


def alerts_evaluate(
    *, now: datetime | None = None, kinds=None, station_ids: list[int] | None = None
) -> EvaluationResult:
    """Evaluate every enabled rule (of `kinds`, limited to `station_ids` when given)."""
    now = now or timezone.now()
    result = EvaluationResult(fired=[], resolved=[])
    for rule in rules_enabled(kinds=kinds):
        fired, resolved = rule_evaluate(rule=rule, now=now, station_ids=station_ids)
        result.fired += fired
        result.resolved += resolved
    return result


def rule_evaluate(*, rule: AlertRule, now: datetime, station_ids=None) -> tuple[list[int], list[int]]:
    holding = {c.subject_key: c for c in SOURCES[rule.kind](rule, now, station_ids)}
    open_alerts = Alert.objects.filter(rule=rule, status__in=OPEN_ALERT_STATUSES)
    if station_ids is not None:
        open_alerts = open_alerts.filter(station_id__in=station_ids)
    open_by_subject = {alert.subject_key: alert for alert in open_alerts}
    delay = timedelta(minutes=rule.delay_minutes)
    fired, resolved = [], []
    for key, condition in holding.items():
        if key in open_by_subject or now - condition.since < delay:
            continue
        alert = alert_fire(rule=rule, condition=condition, now=now)
        if alert is not None:
            fired.append(alert.pk)
    for key, alert in open_by_subject.items():
        if key not in holding and alert_resolve(alert=alert, now=now):
            resolved.append(alert.pk)
    return fired, resolved


def alert_fire(*, rule: AlertRule, condition: Condition, now: datetime) -> Alert | None:
    """Open the alert and write its notifications; None when one is already open."""
    site_id = condition.site_id
    if site_id is None and condition.station_id is not None:
        site_id = ChargingStation.objects.filter(pk=condition.station_id).values_list("site_id", flat=True).first()
    with transaction.atomic():
        try:
            with transaction.atomic():
                alert = Alert.objects.create(
                    rule=rule,
                    kind=rule.kind,
                    severity=rule.severity,
                    subject_key=condition.subject_key,
                    subject_label=condition.subject_label[:200],
                    subject_url=condition.subject_url,
                    station_id=condition.station_id,
                    site_id=site_id,
                    summary=condition.summary[:300],
                    details=condition.details,
                    condition_since=condition.since,
                    fired_at=now,
                )
        except IntegrityError:
            # Another evaluation opened it first: one alert per condition.
            return None
        AlertEvent.objects.create(alert=alert, to_status=AlertStatus.FIRING, via="rule evaluation", at=now)
        notifications.notifications_create(alert=alert, rule=rule, notification=NotificationKind.FIRED, now=now)
    log.info("alert %s fired: %s", alert.pk, alert.summary)
    return alert


def alert_resolve(*, alert: Alert, now: datetime, note: str = "condition cleared") -> bool:
    with transaction.atomic():
        changed = Alert.objects.filter(pk=alert.pk, status__in=OPEN_ALERT_STATUSES).update(
            status=AlertStatus.RESOLVED, resolved_at=now
        )
        if not changed:
            return False
        AlertEvent.objects.create(
            alert=alert,
            from_status=alert.status,
            to_status=AlertStatus.RESOLVED,
            via="rule evaluation",
            note=note,
            at=now,
        )
        alert.status, alert.resolved_at = AlertStatus.RESOLVED, now
        notifications.notifications_create(
            alert=alert, rule=alert.rule, notification=NotificationKind.RESOLVED, now=now
        )
    return True


def alert_acknowledge(*, alert: Alert, by, via: str = "portal", note: str = "", now: datetime | None = None) -> Alert:
    """Someone has seen it and is on it; it stays open until the condition clears."""
    now = now or timezone.now()
    target = AlertStatus.ACKNOWLEDGED
    if target not in ALERT_TRANSITIONS[AlertStatus(alert.status)]:
        raise AlertTransitionError(f"an alert that is {alert.status} cannot be acknowledged")
    with transaction.atomic():
        changed = Alert.objects.filter(pk=alert.pk, status=alert.status).update(
            status=target, acknowledged_at=now, acknowledged_by=by
        )
        if not changed:
            raise AlertTransitionError("the alert changed meanwhile; look again")
        AlertEvent.objects.create(
            alert=alert, from_status=alert.status, to_status=target, by=by, via=via, note=note[:300], at=now
        )
    alert.status, alert.acknowledged_at, alert.acknowledged_by = target, now, by
    return alert
