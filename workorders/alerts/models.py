"""Alerts: rules operators edit, the alerts they raise, where they are sent and how that went.

Imported by workorders/models.py, so these are models of the workorders app.

An alert is open while its condition holds; there is at most one open alert per
rule and subject (a partial unique constraint), so a second report of the same
condition adds nothing. Each notification is a Delivery row written before it
is sent (intent before effect), and each try of it an attempt row.
"""

from django.conf import settings
from django.db import models
from django.db.models import Q

from stations.models import Site, StationModel


class AlertKind(models.TextChoices):
    STATION_OFFLINE = "station_offline", "station offline for more than N minutes"
    CONNECTOR_FAULTED = "connector_faulted", "connector faulted for more than N minutes"
    ERROR_CODE = "error_code", "error code in a set"
    UPTIME_BELOW = "uptime_below", "uptime under X % over a window"
    SESSION_FAILURES = "session_failures", "session failures above a rate over a window"
    FIRMWARE_FAILED = "firmware_failed", "firmware update failed"
    WORK_ORDER_SLA = "work_order_sla", "work order breaching its SLA"
    TICKET_SLA = "ticket_sla", "ticket breaching its SLA"


class AlertSeverity(models.TextChoices):
    INFO = "info"
    WARNING = "warning"
    CRITICAL = "critical"


class AlertRule(models.Model):
    """What to watch, where, how bad it is, when to keep quiet and whom to tell."""

    name = models.CharField(max_length=120)
    kind = models.CharField(max_length=20, choices=AlertKind.choices)
    enabled = models.BooleanField(default=True)
    severity = models.CharField(max_length=10, choices=AlertSeverity.choices, default=AlertSeverity.WARNING)
    # How long a condition must hold before it fires: a charger that is back within it raises nothing.
    delay_minutes = models.PositiveIntegerField(default=5)
    error_codes = models.JSONField(default=list, blank=True, help_text="errorCode or vendorErrorCode values")
    threshold_percent = models.DecimalField(
        max_digits=5, decimal_places=2, null=True, blank=True, help_text="uptime floor or failure-rate ceiling, in %"
    )
    window_days = models.PositiveIntegerField(null=True, blank=True, help_text="uptime window")
    window_hours = models.PositiveIntegerField(null=True, blank=True, help_text="session failure window")
    min_sessions = models.PositiveIntegerField(
        default=3, help_text="fewer sessions than this in the window say nothing"
    )
    # Scope: each non-empty part narrows it; all empty means every station.
    sites = models.ManyToManyField(Site, blank=True, related_name="+")
    station_models = models.ManyToManyField(StationModel, blank=True, related_name="+")
    station_identities = models.JSONField(default=list, blank=True, help_text="charge point identities")
    # Quiet hours: nothing but critical alerts is delivered between start and end;
    # what is still firing when they end is delivered then.
    quiet_start = models.TimeField(null=True, blank=True)
    quiet_end = models.TimeField(null=True, blank=True)
    quiet_time_zone = models.CharField(max_length=64, blank=True, help_text="empty: the site's time zone")
    users = models.ManyToManyField(settings.AUTH_USER_MODEL, blank=True, related_name="alert_rules")
    endpoints = models.ManyToManyField("AlertEndpoint", blank=True, related_name="rules")
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["name", "id"]

    def __str__(self) -> str:
        return self.name


class AlertRuleChange(models.Model):
    """Every change of a rule, with who made it."""

    class Action(models.TextChoices):
        CREATED = "created"
        UPDATED = "updated"
        DELETED = "deleted"

    # Kept after the rule is deleted: the rule's name travels in `snapshot`.
    rule = models.ForeignKey(AlertRule, null=True, on_delete=models.SET_NULL, related_name="changes")
    action = models.CharField(max_length=10, choices=Action.choices)
    snapshot = models.JSONField(default=dict)
    by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    via = models.CharField(max_length=40, blank=True)
    at = models.DateTimeField()

    class Meta:
        ordering = ["-at", "-id"]

    def __str__(self) -> str:
        return f"{self.action} by {self.by_id or self.via}"


class ChannelKind(models.TextChoices):
    EMAIL = "email"
    WEBHOOK = "webhook"
    SMS = "sms"


