"""Reads of the alerts: what is firing (the dashboard and the nav badge), lists, rules to evaluate."""

from django.db.models import Case, IntegerField, Prefetch, Value, When

from .models import (
    OPEN_ALERT_STATUSES,
    Alert,
    AlertDelivery,
    AlertEndpoint,
    AlertRule,
    AlertSeverity,
    AlertStatus,
    EndpointStatus,
)

_SEVERITY_ORDER = Case(
    When(severity=AlertSeverity.CRITICAL, then=Value(0)),
    When(severity=AlertSeverity.WARNING, then=Value(1)),
    default=Value(2),
    output_field=IntegerField(),
)


def rules_enabled(*, kinds=None):
    rules = AlertRule.objects.filter(enabled=True).prefetch_related(
        "sites", "station_models", "endpoints", Prefetch("users")
    )
    if kinds is not None:
        rules = rules.filter(kind__in=list(kinds))
    return rules.order_by("pk")


def alerts_firing():
    """Every open alert (firing or acknowledged), worst first, then newest.

    The operations dashboard shows this list; keep its name and shape.
    """
    return (
        Alert.objects.filter(status__in=OPEN_ALERT_STATUSES)
        .select_related("rule", "site", "station", "acknowledged_by")
        .annotate(severity_order=_SEVERITY_ORDER)
        .order_by("severity_order", "-fired_at", "-id")
    )


def alerts_unacknowledged_count() -> int:
    """The nav badge: firing alerts nobody has acknowledged yet."""
    return Alert.objects.filter(status=AlertStatus.FIRING).count()


def alert_list(*, status: str = "open", severity: str = "", kind: str = ""):
    alerts = Alert.objects.select_related("rule", "site", "station", "acknowledged_by")
    if status == "open":
        alerts = alerts.filter(status__in=OPEN_ALERT_STATUSES)
    elif status in AlertStatus.values:
        alerts = alerts.filter(status=status)
    if severity in AlertSeverity.values:
        alerts = alerts.filter(severity=severity)
    if kind:
        alerts = alerts.filter(kind=kind)
    return alerts.annotate(severity_order=_SEVERITY_ORDER).order_by("severity_order", "-fired_at", "-id")


def endpoints_paused():
    return AlertEndpoint.objects.filter(status=EndpointStatus.PAUSED).order_by("paused_at")


def rule_list():
    return AlertRule.objects.prefetch_related("sites", "station_models", "endpoints", "users").order_by("name", "id")


def deliveries_of(alert_ids):
    return AlertDelivery.objects.filter(alert_id__in=alert_ids).select_related("endpoint", "user")
