"""Sites, charging stations, connectors and what they report over OCPP."""

from django.conf import settings
from django.db import models


class Site(models.Model):
    name = models.CharField(max_length=200, unique=True)
    address = models.CharField(max_length=300, blank=True)
    latitude = models.DecimalField(max_digits=9, decimal_places=6, null=True, blank=True)
    longitude = models.DecimalField(max_digits=9, decimal_places=6, null=True, blank=True)
    time_zone = models.CharField(max_length=64, default="UTC")
    sla_factor = models.DecimalField(
        max_digits=4,
        decimal_places=2,
        default=1,
        help_text="Work-order SLA times are multiplied by this (remote sites)",
    )

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name


class StationModel(models.Model):
    """A vendor's charger model, as it names itself in BootNotification."""

    vendor = models.CharField(max_length=20)
    model = models.CharField(max_length=20)
    lenient = models.BooleanField(
        default=False,
        help_text="Accept known harmless schema deviations from this model (logged as warnings).",
    )

    class Meta:
        constraints = [models.UniqueConstraint(fields=["vendor", "model"], name="unique_station_model")]
        ordering = ["vendor", "model"]

    def __str__(self) -> str:
        return f"{self.vendor} {self.model}"


class RegistrationStatus(models.TextChoices):
    ACCEPTED = "Accepted"
    PENDING = "Pending"
    REJECTED = "Rejected"


