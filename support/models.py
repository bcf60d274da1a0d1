"""The driver support desk: tickets from every channel, worked beside the charger.

A ticket moves through its statuses by a transition table (services), each
move a TicketEvent with who did it. SLA timers count business minutes of the
ticket's team (working hours, time zone, public holidays) and pause while the
ticket waits on the driver.
"""

from django.conf import settings
from django.db import models
from django.db.models import Q

from billing.models import Refund
from stations.models import ChargingSession, ChargingStation, Connector, IdTag, RemoteCommand
from workorders.models import Incident, WorkOrder

BODY_MAX = 20_000


class SupportTeam(models.Model):
    name = models.CharField(max_length=100, unique=True)
    email = models.EmailField(blank=True, help_text="The address drivers write to")
    time_zone = models.CharField(max_length=64, default="UTC")
    # {"0": ["08:00", "18:00"], ...}: Monday 0 .. Sunday 6; a day left out is closed.
    working_hours = models.JSONField(default=dict, blank=True)
    holiday_country = models.CharField(max_length=2, blank=True, help_text="ISO country for public holidays")
    holiday_subdivision = models.CharField(max_length=10, blank=True)
    is_default = models.BooleanField(default=False)

    class Meta:
        ordering = ["name"]
        constraints = [
            models.UniqueConstraint(fields=["is_default"], condition=Q(is_default=True), name="one_default_team")
        ]

    def __str__(self) -> str:
        return self.name


class TicketPriority(models.TextChoices):
    P1 = "p1", "P1 urgent (driver stuck at the charger)"
    P2 = "p2", "P2 high"
    P3 = "p3", "P3 normal"
    P4 = "p4", "P4 low"


class SlaPolicy(models.Model):
    """Targets in business minutes of the team, per priority."""

    team = models.ForeignKey(SupportTeam, on_delete=models.CASCADE, related_name="sla_policies")
    priority = models.CharField(max_length=2, choices=TicketPriority.choices)
    first_response_minutes = models.PositiveIntegerField()
    resolution_minutes = models.PositiveIntegerField()

    class Meta:
        constraints = [models.UniqueConstraint(fields=["team", "priority"], name="one_sla_per_team_priority")]

    def __str__(self) -> str:
        return f"{self.team} {self.priority}"


class Driver(models.Model):
    """Whoever asked for help: a contact, linked to their ID tags where known."""

    name = models.CharField(max_length=200, blank=True)
    email = models.EmailField(blank=True, db_index=True)
    phone = models.CharField(max_length=32, blank=True, db_index=True)
    id_tags = models.ManyToManyField(IdTag, blank=True, related_name="drivers")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["name", "email"]

    def __str__(self) -> str:
        return self.name or self.email or self.phone or f"driver {self.pk}"


class ChargerPage(models.Model):
    """A charger's public page, reached by a short unguessable code printed as a QR code."""

    station = models.OneToOneField(ChargingStation, on_delete=models.CASCADE, related_name="public_page")
    code = models.CharField(max_length=16, unique=True)
    created_at = models.DateTimeField(auto_now_add=True)

    def __str__(self) -> str:
        return f"{self.station} ({self.code})"


class TicketChannel(models.TextChoices):
    QR_PAGE = "qr_page", "Charger page"
    CHAT = "chat", "Live chat"
    EMAIL = "email", "Email"
    PHONE = "phone", "Phone"
    API = "api", "API"


class TicketCategory(models.TextChoices):
    WONT_START = "wont_start", "Won't start"
    STOPPED_EARLY = "stopped_early", "Stopped early"
    CABLE_STUCK = "cable_stuck", "Cable stuck"
    DAMAGED = "damaged", "Damaged or dirty"
    PAYMENT = "payment", "Payment or price"
    OTHER = "other", "Other"


class TicketStatus(models.TextChoices):
    NEW = "new", "New"
    OPEN = "open", "Open"
    WAITING_DRIVER = "waiting_driver", "Waiting on the driver"
    WAITING_FIELD = "waiting_field", "Waiting on field work"
    RESOLVED = "resolved", "Resolved"
    CLOSED = "closed", "Closed"


