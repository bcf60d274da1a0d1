"""Faults to fixes: the playbook, incidents, work orders, technicians, maintenance plans."""

from django.conf import settings
from django.db import models
from django.db.models import Q

from stations.models import ChargingStation, Connector, RemoteCommand, Site, StationModel, StatusEvent


class Severity(models.TextChoices):
    LOW = "low"
    MEDIUM = "medium"
    HIGH = "high"
    CRITICAL = "critical"


class FaultCause(models.TextChoices):
    """Whose problem a code usually is; only equipment faults can need a truck."""

    EQUIPMENT = "equipment"
    DRIVER = "driver"
    VEHICLE = "vehicle"
    GRID = "grid", "grid / site power"


class RemoteStep(models.TextChoices):
    """What remediation can try from afar, each one OCPP command."""

    TRIGGER_STATUS = "trigger_status", "ask for a fresh status"
    SOFT_RESET = "soft_reset", "soft reset"
    HARD_RESET = "hard_reset", "hard reset"
    AVAILABILITY_CYCLE = "availability_cycle", "set unavailable, then available"
    CLEAR_CACHE = "clear_cache", "clear the authorisation cache"
    UNLOCK = "unlock", "unlock the connector"


class ErrorCode(models.Model):
    """One playbook entry: what a code means and what to do about it.

    `vendor` is empty for the vendor-independent entries (OCPP 1.6
    ChargePointErrorCode values and ChargeX codes, which any vendor sends).
    """

    vendor = models.CharField(max_length=50, blank=True)
    code = models.CharField(max_length=50)
    meaning = models.CharField(max_length=200)
    severity = models.CharField(max_length=10, choices=Severity.choices, default=Severity.MEDIUM)
    cause = models.CharField(max_length=10, choices=FaultCause.choices, default=FaultCause.EQUIPMENT)
    remotely_fixable = models.BooleanField(default=False)
    remote_steps = models.JSONField(default=list, blank=True, help_text="ordered RemoteStep values")
    field_steps = models.TextField(blank=True)
    likely_parts = models.CharField(max_length=300, blank=True)
    skills = models.JSONField(default=list, blank=True, help_text="skills a technician needs, e.g. ['dc', 'hv']")

    class Meta:
        ordering = ["vendor", "code"]
        constraints = [models.UniqueConstraint(fields=["vendor", "code"], name="unique_error_code_per_vendor")]

    def __str__(self) -> str:
        return f"{self.vendor + ' ' if self.vendor else ''}{self.code}"


class IncidentKind(models.TextChoices):
    FAULT = "fault", "charger reported a fault"
    OFFLINE = "offline", "station offline"
    FAILED_SESSIONS = "failed_sessions", "repeated failed sessions"


class IncidentStatus(models.TextChoices):
    """open ──► remediating ──► dispatched ──► closed
    └──────────┴──────────────────────► closed"""

    OPEN = "open"
    REMEDIATING = "remediating"
    DISPATCHED = "dispatched"
    CLOSED = "closed"


class IncidentResolution(models.TextChoices):
    REMOTE = "remote", "resolved remotely"
    FIELD = "field", "fixed on site"
    SELF_CLEARED = "self_cleared", "cleared by itself"
    NOT_EQUIPMENT = "not_equipment", "driver or vehicle, no truck roll"


class Incident(models.Model):
    """A fault on one connector (connector 0: the whole station), worked until it is fixed."""

    station = models.ForeignKey(ChargingStation, on_delete=models.CASCADE, related_name="incidents")
    connector = models.ForeignKey(Connector, on_delete=models.CASCADE, related_name="incidents")
    kind = models.CharField(max_length=16, choices=IncidentKind.choices)
    status = models.CharField(max_length=12, choices=IncidentStatus.choices, default=IncidentStatus.OPEN)
    resolution = models.CharField(max_length=16, choices=IncidentResolution.choices, blank=True)
    error_code = models.CharField(max_length=30, blank=True, help_text="OCPP errorCode")
    vendor_error_code = models.CharField(max_length=50, blank=True)
    playbook = models.ForeignKey(ErrorCode, null=True, blank=True, on_delete=models.SET_NULL)
    status_events = models.ManyToManyField(StatusEvent, blank=True, related_name="incidents")
    next_step = models.PositiveSmallIntegerField(default=0, help_text="index into the playbook's remote steps")
    # When remediation looks at it next; None once it needs nothing more from it.
    next_check_at = models.DateTimeField(null=True, blank=True, db_index=True)
    opened_at = models.DateTimeField()
    closed_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-opened_at", "-id"]
        constraints = [
            models.UniqueConstraint(
                fields=["connector", "kind"],
                condition=~Q(status="closed"),
                name="one_open_incident_per_connector_and_kind",
            )
        ]
        indexes = [
            models.Index(fields=["status", "opened_at"], name="incident_status_idx"),
            models.Index(fields=["station", "opened_at"], name="incident_station_idx"),
        ]

    def __str__(self) -> str:
        return f"incident {self.pk} {self.kind} on {self.connector}"


