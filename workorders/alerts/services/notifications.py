"""Who hears about an alert, and when: delivery rows written with the alert, quiet hours.

Quiet hours hold back everything but critical alerts. A held notification is
a `deferred` delivery due when the quiet hours end; it goes out then if the
alert is still open, and is skipped if the alert cleared meanwhile (and then
nobody gets a resolution of an alert they never heard of).
"""

import uuid
from datetime import datetime, time, timedelta
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from django.db import transaction
from django.utils import timezone

from ..models import (
    Alert,
    AlertDelivery,
    AlertRule,
    AlertSeverity,
    ChannelKind,
    DeliveryStatus,
    NotificationKind,
)


def _zone(name: str) -> ZoneInfo:
    try:
        return ZoneInfo(name or "UTC")
    except (ZoneInfoNotFoundError, ValueError):
        return ZoneInfo("UTC")


def quiet_hours_end(*, start: time | None, end: time | None, zone_name: str, now: datetime) -> datetime | None:
    """When the quiet hours that `now` falls in end (UTC), or None outside them.

    `start` after `end` spans midnight (22:00 to 07:00).
    """
    if start is None or end is None or start == end:
        return None
    zone = _zone(zone_name)
    local = now.astimezone(zone)
    t = local.time().replace(tzinfo=None)
    today = local.date()
    if start < end:
        if not start <= t < end:
            return None
        ends = datetime.combine(today, end, tzinfo=zone)
    elif t >= start:
        ends = datetime.combine(today + timedelta(days=1), end, tzinfo=zone)
    elif t < end:
        ends = datetime.combine(today, end, tzinfo=zone)
    else:
        return None
    return ends.astimezone(ZoneInfo("UTC"))


def quiet_until(*, alert: Alert, rule: AlertRule, now: datetime) -> datetime | None:
    if alert.severity == AlertSeverity.CRITICAL:
        return None
    zone_name = rule.quiet_time_zone or (alert.site.time_zone if alert.site_id else "UTC")
    return quiet_hours_end(start=rule.quiet_start, end=rule.quiet_end, zone_name=zone_name, now=now)


def _recipients(rule: AlertRule):
    for endpoint in rule.endpoints.all():
        yield ChannelKind(endpoint.kind), endpoint, None
    for user in rule.users.all():
        if user.email:
            yield ChannelKind.EMAIL, None, user


def notifications_create(*, alert: Alert, rule: AlertRule, notification: NotificationKind, now: datetime) -> list[int]:
    """Write one delivery per recipient (inside the caller's transaction); send after commit."""
    held_until = quiet_until(alert=alert, rule=rule, now=now)
    fired = {}
    if notification == NotificationKind.RESOLVED:
        fired = {
            (d.endpoint_id, d.user_id): d
            for d in AlertDelivery.objects.filter(alert=alert, notification=NotificationKind.FIRED)
        }
    created = []
    for channel, endpoint, user in _recipients(rule):
        if notification == NotificationKind.RESOLVED:
            first = fired.get((endpoint.pk if endpoint else None, user.pk if user else None))
            if first is None:
                continue
            if first.status == DeliveryStatus.DEFERRED:
                # Cleared while quiet hours held it back: neither news is sent.
                AlertDelivery.objects.filter(pk=first.pk, status=DeliveryStatus.DEFERRED).update(
                    status=DeliveryStatus.SKIPPED, last_error="resolved during quiet hours"
                )
                continue
            if first.status == DeliveryStatus.SKIPPED:
                continue
        delivery = AlertDelivery.objects.create(
            alert=alert,
            notification=notification,
            channel=channel,
            endpoint=endpoint,
            user=user,
            message_id=f"msg_{uuid.uuid4().hex}",
            status=DeliveryStatus.DEFERRED if held_until else DeliveryStatus.PENDING,
            # Due at once by the clock the senders read, whatever moment evaluation was given.
            next_attempt_at=held_until or min(now, timezone.now()),
            created_at=now,
        )
        if not held_until:
            created.append(delivery.pk)
    if created:
        from ..tasks import enqueue_deliveries

        transaction.on_commit(lambda: enqueue_deliveries(created))
    return created