class EndpointStatus(models.TextChoices):
    """active ──► paused (keeps failing) ──► active (an operator resumes it)"""

    ACTIVE = "active"
    PAUSED = "paused"


ENDPOINT_TRANSITIONS = {
    EndpointStatus.ACTIVE: {EndpointStatus.PAUSED},
    EndpointStatus.PAUSED: {EndpointStatus.ACTIVE},
}


class AlertEndpoint(models.Model):
    """Somewhere alerts go: an address, a webhook URL or a phone number.

    A webhook's signing secret is stored encrypted (Fernet, key from
    ALERTS_SECRET_KEY or derived from SECRET_KEY) so it can sign, and is shown
    once when it is generated; or it is read from the environment variable
    `secret_env` and never stored.
    """

    name = models.CharField(max_length=120)
    kind = models.CharField(max_length=10, choices=ChannelKind.choices)
    target = models.CharField(max_length=500, help_text="email address, https URL or E.164 phone number")
    secret_encrypted = models.TextField(blank=True, editable=False)
    secret_env = models.CharField(max_length=100, blank=True, help_text="environment variable holding the secret")
    status = models.CharField(max_length=10, choices=EndpointStatus.choices, default=EndpointStatus.ACTIVE)
    consecutive_failures = models.PositiveIntegerField(default=0)
    failing_since = models.DateTimeField(null=True, blank=True)
    paused_at = models.DateTimeField(null=True, blank=True)
    paused_reason = models.CharField(max_length=300, blank=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["name", "id"]

    def __str__(self) -> str:
        return f"{self.name} ({self.kind})"


class AlertEndpointEvent(models.Model):
    """Created, paused, resumed: who or what did it and why."""

    endpoint = models.ForeignKey(AlertEndpoint, on_delete=models.CASCADE, related_name="events")
    from_status = models.CharField(max_length=10, choices=EndpointStatus.choices, blank=True)
    to_status = models.CharField(max_length=10, choices=EndpointStatus.choices)
    reason = models.CharField(max_length=300, blank=True)
    by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    via = models.CharField(max_length=40, blank=True)
    at = models.DateTimeField()

    class Meta:
        ordering = ["at", "id"]

    def __str__(self) -> str:
        return f"{self.from_status or '∅'} → {self.to_status}"


class AlertStatus(models.TextChoices):
    """firing ──► acknowledged ──► resolved
    └─────────────────────────────► resolved"""

    FIRING = "firing"
    ACKNOWLEDGED = "acknowledged"
    RESOLVED = "resolved"


ALERT_TRANSITIONS = {
    AlertStatus.FIRING: {AlertStatus.ACKNOWLEDGED, AlertStatus.RESOLVED},
    AlertStatus.ACKNOWLEDGED: {AlertStatus.RESOLVED},
    AlertStatus.RESOLVED: set(),
}
OPEN_ALERT_STATUSES = (AlertStatus.FIRING, AlertStatus.ACKNOWLEDGED)


class Alert(models.Model):
    """One condition of one rule on one subject, from when it fired until it cleared."""

    rule = models.ForeignKey(AlertRule, on_delete=models.CASCADE, related_name="alerts")
    kind = models.CharField(max_length=20, choices=AlertKind.choices)
    severity = models.CharField(max_length=10, choices=AlertSeverity.choices)
    status = models.CharField(max_length=12, choices=AlertStatus.choices, default=AlertStatus.FIRING)
    # What it is about: "station:12", "connector:34", "work_order:5", "ticket:9".
    subject_key = models.CharField(max_length=80)
    subject_label = models.CharField(max_length=200)
    subject_url = models.CharField(max_length=300, blank=True)
    station = models.ForeignKey(
        "stations.ChargingStation", null=True, blank=True, on_delete=models.CASCADE, related_name="+"
    )
    site = models.ForeignKey(Site, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    summary = models.CharField(max_length=300)
    details = models.JSONField(default=dict, blank=True)
    condition_since = models.DateTimeField(help_text="when the condition began")
    fired_at = models.DateTimeField()
    acknowledged_at = models.DateTimeField(null=True, blank=True)
    acknowledged_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    resolved_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-fired_at", "-id"]
        constraints = [
            models.UniqueConstraint(
                fields=["rule", "subject_key"],
                condition=Q(status__in=["firing", "acknowledged"]),
                name="one_open_alert_per_rule_and_subject",
            )
        ]
        indexes = [
            models.Index(fields=["status", "fired_at"], name="alert_status_idx"),
            models.Index(fields=["rule", "status"], name="alert_rule_status_idx"),
        ]

    def __str__(self) -> str:
        return f"{self.summary} ({self.status})"


class AlertEvent(models.Model):
    """The alert's history: fired, acknowledged (by whom), resolved."""

    alert = models.ForeignKey(Alert, on_delete=models.CASCADE, related_name="events")
    from_status = models.CharField(max_length=12, choices=AlertStatus.choices, blank=True)
    to_status = models.CharField(max_length=12, choices=AlertStatus.choices)
    by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    via = models.CharField(max_length=40, blank=True)
    note = models.CharField(max_length=300, blank=True)
    at = models.DateTimeField()

    class Meta:
        ordering = ["at", "id"]

    def __str__(self) -> str:
        return f"{self.from_status or '∅'} → {self.to_status}"


class NotificationKind(models.TextChoices):
    FIRED = "fired"
    RESOLVED = "resolved"


class DeliveryStatus(models.TextChoices):
    """pending ──► sending ──► sent
       ▲  │          └──► pending (failed, retried later) ──► … ──► failed (gave up)
       │  └──► skipped (the alert cleared during quiet hours)
    deferred (quiet hours) ──► pending when they end"""

    DEFERRED = "deferred", "held for quiet hours"
    PENDING = "pending"
    SENDING = "sending"
    SENT = "sent"
    FAILED = "failed"
    SKIPPED = "skipped"


class AlertDelivery(models.Model):
    """One notification of one alert to one recipient, written before it is sent."""

    alert = models.ForeignKey(Alert, on_delete=models.CASCADE, related_name="deliveries")
    notification = models.CharField(max_length=10, choices=NotificationKind.choices)
    channel = models.CharField(max_length=10, choices=ChannelKind.choices)
    endpoint = models.ForeignKey(
        AlertEndpoint, null=True, blank=True, on_delete=models.CASCADE, related_name="deliveries"
    )
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.CASCADE, related_name="+"
    )
    # The webhook-id of every try of this delivery, so a receiver can drop repeats.
    message_id = models.CharField(max_length=40)
    status = models.CharField(max_length=10, choices=DeliveryStatus.choices, default=DeliveryStatus.PENDING)
    attempts = models.PositiveIntegerField(default=0)
    next_attempt_at = models.DateTimeField(null=True, blank=True)
    claimed_at = models.DateTimeField(null=True, blank=True)
    last_status_code = models.PositiveIntegerField(null=True, blank=True)
    last_error = models.CharField(max_length=500, blank=True)
    sent_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField()

    class Meta:
        ordering = ["-created_at", "-id"]
        constraints = [
            models.UniqueConstraint(
                fields=["alert", "notification", "endpoint"],
                condition=Q(endpoint__isnull=False),
                name="one_delivery_per_alert_endpoint",
            ),
            models.UniqueConstraint(
                fields=["alert", "notification", "user"],
                condition=Q(user__isnull=False),
                name="one_delivery_per_alert_user",
            ),
        ]
        indexes = [models.Index(fields=["status", "next_attempt_at"], name="alertdelivery_due_idx")]

    def __str__(self) -> str:
        return f"{self.notification} of alert {self.alert_id} by {self.channel}: {self.status}"


class AlertDeliveryAttempt(models.Model):
    """One try of a delivery and what came back."""

    delivery = models.ForeignKey(AlertDelivery, on_delete=models.CASCADE, related_name="tries")
    at = models.DateTimeField()
    ok = models.BooleanField()
    status_code = models.PositiveIntegerField(null=True, blank=True)
    error = models.CharField(max_length=500, blank=True)
    duration_ms = models.PositiveIntegerField(default=0)

    class Meta:
        ordering = ["at", "id"]

    def __str__(self) -> str:
        return f"{'ok' if self.ok else 'failed'} {self.status_code or self.error[:40]}"