OPEN_TICKET_STATUSES = (
    TicketStatus.NEW,
    TicketStatus.OPEN,
    TicketStatus.WAITING_DRIVER,
    TicketStatus.WAITING_FIELD,
)


class Satisfaction(models.TextChoices):
    GOOD = "good", "Good"
    BAD = "bad", "Bad"


class Ticket(models.Model):
    subject = models.CharField(max_length=200)
    channel = models.CharField(max_length=10, choices=TicketChannel.choices)
    category = models.CharField(max_length=16, choices=TicketCategory.choices, default=TicketCategory.OTHER)
    status = models.CharField(max_length=16, choices=TicketStatus.choices, default=TicketStatus.NEW)
    priority = models.CharField(max_length=2, choices=TicketPriority.choices, default=TicketPriority.P3)
    team = models.ForeignKey(SupportTeam, null=True, blank=True, on_delete=models.SET_NULL, related_name="tickets")
    requester = models.ForeignKey(Driver, null=True, blank=True, on_delete=models.SET_NULL, related_name="tickets")
    assignee = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="support_tickets"
    )
    station = models.ForeignKey(
        ChargingStation, null=True, blank=True, on_delete=models.SET_NULL, related_name="tickets"
    )
    connector = models.ForeignKey(Connector, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    session = models.ForeignKey(ChargingSession, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    incident = models.ForeignKey(Incident, null=True, blank=True, on_delete=models.SET_NULL, related_name="tickets")
    work_order = models.ForeignKey(WorkOrder, null=True, blank=True, on_delete=models.SET_NULL, related_name="tickets")
    tags = models.JSONField(default=list, blank=True)
    merged_into = models.ForeignKey(
        "self", null=True, blank=True, on_delete=models.SET_NULL, related_name="merged_tickets"
    )
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)
    updated_at = models.DateTimeField(auto_now=True)
    # SLA clock: due times in wall time, moved out by the paused business time.
    first_response_at = models.DateTimeField(null=True, blank=True)
    first_response_due_at = models.DateTimeField(null=True, blank=True)
    resolution_due_at = models.DateTimeField(null=True, blank=True)
    sla_paused_at = models.DateTimeField(null=True, blank=True)
    resolved_at = models.DateTimeField(null=True, blank=True)
    closed_at = models.DateTimeField(null=True, blank=True)
    resolved_in_first_contact = models.BooleanField(default=False)
    # The Message-ID of the first mail we sent or received, the thread's root.
    email_thread_id = models.CharField(max_length=300, blank=True, db_index=True)
    satisfaction = models.CharField(max_length=4, choices=Satisfaction.choices, blank=True)
    satisfaction_comment = models.TextField(blank=True, max_length=2000)
    satisfaction_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [
            models.Index(fields=["status", "-created_at"], name="ticket_status_idx"),
            models.Index(fields=["assignee", "status"], name="ticket_assignee_idx"),
            models.Index(fields=["station", "status"], name="ticket_station_idx"),
            models.Index(fields=["channel", "-created_at"], name="ticket_channel_idx"),
            models.Index(fields=["resolution_due_at"], name="ticket_resolution_due_idx"),
        ]
        permissions = [
            ("work_ticket", "Can work tickets (reply, act, escalate)"),
            ("view_support_reports", "Can view support reports"),
        ]

    def __str__(self) -> str:
        return f"{self.reference} {self.subject}"

    @property
    def reference(self) -> str:
        """What drivers see and quote (and mail subjects carry): T-000123."""
        return f"T-{self.pk:06d}" if self.pk else "T-new"


class MessageKind(models.TextChoices):
    DRIVER = "driver", "From the driver"
    REPLY = "reply", "Public reply"
    NOTE = "note", "Internal note"
    SYSTEM = "system", "System"


class TicketMessage(models.Model):
    ticket = models.ForeignKey(Ticket, on_delete=models.CASCADE, related_name="messages")
    kind = models.CharField(max_length=8, choices=MessageKind.choices)
    channel = models.CharField(max_length=10, choices=TicketChannel.choices)
    author = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL)
    body = models.TextField(max_length=BODY_MAX)
    # Mail threading: our own Message-ID for what we send, the sender's for what we receive.
    email_message_id = models.CharField(max_length=300, blank=True, db_index=True)
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)

    class Meta:
        ordering = ["created_at", "id"]

    def __str__(self) -> str:
        return f"{self.kind} on {self.ticket_id}"