class ChargingStation(models.Model):
    identity = models.CharField(max_length=48, unique=True, help_text="OCPP charge point identity")
    site = models.ForeignKey(Site, null=True, blank=True, on_delete=models.SET_NULL, related_name="stations")
    station_model = models.ForeignKey(StationModel, null=True, blank=True, on_delete=models.SET_NULL)
    vendor = models.CharField(max_length=20, blank=True)
    model = models.CharField(max_length=20, blank=True)
    serial_number = models.CharField(max_length=25, blank=True)
    firmware_version = models.CharField(max_length=50, blank=True)
    iccid = models.CharField(max_length=20, blank=True)
    imsi = models.CharField(max_length=20, blank=True)
    meter_type = models.CharField(max_length=25, blank=True)
    meter_serial_number = models.CharField(max_length=25, blank=True)
    protocol = models.CharField(max_length=16, default="ocpp1.6")
    registration_status = models.CharField(
        max_length=10, choices=RegistrationStatus.choices, default=RegistrationStatus.ACCEPTED
    )
    password_hash = models.CharField(max_length=128, blank=True)
    heartbeat_interval = models.PositiveIntegerField(default=60)
    last_boot_at = models.DateTimeField(null=True, blank=True)
    last_message_at = models.DateTimeField(null=True, blank=True)
    connected = models.BooleanField(default=False)
    # The connection that holds the socket now; a replaced connection that closes
    # late must not mark the station disconnected.
    connection_id = models.CharField(max_length=36, blank=True)
    connected_at = models.DateTimeField(null=True, blank=True)
    disconnected_at = models.DateTimeField(null=True, blank=True)
    offline = models.BooleanField(default=False, help_text="Silent past its heartbeat threshold")
    firmware_status = models.CharField(max_length=30, blank=True)
    firmware_status_at = models.DateTimeField(null=True, blank=True)
    diagnostics_status = models.CharField(max_length=30, blank=True)
    diagnostics_status_at = models.DateTimeField(null=True, blank=True)
    clock_skew_at = models.DateTimeField(
        null=True,
        blank=True,
        help_text="When the charger last sent a time too far in the future; its reports are then ordered by arrival",
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["identity"]
        indexes = [
            models.Index(fields=["connected", "last_message_at"], name="station_liveness_idx"),
            models.Index(fields=["site", "identity"], name="station_site_idx"),
        ]

    def __str__(self) -> str:
        return self.identity


class ConnectorStatus(models.TextChoices):
    AVAILABLE = "Available"
    PREPARING = "Preparing"
    CHARGING = "Charging"
    SUSPENDED_EVSE = "SuspendedEVSE"
    SUSPENDED_EV = "SuspendedEV"
    FINISHING = "Finishing"
    RESERVED = "Reserved"
    UNAVAILABLE = "Unavailable"
    FAULTED = "Faulted"
    # Not OCPP: what we record when a station goes silent or we have no report yet.
    OFFLINE = "Offline"
    UNKNOWN = "Unknown"


class ChargePointErrorCode(models.TextChoices):
    """The errorCode of an OCPP 1.6 StatusNotification (the vendor's own code travels apart)."""

    CONNECTOR_LOCK_FAILURE = "ConnectorLockFailure"
    EV_COMMUNICATION_ERROR = "EVCommunicationError"
    GROUND_FAILURE = "GroundFailure"
    HIGH_TEMPERATURE = "HighTemperature"
    INTERNAL_ERROR = "InternalError"
    LOCAL_LIST_CONFLICT = "LocalListConflict"
    NO_ERROR = "NoError"
    OTHER_ERROR = "OtherError"
    OVER_CURRENT_FAILURE = "OverCurrentFailure"
    OVER_VOLTAGE = "OverVoltage"
    POWER_METER_FAILURE = "PowerMeterFailure"
    POWER_SWITCH_FAILURE = "PowerSwitchFailure"
    READER_FAILURE = "ReaderFailure"
    RESET_FAILURE = "ResetFailure"
    UNDER_VOLTAGE = "UnderVoltage"
    WEAK_SIGNAL = "WeakSignal"


class Connector(models.Model):
    """A connector as OCPP numbers it; connector 0 stands for the whole station."""

    station = models.ForeignKey(ChargingStation, on_delete=models.CASCADE, related_name="connectors")
    connector_id = models.PositiveIntegerField()
    status = models.CharField(max_length=16, choices=ConnectorStatus.choices, default=ConnectorStatus.UNKNOWN)
    error_code = models.CharField(max_length=30, default=ChargePointErrorCode.NO_ERROR)
    vendor_error_code = models.CharField(max_length=50, blank=True)
    vendor_id = models.CharField(max_length=255, blank=True)
    info = models.CharField(max_length=50, blank=True)
    status_since = models.DateTimeField(null=True, blank=True)
    # False when the current status came with a charger time we could not trust
    # (far in the future): it then counts from its arrival, and any later report replaces it.
    status_clock_trusted = models.BooleanField(default=True)

    class Meta:
        ordering = ["station", "connector_id"]
        constraints = [models.UniqueConstraint(fields=["station", "connector_id"], name="unique_connector_per_station")]
        indexes = [models.Index(fields=["status"], name="connector_status_idx")]

    def __str__(self) -> str:
        return f"{self.station_id}/{self.connector_id}"


class StatusEventSource(models.TextChoices):
    CHARGER = "charger", "reported by the charger"
    OFFLINE_SWEEP = "offline", "station went silent"
    RECONNECT = "reconnect", "station spoke again"


class StatusEvent(models.Model):
    """Append-only status history; uptime is computed from it."""

    station = models.ForeignKey(ChargingStation, on_delete=models.CASCADE, related_name="status_events")
    connector = models.ForeignKey(Connector, on_delete=models.CASCADE, related_name="status_events")
    status = models.CharField(max_length=16, choices=ConnectorStatus.choices)
    error_code = models.CharField(max_length=30, default=ChargePointErrorCode.NO_ERROR)
    vendor_error_code = models.CharField(max_length=50, blank=True)
    vendor_id = models.CharField(max_length=255, blank=True)
    info = models.CharField(max_length=50, blank=True)
    source = models.CharField(max_length=10, choices=StatusEventSource.choices, default=StatusEventSource.CHARGER)
    charger_timestamp = models.DateTimeField(null=True, blank=True)
    received_at = models.DateTimeField(db_index=True)

    class Meta:
        ordering = ["-received_at", "-id"]
        indexes = [
            models.Index(fields=["connector", "received_at"], name="statusevent_connector_idx"),
            models.Index(fields=["station", "received_at"], name="statusevent_station_idx"),
        ]

    def __str__(self) -> str:
        return f"{self.connector} {self.status} at {self.received_at:%Y-%m-%d %H:%M:%S}"


class IdTagStatus(models.TextChoices):
    ACCEPTED = "Accepted"
    BLOCKED = "Blocked"
    EXPIRED = "Expired"
    INVALID = "Invalid"
    CONCURRENT_TX = "ConcurrentTx"


class IdTag(models.Model):
    id_tag = models.CharField(max_length=20, unique=True)
    status = models.CharField(max_length=12, choices=IdTagStatus.choices, default=IdTagStatus.ACCEPTED)
    expiry_date = models.DateTimeField(null=True, blank=True)
    parent = models.ForeignKey("self", null=True, blank=True, on_delete=models.SET_NULL, related_name="children")
    note = models.CharField(max_length=200, blank=True)

    class Meta:
        ordering = ["id_tag"]

    def __str__(self) -> str:
        return self.id_tag


class MeterFlag(models.TextChoices):
    """Reasons a session's meter readings cannot be trusted for billing as they are."""

    STOP_BELOW_START = "stop_below_start", "meterStop is below meterStart"
    REGISTER_BACKWARDS = "register_backwards", "energy register ran backwards"
    SAMPLE_FROM_FUTURE = "sample_from_future", "a reading is timestamped in the future"
    START_FROM_FUTURE = "start_from_future", "the start is timestamped in the future"
    STOP_FROM_FUTURE = "stop_from_future", "the stop is timestamped in the future"
    IMPLAUSIBLE_READING = "implausible_reading", "a reading is not a plausible number"
    ENERGY_BEYOND_POWER = (
        "energy_beyond_power",
        "more energy than any charger delivers in that time (a lifetime total taken for the start?)",
    )


class ChargingSession(models.Model):
    """An OCPP transaction. Its primary key is the transactionId we hand out."""

    station = models.ForeignKey(ChargingStation, on_delete=models.PROTECT, related_name="sessions")
    connector = models.ForeignKey(Connector, on_delete=models.PROTECT, related_name="sessions")
    id_tag = models.CharField(max_length=20)
    id_tag_status = models.CharField(max_length=12, choices=IdTagStatus.choices)
    stop_id_tag = models.CharField(max_length=20, blank=True)
    reservation_id = models.IntegerField(null=True, blank=True)
    meter_start = models.BigIntegerField(help_text="Wh")
    meter_stop = models.BigIntegerField(null=True, blank=True, help_text="Wh")
    start_at = models.DateTimeField()
    stop_at = models.DateTimeField(null=True, blank=True)
    stop_reason = models.CharField(max_length=20, blank=True)
    energy_wh = models.BigIntegerField(
        null=True, blank=True, help_text="Delivered energy, set only when the readings are consistent"
    )
    meter_flags = models.JSONField(default=list, blank=True)
    # Identifies a StartTransaction so a retried one returns the same transactionId.
    start_fingerprint = models.CharField(max_length=64)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["-start_at", "-id"]
        constraints = [
            models.UniqueConstraint(fields=["station", "start_fingerprint"], name="unique_start_per_station"),
        ]
        indexes = [
            models.Index(fields=["station", "start_at"], name="session_station_start_idx"),
            models.Index(fields=["connector", "stop_at"], name="session_connector_stop_idx"),
            models.Index(fields=["start_at"], name="session_start_idx"),
        ]

    def __str__(self) -> str:
        return f"transaction {self.pk}"

    @property
    def transaction_id(self) -> int:
        return self.pk

    @property
    def is_active(self) -> bool:
        return self.stop_at is None


class MeterSample(models.Model):
    station = models.ForeignKey(ChargingStation, on_delete=models.CASCADE, related_name="meter_samples")
    connector = models.ForeignKey(Connector, on_delete=models.CASCADE, related_name="meter_samples")
    session = models.ForeignKey(
        ChargingSession, null=True, blank=True, on_delete=models.CASCADE, related_name="meter_samples"
    )
    timestamp = models.DateTimeField()
    measurand = models.CharField(max_length=50, default="Energy.Active.Import.Register")
    phase = models.CharField(max_length=10, blank=True)
    unit = models.CharField(max_length=10, default="Wh")
    context = models.CharField(max_length=20, default="Sample.Periodic")
    location = models.CharField(max_length=10, blank=True)
    value_format = models.CharField(max_length=10, default="Raw")
    value = models.TextField(help_text="The value exactly as the charger sent it")
    numeric_value = models.DecimalField(max_digits=24, decimal_places=6, null=True, blank=True)

    class Meta:
        ordering = ["timestamp", "id"]
        constraints = [
            # A retried MeterValues (or transactionData repeated in a retried
            # StopTransaction) stores each reading once.
            models.UniqueConstraint(
                fields=["connector", "timestamp", "measurand", "phase", "location", "context"],
                name="unique_meter_reading",
            )
        ]
        indexes = [models.Index(fields=["session", "timestamp"], name="metersample_session_idx")]

    def __str__(self) -> str:
        return f"{self.measurand} {self.value} {self.unit}"


class FrameDirection(models.TextChoices):
    IN = "in", "charger to us"
    OUT = "out", "us to charger"


class FrameLog(models.Model):
    """Every OCPP frame received or sent, exactly as it crossed the wire."""

    station = models.ForeignKey(ChargingStation, null=True, on_delete=models.CASCADE, related_name="frames")
    direction = models.CharField(max_length=3, choices=FrameDirection.choices)
    message_type = models.PositiveSmallIntegerField(null=True, help_text="2 CALL, 3 CALLRESULT, 4 CALLERROR")
    action = models.CharField(max_length=50, blank=True)
    unique_id = models.CharField(max_length=64, blank=True)
    error_code = models.CharField(max_length=40, blank=True, help_text="For CALLERRORs and frames we refused")
    raw = models.TextField()
    created_at = models.DateTimeField()

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [
            models.Index(fields=["station", "-created_at"], name="frame_station_recent_idx"),
            models.Index(fields=["action", "-created_at"], name="frame_action_recent_idx"),
            models.Index(fields=["created_at"], name="frame_created_idx"),
            models.Index(fields=["unique_id"], name="frame_unique_id_idx"),
        ]

    def __str__(self) -> str:
        return f"{self.direction} {self.action or self.message_type} {self.unique_id}"


class CommandStatus(models.TextChoices):
    """Where a remote command is. PENDING and SENT are open; the rest are outcomes.

    pending ──► sent ──► accepted | rejected | not_supported | error | timed_out
       │          └────► offline (the connection closed before the answer)
       └──► offline | timed_out (nobody held the socket)
    """

    PENDING = "pending"
    SENT = "sent"
    ACCEPTED = "accepted"
    REJECTED = "rejected"
    NOT_SUPPORTED = "not_supported", "not supported"
    ERROR = "error"
    TIMED_OUT = "timed_out", "timed out"
    OFFLINE = "offline"


OPEN_COMMAND_STATUSES = (CommandStatus.PENDING, CommandStatus.SENT)


class RemoteCommand(models.Model):
    """A CALL we send to a charger, who asked for it, and how it ended."""

    station = models.ForeignKey(ChargingStation, on_delete=models.CASCADE, related_name="commands")
    action = models.CharField(max_length=40)
    payload = models.JSONField(default=dict)
    requested_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    # Who or what asked when no user did: "cli", "worker: remediation", ...
    requested_via = models.CharField(max_length=60)
    status = models.CharField(max_length=16, choices=CommandStatus.choices, default=CommandStatus.PENDING)
    unique_id = models.CharField(max_length=36, blank=True)
    response = models.JSONField(null=True, blank=True)
    error_code = models.CharField(max_length=40, blank=True)
    error_description = models.TextField(blank=True)
    timeout_s = models.FloatField(default=30)
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)
    sent_at = models.DateTimeField(null=True, blank=True)
    completed_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        permissions = [
            ("send_any_command", "Can send any remote command to any station"),
            ("send_driver_command", "Can remote start/stop a session and unlock a connector"),
            ("send_onsite_command", "Can send on-site commands to stations of own work"),
        ]
        indexes = [
            models.Index(fields=["station", "-created_at"], name="command_station_recent_idx"),
            models.Index(fields=["status", "created_at"], name="command_open_idx"),
        ]

    def __str__(self) -> str:
        return f"{self.action} to {self.station_id}: {self.status}"

    @property
    def is_open(self) -> bool:
        return self.status in OPEN_COMMAND_STATUSES