class IncidentStepKind(models.TextChoices):
    OPENED = "opened"
    ATTACHED = "attached", "more faults attached"
    COMMAND = "command", "remote step"
    WAIT = "wait", "waiting for recovery"
    DECISION = "decision"
    STATUS = "status", "status change"
    NOTE = "note"
    CLOSED = "closed"


class IncidentStep(models.Model):
    """The incident's timeline: each step, wait and decision, with its reason."""

    incident = models.ForeignKey(Incident, on_delete=models.CASCADE, related_name="steps")
    kind = models.CharField(max_length=10, choices=IncidentStepKind.choices)
    remote_step = models.CharField(max_length=20, choices=RemoteStep.choices, blank=True)
    command = models.ForeignKey(RemoteCommand, null=True, blank=True, on_delete=models.SET_NULL)
    reason = models.TextField()
    # Empty for what the system did by itself (remediation, the charger).
    by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    at = models.DateTimeField()
    # Makes a retried task's step idempotent: (incident, key) is written once.
    key = models.CharField(max_length=60)

    class Meta:
        ordering = ["at", "id"]
        constraints = [models.UniqueConstraint(fields=["incident", "key"], name="unique_incident_step_key")]

    def __str__(self) -> str:
        return f"{self.kind}: {self.reason[:40]}"


class Technician(models.Model):
    user = models.OneToOneField(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="technician")
    skills = models.JSONField(default=list, blank=True, help_text="e.g. ['ac', 'dc', 'hv', 'network']")
    certifications = models.JSONField(default=list, blank=True, help_text="vendors, e.g. ['ACME Power']")
    territory = models.CharField(max_length=100, blank=True)
    home_latitude = models.DecimalField(max_digits=9, decimal_places=6, null=True, blank=True)
    home_longitude = models.DecimalField(max_digits=9, decimal_places=6, null=True, blank=True)
    work_start = models.TimeField(default="07:00")
    work_end = models.TimeField(default="17:00")
    active = models.BooleanField(default=True)

    class Meta:
        ordering = ["user__username"]

    def __str__(self) -> str:
        return self.user.get_full_name() or self.user.get_username()


class WorkOrderKind(models.TextChoices):
    CORRECTIVE = "corrective"
    PREVENTIVE = "preventive"
    INSPECTION = "inspection", "installation / inspection"
    SUPPORT = "support", "from a support ticket"


class Priority(models.TextChoices):
    P1 = "p1", "P1 – down, urgent"
    P2 = "p2", "P2 – degraded"
    P3 = "p3", "P3 – planned"


class WorkOrderStatus(models.TextChoices):
    NEW = "new"
    ASSIGNED = "assigned"
    EN_ROUTE = "en_route", "en route"
    ON_SITE = "on_site", "on site"
    ON_HOLD = "on_hold", "on hold for parts"
    RESOLVED = "resolved"
    VERIFIED = "verified"
    CLOSED = "closed"
    CANCELLED = "cancelled"


OPEN_WORK_ORDER_STATUSES = (
    WorkOrderStatus.NEW,
    WorkOrderStatus.ASSIGNED,
    WorkOrderStatus.EN_ROUTE,
    WorkOrderStatus.ON_SITE,
    WorkOrderStatus.ON_HOLD,
    WorkOrderStatus.RESOLVED,
)


class MaintenancePlan(models.Model):
    """Preventive maintenance: every N days, sessions or kWh, per station model or site."""

    name = models.CharField(max_length=100)
    station_model = models.ForeignKey(StationModel, null=True, blank=True, on_delete=models.CASCADE)
    site = models.ForeignKey(Site, null=True, blank=True, on_delete=models.CASCADE)
    every_days = models.PositiveIntegerField(null=True, blank=True)
    every_sessions = models.PositiveIntegerField(null=True, blank=True)
    every_kwh = models.PositiveIntegerField(null=True, blank=True)
    checklist = models.JSONField(default=list, blank=True, help_text="list of checklist item texts")
    skills = models.JSONField(default=list, blank=True)
    active = models.BooleanField(default=True)

    class Meta:
        ordering = ["name"]
        constraints = [
            models.CheckConstraint(
                condition=Q(every_days__isnull=False) | Q(every_sessions__isnull=False) | Q(every_kwh__isnull=False),
                name="plan_has_an_interval",
            )
        ]

    def __str__(self) -> str:
        return self.name