def attachment_path(instance, filename: str) -> str:
    return f"support/{instance.message.ticket_id}/{filename}"


class TicketAttachment(models.Model):
    message = models.ForeignKey(TicketMessage, on_delete=models.CASCADE, related_name="attachments")
    file = models.FileField(upload_to=attachment_path)
    filename = models.CharField(max_length=200)
    content_type = models.CharField(max_length=100)
    size = models.PositiveIntegerField()

    def __str__(self) -> str:
        return self.filename


class TicketEvent(models.Model):
    """A row for every change of a ticket (status, assignee, priority, link, merge,
    action from the ticket), with who did it."""

    ticket = models.ForeignKey(Ticket, on_delete=models.CASCADE, related_name="events")
    kind = models.CharField(max_length=30)
    from_status = models.CharField(max_length=16, blank=True)
    to_status = models.CharField(max_length=16, blank=True)
    detail = models.JSONField(default=dict, blank=True)
    by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL)
    at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["at", "id"]

    def __str__(self) -> str:
        return f"{self.kind} on {self.ticket_id}"


class TicketActionKind(models.TextChoices):
    REMOTE_START = "remote_start", "Remote start"
    REMOTE_STOP = "remote_stop", "Remote stop"
    UNLOCK = "unlock", "Unlock connector"
    TRIGGER_STATUS = "trigger_status", "Trigger a status report"
    REFUND = "refund", "Refund"
    ESCALATE = "escalate", "Escalate to dispatch"


class TicketAction(models.Model):
    """An action taken from a ticket, with its live outcome."""

    ticket = models.ForeignKey(Ticket, on_delete=models.CASCADE, related_name="actions")
    kind = models.CharField(max_length=16, choices=TicketActionKind.choices)
    command = models.ForeignKey(RemoteCommand, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    refund = models.ForeignKey(Refund, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    detail = models.JSONField(default=dict, blank=True)
    by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["created_at", "id"]

    def __str__(self) -> str:
        return f"{self.kind} on {self.ticket_id}"


class Macro(models.Model):
    """A canned reply; placeholders like {driver_name}, {charger}, {energy_kwh}, {price}."""

    name = models.CharField(max_length=100, unique=True)
    body = models.TextField(max_length=5000)
    category = models.CharField(max_length=16, choices=TicketCategory.choices, blank=True)
    active = models.BooleanField(default=True)

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name


class TroubleshootingStep(models.Model):
    """One step an agent follows for a problem category, written by operators.

    `when_status` limits it to a connector status (e.g. only when Preparing);
    `action` offers the matching one-click action from the ticket.
    """

    category = models.CharField(max_length=16, choices=TicketCategory.choices)
    order = models.PositiveSmallIntegerField(default=0)
    text = models.CharField(max_length=500)
    when_status = models.CharField(max_length=16, blank=True)
    action = models.CharField(max_length=16, choices=TicketActionKind.choices, blank=True)

    class Meta:
        ordering = ["category", "order", "id"]

    def __str__(self) -> str:
        return f"{self.category} {self.order}: {self.text[:40]}"


class AvailabilityWatch(models.Model):
    """A driver at a busy or broken charger asked to be told, once, when it is available again."""

    station = models.ForeignKey(ChargingStation, on_delete=models.CASCADE, related_name="availability_watches")
    # None: any connector of the station becoming available will do.
    connector = models.ForeignKey(Connector, null=True, blank=True, on_delete=models.CASCADE, related_name="+")
    email = models.EmailField()
    created_at = models.DateTimeField(auto_now_add=True)
    # Past this the driver has gone elsewhere; nobody is told.
    expires_at = models.DateTimeField()
    notified_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [models.Index(fields=["station", "notified_at"], name="watch_station_pending_idx")]
        constraints = [
            models.UniqueConstraint(
                fields=["station", "email"], condition=Q(notified_at__isnull=True), name="one_pending_watch_per_email"
            )
        ]

    def __str__(self) -> str:
        return f"{self.email} waits for {self.station_id}"