class ConfigurationKey(models.Model):
    """A configuration key as the station last reported it."""

    station = models.ForeignKey(ChargingStation, on_delete=models.CASCADE, related_name="configuration")
    key = models.CharField(max_length=50)
    value = models.TextField(blank=True, null=True)
    readonly = models.BooleanField(default=False)
    reported_at = models.DateTimeField()

    class Meta:
        ordering = ["key"]
        constraints = [models.UniqueConstraint(fields=["station", "key"], name="unique_config_key")]

    def __str__(self) -> str:
        return f"{self.key}={self.value}"


class ConfigurationChange(models.Model):
    """History of configuration values: what changed, when, and through which command."""

    station = models.ForeignKey(ChargingStation, on_delete=models.CASCADE, related_name="configuration_changes")
    key = models.CharField(max_length=50)
    old_value = models.TextField(null=True, blank=True)
    new_value = models.TextField(null=True, blank=True)
    command = models.ForeignKey(RemoteCommand, null=True, blank=True, on_delete=models.SET_NULL)
    changed_at = models.DateTimeField()

    class Meta:
        ordering = ["-changed_at", "-id"]
        indexes = [models.Index(fields=["station", "-changed_at"], name="configchange_station_idx")]

    def __str__(self) -> str:
        return f"{self.key}: {self.old_value} -> {self.new_value}"