class WorkOrder(models.Model):
    kind = models.CharField(max_length=12, choices=WorkOrderKind.choices)
    priority = models.CharField(max_length=2, choices=Priority.choices, default=Priority.P2)
    status = models.CharField(max_length=10, choices=WorkOrderStatus.choices, default=WorkOrderStatus.NEW)
    station = models.ForeignKey(ChargingStation, on_delete=models.PROTECT, related_name="work_orders")
    connector = models.ForeignKey(Connector, null=True, blank=True, on_delete=models.SET_NULL)
    incident = models.ForeignKey(Incident, null=True, blank=True, on_delete=models.SET_NULL, related_name="work_orders")
    technician = models.ForeignKey(
        Technician, null=True, blank=True, on_delete=models.SET_NULL, related_name="work_orders"
    )
    title = models.CharField(max_length=200)
    diagnosis = models.JSONField(default=dict, blank=True, help_text="codes, remote steps tried, last frames")
    checklist = models.JSONField(default=list, blank=True, help_text="[{'item': str, 'done': bool}]")
    parts_used = models.TextField(blank=True)
    notes = models.TextField(blank=True)
    resolution_code = models.CharField(max_length=40, blank=True)
    follow_up = models.TextField(blank=True)
    sla_due_at = models.DateTimeField()
    on_site_started_at = models.DateTimeField(null=True, blank=True)
    on_site_ended_at = models.DateTimeField(null=True, blank=True)
    verified_at = models.DateTimeField(null=True, blank=True)
    # Preventive orders: one per plan, station and period.
    plan = models.ForeignKey(MaintenancePlan, null=True, blank=True, on_delete=models.SET_NULL)
    period_key = models.CharField(max_length=40, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["sla_due_at", "id"]
        permissions = [("view_all_workorders", "Can see every work order, not only own")]
        constraints = [
            models.UniqueConstraint(
                fields=["plan", "station", "period_key"],
                condition=Q(plan__isnull=False),
                name="one_work_order_per_plan_period",
            )
        ]
        indexes = [
            models.Index(fields=["status", "sla_due_at"], name="workorder_queue_idx"),
            models.Index(fields=["technician", "status"], name="workorder_technician_idx"),
            models.Index(fields=["station", "status"], name="workorder_station_idx"),
        ]

    def __str__(self) -> str:
        return f"WO-{self.pk} {self.title}"


class WorkOrderChange(models.TextChoices):
    """What an event of a work order records."""

    STATUS = "status", "status"
    CHECKLIST = "checklist", "checklist"
    NOTES = "notes", "notes"
    PARTS = "parts_used", "parts used"
    FOLLOW_UP = "follow_up", "follow-up"
    RESOLUTION = "resolution_code", "resolution code"
    PHOTO = "photo", "photo"
    DETAILS = "details", "title or priority"


class WorkOrderEvent(models.Model):
    """Every change of a work order (its status, and what is written down on it),
    with who did it and when."""

    work_order = models.ForeignKey(WorkOrder, on_delete=models.CASCADE, related_name="events")
    change = models.CharField(max_length=16, choices=WorkOrderChange.choices, default=WorkOrderChange.STATUS)
    from_status = models.CharField(max_length=10, choices=WorkOrderStatus.choices, blank=True)
    # The status the order is in after this event (unchanged for edits that are no move).
    to_status = models.CharField(max_length=10, choices=WorkOrderStatus.choices)
    by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL)
    via = models.CharField(max_length=60, blank=True)
    note = models.TextField(blank=True)
    at = models.DateTimeField()

    class Meta:
        ordering = ["at", "id"]

    def __str__(self) -> str:
        if self.change != WorkOrderChange.STATUS:
            return f"{self.get_change_display()} edited"
        return f"{self.from_status or '∅'} → {self.to_status}"


class WorkOrderPhoto(models.Model):
    work_order = models.ForeignKey(WorkOrder, on_delete=models.CASCADE, related_name="photos")
    image = models.FileField(upload_to="workorders/photos/%Y/%m/")
    uploaded_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL)
    uploaded_at = models.DateTimeField(auto_now_add=True)

    def __str__(self) -> str:
        return self.image.name


class DispatchDecision(models.Model):
    """Who dispatch proposed for a work order, who was chosen, and why."""

    work_order = models.ForeignKey(WorkOrder, on_delete=models.CASCADE, related_name="dispatch_decisions")
    proposed = models.ForeignKey(Technician, null=True, on_delete=models.SET_NULL, related_name="+")
    chosen = models.ForeignKey(Technician, null=True, on_delete=models.SET_NULL, related_name="+")
    reasons = models.JSONField(default=dict, help_text="score and its parts per candidate")
    decided_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL)
    decided_via = models.CharField(max_length=60, blank=True)
    at = models.DateTimeField()

    class Meta:
        ordering = ["-at"]

    def __str__(self) -> str:
        return f"dispatch of {self.work_order_id}"


# Alert rules, alerts, endpoints and deliveries live in their own package.
from workorders.alerts.models import *  # noqa: E402, F403