class ReservationStatus(models.TextChoices):
    REQUESTED = "requested"
    ACTIVE = "active"
    REFUSED = "refused"
    USED = "used"
    CANCELLED = "cancelled"


class Reservation(models.Model):
    """A ReserveNow; its primary key is the reservationId sent to the charger."""

    station = models.ForeignKey(ChargingStation, on_delete=models.CASCADE, related_name="reservations")
    connector_id = models.PositiveIntegerField()
    id_tag = models.CharField(max_length=20)
    expires_at = models.DateTimeField()
    status = models.CharField(max_length=10, choices=ReservationStatus.choices, default=ReservationStatus.REQUESTED)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return f"reservation {self.pk} on {self.station_id}/{self.connector_id}"


def diagnostics_path(instance: "DiagnosticsFile", filename: str) -> str:
    return f"diagnostics/{instance.station.identity}/{filename}"


class DiagnosticsFile(models.Model):
    """A diagnostics upload a station sent after GetDiagnostics."""

    station = models.ForeignKey(ChargingStation, on_delete=models.CASCADE, related_name="diagnostics_files")
    command = models.ForeignKey(RemoteCommand, null=True, blank=True, on_delete=models.SET_NULL)
    file = models.FileField(upload_to=diagnostics_path)
    size = models.PositiveBigIntegerField()
    uploaded_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-uploaded_at"]

    def __str__(self) -> str:
        return self.file.name


class DiagnosticsUpload(models.Model):
    """Leave for one diagnostics upload: the signed token in a GetDiagnostics location names it.

    It works until `expires_at`, once: `used_at` is set by compare-and-swap when a file is stored.
    """

    command = models.OneToOneField(RemoteCommand, on_delete=models.CASCADE, related_name="diagnostics_upload")
    station = models.ForeignKey(ChargingStation, on_delete=models.CASCADE, related_name="diagnostics_uploads")
    created_at = models.DateTimeField(auto_now_add=True)
    expires_at = models.DateTimeField()
    used_at = models.DateTimeField(null=True, blank=True)

    def __str__(self) -> str:
        return f"diagnostics upload for command {self.command_id}"


# --- Uptime (23 CFR 680.116(b)) ----------------------------------------------------------
# Uptime itself is never stored as an edit of history: it is computed from StatusEvent and
# ChargingSession (stations/uptime/), rolled up per port per day below, and recomputable.


class ExclusionReason(models.TextChoices):
    """The outage causes 23 CFR 680.116(b)(3) lets an operator leave out of uptime."""

    UTILITY_POWER_LOSS = "utility_power_loss", "electric utility service disruption"
    VEHICLE_FAULT = "vehicle_fault", "failure of the vehicle"
    SCHEDULED_MAINTENANCE = "scheduled_maintenance", "scheduled maintenance"
    VANDALISM = "vandalism", "vandalism"
    NATURAL_DISASTER = "natural_disaster", "natural disaster"
    OUTSIDE_OPERATING_HOURS = "outside_hours", "outside the site's operating hours"


class ExclusionState(models.TextChoices):
    """proposed → confirmed | rejected; confirmed → withdrawn. Only confirmed ones count."""

    PROPOSED = "proposed"
    CONFIRMED = "confirmed"
    REJECTED = "rejected"
    WITHDRAWN = "withdrawn"


class ExclusionSource(models.TextChoices):
    OPERATOR = "operator", "recorded by an operator"
    MAINTENANCE_WINDOW = "maintenance_window", "a maintenance window"
    WORK_ORDER = "work_order", "a preventive work order's time on site"
    OPENING_HOURS = "opening_hours", "outside the site's opening hours"


class UptimeExclusion(models.Model):
    """Outage time that does not count against uptime, on one port, one station or one site.

    Exactly one of site, station, connector is set. Times are never edited: a wrong
    exclusion is withdrawn and a new one recorded, each move an UptimeExclusionChange.
    """

    site = models.ForeignKey(Site, null=True, blank=True, on_delete=models.CASCADE, related_name="+")
    station = models.ForeignKey(ChargingStation, null=True, blank=True, on_delete=models.CASCADE, related_name="+")
    connector = models.ForeignKey(Connector, null=True, blank=True, on_delete=models.CASCADE, related_name="+")
    reason = models.CharField(max_length=24, choices=ExclusionReason.choices)
    starts_at = models.DateTimeField()
    ends_at = models.DateTimeField()
    notes = models.TextField(blank=True)
    state = models.CharField(max_length=10, choices=ExclusionState.choices, default=ExclusionState.PROPOSED)
    source = models.CharField(max_length=20, choices=ExclusionSource.choices, default=ExclusionSource.OPERATOR)
    # What proposed it ("workorder:42"), so a proposal is made once however often the sources are read.
    source_key = models.CharField(max_length=60, blank=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField()

    class Meta:
        ordering = ["-starts_at", "-id"]
        constraints = [
            models.CheckConstraint(condition=models.Q(ends_at__gt=models.F("starts_at")), name="exclusion_has_length"),
            models.CheckConstraint(
                condition=(
                    models.Q(site__isnull=False, station__isnull=True, connector__isnull=True)
                    | models.Q(site__isnull=True, station__isnull=False, connector__isnull=True)
                    | models.Q(site__isnull=True, station__isnull=True, connector__isnull=False)
                ),
                name="exclusion_has_one_scope",
            ),
            models.UniqueConstraint(
                fields=["source_key"], condition=~models.Q(source_key=""), name="one_exclusion_per_source"
            ),
        ]
        indexes = [models.Index(fields=["state", "starts_at", "ends_at"], name="exclusion_window_idx")]

    def __str__(self) -> str:
        return f"{self.get_reason_display()} {self.starts_at:%Y-%m-%d %H:%M}–{self.ends_at:%Y-%m-%d %H:%M}"


class UptimeExclusionChange(models.Model):
    """Audit trail of an exclusion: who moved it to which state, when and why."""

    exclusion = models.ForeignKey(UptimeExclusion, on_delete=models.CASCADE, related_name="changes")
    from_state = models.CharField(max_length=10, choices=ExclusionState.choices, blank=True)
    to_state = models.CharField(max_length=10, choices=ExclusionState.choices)
    by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    # Who or what when no user did: "worker: uptime proposals", "api", "admin".
    via = models.CharField(max_length=60, blank=True)
    note = models.TextField(blank=True)
    at = models.DateTimeField()

    class Meta:
        ordering = ["at", "id"]

    def __str__(self) -> str:
        return f"{self.from_state or '·'} → {self.to_state}"


class PortUptimeDay(models.Model):
    """One port's uptime figures for one UTC day, rolled up from history (recomputable).

    Seconds, not minutes, so sums over a quarter stay exact; reports divide by 60.
    `period_s` counts only the time the port existed (from its first status event);
    `excluded_s` is the part of `outage_s` covered by confirmed exclusions.
    Stable: read by the uptime reports, the dashboard and the alerts.
    """

    connector = models.ForeignKey(Connector, on_delete=models.CASCADE, related_name="uptime_days")
    station = models.ForeignKey(ChargingStation, on_delete=models.CASCADE, related_name="+")
    day = models.DateField()
    period_s = models.PositiveIntegerField()
    outage_s = models.PositiveIntegerField()
    excluded_s = models.PositiveIntegerField()
    computed_at = models.DateTimeField()

    class Meta:
        ordering = ["day", "connector"]
        constraints = [models.UniqueConstraint(fields=["connector", "day"], name="one_uptime_row_per_port_day")]
        indexes = [models.Index(fields=["day", "station"], name="uptime_day_station_idx")]

    def __str__(self) -> str:
        return f"{self.connector} {self.day}"


class UptimeRollupDay(models.Model):
    """A UTC day whose PortUptimeDay rows (and, with `usage`, PortUsageDay, SiteUsageHour and
    SiteBusyDay rows) cover every port; days without one are computed live.

    `through` unset: the whole day. Set: today so far, the rows cover [00:00, through) and the
    rest is computed live. The network's totals of the day are kept here, so a series of days
    reads one row per day.
    """

    day = models.DateField(unique=True)
    computed_at = models.DateTimeField()
    ports = models.PositiveIntegerField()
    through = models.DateTimeField(null=True, blank=True)
    usage = models.BooleanField(default=False, help_text="usage roll-ups written too")
    period_s = models.BigIntegerField(default=0)
    outage_s = models.BigIntegerField(default=0)
    excluded_s = models.BigIntegerField(default=0)

    class Meta:
        ordering = ["-day"]

    def __str__(self) -> str:
        return str(self.day)


# --- Usage roll-ups ---------------------------------------------------------------------
# Written by the same task as PortUptimeDay, from the same history, and recomputable the same
# way: the dashboard and the analytics read these plus the live part of today.


class PortUsageDay(models.Model):
    """How one port spent one UTC day (or today up to UptimeRollupDay.through): seconds per
    usage state, and the sessions that started on it with their energy."""

    connector = models.ForeignKey(Connector, on_delete=models.CASCADE, related_name="usage_days")
    station = models.ForeignKey(ChargingStation, on_delete=models.CASCADE, related_name="+")
    day = models.DateField()
    charging_s = models.PositiveIntegerField(default=0)
    occupied_s = models.PositiveIntegerField(default=0, help_text="occupied, not charging")
    available_s = models.PositiveIntegerField(default=0)
    down_s = models.PositiveIntegerField(default=0)
    unknown_s = models.PositiveIntegerField(default=0)
    sessions = models.PositiveIntegerField(default=0)
    energy_wh = models.BigIntegerField(default=0)

    class Meta:
        ordering = ["day", "connector"]
        constraints = [models.UniqueConstraint(fields=["connector", "day"], name="one_usage_row_per_port_day")]
        indexes = [models.Index(fields=["day", "station"], name="usage_day_station_idx")]

    def __str__(self) -> str:
        return f"{self.connector} {self.day}"


class SiteUsageHour(models.Model):
    """A site's ports in one hour of one UTC day, labelled with the weekday and hour on the site's
    clock: sessions started and their energy (by the start's local hour), and seconds per usage
    state (by the local hour at the start of the UTC hour). Stations without a site: site unset,
    the portal's clock."""

    site = models.ForeignKey(Site, null=True, blank=True, on_delete=models.CASCADE, related_name="+")
    day = models.DateField()
    weekday = models.PositiveSmallIntegerField(help_text="1 Monday .. 7 Sunday, local")
    hour = models.PositiveSmallIntegerField(help_text="0..23, local")
    charging_s = models.PositiveIntegerField(default=0)
    occupied_s = models.PositiveIntegerField(default=0)
    available_s = models.PositiveIntegerField(default=0)
    down_s = models.PositiveIntegerField(default=0)
    unknown_s = models.PositiveIntegerField(default=0)
    sessions = models.PositiveIntegerField(default=0)
    energy_wh = models.BigIntegerField(default=0)

    class Meta:
        ordering = ["day", "site", "weekday", "hour"]
        indexes = [models.Index(fields=["day", "site"], name="usage_hour_day_site_idx")]

    def __str__(self) -> str:
        return f"{self.site_id} {self.day} {self.weekday}/{self.hour:02d}"


class SiteBusyDay(models.Model):
    """Periods of one UTC day in which every port of a site was occupied at once.

    `lead_s` is the length of a period running from 00:00 (0 if none), `trail_s` of one running
    to the day's end, so a period across midnight is counted once when days are added up.
    """

    site = models.ForeignKey(Site, on_delete=models.CASCADE, related_name="+")
    day = models.DateField()
    ports = models.PositiveIntegerField()
    periods = models.PositiveIntegerField()
    seconds = models.PositiveIntegerField()
    longest_s = models.PositiveIntegerField()
    lead_s = models.PositiveIntegerField(default=0)
    trail_s = models.PositiveIntegerField(default=0)

    class Meta:
        ordering = ["day", "site"]
        constraints = [models.UniqueConstraint(fields=["site", "day"], name="one_busy_row_per_site_day")]

    def __str__(self) -> str:
        return f"{self.site_id} {self.day}"


# --- Sources of proposed exclusions -------------------------------------------------------


class MaintenanceWindow(models.Model):
    """Scheduled maintenance on a site, a station or one port: the roll-up proposes its time as
    an uptime exclusion, which counts once an operator confirms it."""

    site = models.ForeignKey(Site, null=True, blank=True, on_delete=models.CASCADE, related_name="+")
    station = models.ForeignKey(ChargingStation, null=True, blank=True, on_delete=models.CASCADE, related_name="+")
    connector = models.ForeignKey(Connector, null=True, blank=True, on_delete=models.CASCADE, related_name="+")
    starts_at = models.DateTimeField()
    ends_at = models.DateTimeField()
    title = models.CharField(max_length=200)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-starts_at", "-id"]
        constraints = [
            models.CheckConstraint(condition=models.Q(ends_at__gt=models.F("starts_at")), name="window_has_length"),
            models.CheckConstraint(
                condition=(
                    models.Q(site__isnull=False, station__isnull=True, connector__isnull=True)
                    | models.Q(site__isnull=True, station__isnull=False, connector__isnull=True)
                    | models.Q(site__isnull=True, station__isnull=True, connector__isnull=False)
                ),
                name="window_has_one_scope",
            ),
        ]
        indexes = [models.Index(fields=["starts_at", "ends_at"], name="maintenance_window_idx")]

    def __str__(self) -> str:
        return f"{self.title} {self.starts_at:%Y-%m-%d %H:%M}–{self.ends_at:%Y-%m-%d %H:%M}"


class Weekday(models.IntegerChoices):
    MONDAY = 1
    TUESDAY = 2
    WEDNESDAY = 3
    THURSDAY = 4
    FRIDAY = 5
    SATURDAY = 6
    SUNDAY = 7


class SiteOpeningHours(models.Model):
    """When a site is open on a weekday, on its own clock. A site with no rows is open around the
    clock; a weekday without a row is closed all day. `closes` at 00:00 means midnight; several
    rows on one day are several opening spells."""

    site = models.ForeignKey(Site, on_delete=models.CASCADE, related_name="opening_hours")
    weekday = models.PositiveSmallIntegerField(choices=Weekday.choices)
    opens = models.TimeField()
    closes = models.TimeField(help_text="00:00 for midnight")

    class Meta:
        ordering = ["site", "weekday", "opens"]
        constraints = [
            models.CheckConstraint(
                condition=models.Q(closes__gt=models.F("opens")) | models.Q(closes="00:00"),
                name="opening_hours_have_length",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.get_weekday_display()} {self.opens:%H:%M}–{self.closes:%H:%M}"
