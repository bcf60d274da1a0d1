from django import forms
from django.contrib import admin, messages

from stations.models import (
    ChargingSession,
    ChargingStation,
    ConfigurationChange,
    ConfigurationKey,
    Connector,
    DiagnosticsFile,
    FrameLog,
    IdTag,
    MaintenanceWindow,
    MeterSample,
    PortUptimeDay,
    RegistrationStatus,
    RemoteCommand,
    Reservation,
    Site,
    SiteOpeningHours,
    StationModel,
    StatusEvent,
    UptimeExclusion,
    UptimeExclusionChange,
)
from stations.services import credentials, registration
from stations.uptime import exclusions as uptime_exclusions


class ReadOnlyAdmin(admin.ModelAdmin):
    """History is never edited by hand: status events, meter readings, frames."""

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


class SiteOpeningHoursInline(admin.TabularInline):
    """When the site is open, on its own clock; the nightly roll-up proposes the rest of each day
    as "outside the site's operating hours" for an operator to confirm. No rows: always open."""

    model = SiteOpeningHours
    extra = 0


@admin.register(Site)
class SiteAdmin(admin.ModelAdmin):
    list_display = ["name", "address", "time_zone"]
    search_fields = ["name", "address"]
    inlines = [SiteOpeningHoursInline]


@admin.register(MaintenanceWindow)
class MaintenanceWindowAdmin(admin.ModelAdmin):
    """Scheduled maintenance; its time is proposed as an uptime exclusion (confirmed by an operator)."""

    list_display = ["title", "starts_at", "ends_at", "site", "station", "connector", "created_by"]
    search_fields = ["title", "station__identity", "site__name"]
    raw_id_fields = ["station", "connector"]
    fields = ["title", "starts_at", "ends_at", "site", "station", "connector"]

    def save_model(self, request, obj, form, change):
        if change:
            return super().save_model(request, obj, form, change)
        try:
            made = uptime_exclusions.maintenance_window_schedule(
                title=obj.title, starts_at=obj.starts_at, ends_at=obj.ends_at, by=request.user, site=obj.site,
                station=obj.station, connector=obj.connector,
            )  # fmt: skip
        except uptime_exclusions.ExclusionError as exc:
            raise forms.ValidationError(str(exc)) from None
        obj.pk = made.pk


@admin.register(StationModel)
class StationModelAdmin(admin.ModelAdmin):
    list_display = ["vendor", "model", "lenient"]
    list_filter = ["lenient", "vendor"]
    list_editable = ["lenient"]
    search_fields = ["vendor", "model"]


class ConnectorInline(admin.TabularInline):
    model = Connector
    extra = 0
    fields = ["connector_id", "status", "error_code", "vendor_error_code", "info", "status_since"]
    readonly_fields = fields


class ChargingStationForm(forms.ModelForm):
    """The stored hash never reaches the page; a new password may be set, never read back."""

    new_password = forms.CharField(
        required=False,
        strip=False,
        widget=forms.PasswordInput(render_value=False),
        help_text=(
            f"Leave empty to keep the current one. {credentials.MIN_LENGTH} to {credentials.MAX_LENGTH} "
            "printable characters (the charger's AuthorizationKey)."
        ),
    )

    class Meta:
        model = ChargingStation
        # Listed, not excluded, so a field added later is not editable (or shown) by accident.
        fields = ["identity", "site", "protocol", "registration_status", "heartbeat_interval", "clock_skew_at"]

    def clean_new_password(self) -> str:
        password = self.cleaned_data["new_password"]
        if password:
            try:
                credentials.check_password_rules(password)
            except credentials.WeakPassword as exc:
                raise forms.ValidationError(str(exc)) from None
        return password


@admin.register(ChargingStation)
class ChargingStationAdmin(admin.ModelAdmin):
    form = ChargingStationForm
    list_display = [
        "identity",
        "site",
        "vendor",
        "model",
        "registration_status",
        "connected",
        "offline",
        "last_message_at",
    ]
    list_filter = ["registration_status", "connected", "offline", "site", "vendor"]
    list_select_related = ["site"]
    search_fields = ["identity", "serial_number", "site__name"]
    readonly_fields = [
        "vendor",
        "model",
        "station_model",
        "serial_number",
        "firmware_version",
        "iccid",
        "imsi",
        "meter_type",
        "meter_serial_number",
        "last_boot_at",
        "last_message_at",
        "connected",
        "connection_id",
        "connected_at",
        "disconnected_at",
        "offline",
        "firmware_status",
        "firmware_status_at",
        "diagnostics_status",
        "diagnostics_status_at",
    ]
    inlines = [ConnectorInline]
    actions = ["accept_registration", "reject_registration"]

    def save_model(self, request, obj, form, change):
        super().save_model(request, obj, form, change)
        if form.cleaned_data.get("new_password"):
            try:
                registration.station_register(identity=obj.identity, password=form.cleaned_data["new_password"])
            except registration.RegistrationError as exc:
                messages.error(request, f"Password not set: {exc}")
            else:
                messages.info(request, f"New password set for {obj.identity}")

    @admin.action(description="Accept registration (at next BootNotification)")
    def accept_registration(self, request, queryset):
        for station in queryset:
            registration.station_set_registration(station=station, status=RegistrationStatus.ACCEPTED)
        messages.success(request, f"{queryset.count()} station(s) accepted")

    @admin.action(description="Reject registration")
    def reject_registration(self, request, queryset):
        for station in queryset:
            registration.station_set_registration(station=station, status=RegistrationStatus.REJECTED)
        messages.success(request, f"{queryset.count()} station(s) rejected")


@admin.register(Connector)
class ConnectorAdmin(ReadOnlyAdmin):
    list_display = ["station", "connector_id", "status", "error_code", "vendor_error_code", "status_since"]
    list_filter = ["status", "error_code"]
    list_select_related = ["station"]
    search_fields = ["station__identity", "vendor_error_code"]


@admin.register(StatusEvent)
class StatusEventAdmin(ReadOnlyAdmin):
    list_display = ["received_at", "station", "connector", "status", "error_code", "vendor_error_code", "source"]
    list_filter = ["status", "error_code", "source"]
    list_select_related = ["station", "connector"]
    search_fields = ["station__identity", "vendor_error_code", "info"]
    date_hierarchy = "received_at"


@admin.register(IdTag)
class IdTagAdmin(admin.ModelAdmin):
    list_display = ["id_tag", "status", "expiry_date", "parent"]
    list_filter = ["status"]
    search_fields = ["id_tag", "note"]
    raw_id_fields = ["parent"]


@admin.register(ChargingSession)
class ChargingSessionAdmin(ReadOnlyAdmin):
    list_display = ["id", "station", "connector", "id_tag", "start_at", "stop_at", "energy_wh", "meter_flags"]
    list_filter = ["stop_reason", "id_tag_status"]
    list_select_related = ["station", "connector"]
    search_fields = ["station__identity", "id_tag"]
    date_hierarchy = "start_at"


@admin.register(MeterSample)
class MeterSampleAdmin(ReadOnlyAdmin):
    list_display = ["timestamp", "station", "connector", "session", "measurand", "value", "unit", "context"]
    list_filter = ["measurand", "context"]
    list_select_related = ["station", "connector"]
    search_fields = ["station__identity"]


@admin.register(FrameLog)
class FrameLogAdmin(ReadOnlyAdmin):
    list_display = ["created_at", "station", "direction", "message_type", "action", "unique_id", "error_code"]
    list_filter = ["direction", "message_type", "action", "error_code"]
    list_select_related = ["station"]
    search_fields = ["station__identity", "unique_id", "raw"]
    date_hierarchy = "created_at"
    show_full_result_count = False


@admin.register(RemoteCommand)
class RemoteCommandAdmin(ReadOnlyAdmin):
    list_display = ["created_at", "station", "action", "status", "requested_by", "requested_via", "completed_at"]
    list_filter = ["status", "action", "requested_via"]
    list_select_related = ["station", "requested_by"]
    search_fields = ["station__identity", "action", "unique_id"]
    date_hierarchy = "created_at"


@admin.register(ConfigurationKey)
class ConfigurationKeyAdmin(ReadOnlyAdmin):
    list_display = ["station", "key", "value", "readonly", "reported_at"]
    list_select_related = ["station"]
    search_fields = ["station__identity", "key"]


@admin.register(ConfigurationChange)
class ConfigurationChangeAdmin(ReadOnlyAdmin):
    list_display = ["changed_at", "station", "key", "old_value", "new_value", "command"]
    list_select_related = ["station", "command"]
    search_fields = ["station__identity", "key"]


@admin.register(Reservation)
class ReservationAdmin(ReadOnlyAdmin):
    list_display = ["id", "station", "connector_id", "id_tag", "expires_at", "status"]
    list_filter = ["status"]
    list_select_related = ["station"]


@admin.register(DiagnosticsFile)
class DiagnosticsFileAdmin(ReadOnlyAdmin):
    list_display = ["uploaded_at", "station", "file", "size"]
    list_select_related = ["station"]


class UptimeExclusionChangeInline(admin.TabularInline):
    model = UptimeExclusionChange
    fields = readonly_fields = ["at", "from_state", "to_state", "by", "via", "note"]
    extra = 0
    can_delete = False

    def has_add_permission(self, request, obj=None):
        return False


@admin.register(UptimeExclusion)
class UptimeExclusionAdmin(admin.ModelAdmin):
    """Operators record exclusions here (they count at once) and confirm or reject proposals.
    Times are never edited: a wrong exclusion is rejected or withdrawn and a new one recorded."""

    list_display = ["__str__", "reason", "state", "source", "site", "station", "connector", "created_by"]
    list_filter = ["state", "reason", "source"]
    search_fields = ["station__identity", "notes"]
    fields = ["reason", "site", "station", "connector", "starts_at", "ends_at", "notes"]
    raw_id_fields = ["station", "connector"]
    inlines = [UptimeExclusionChangeInline]
    actions = ["confirm", "reject", "withdraw"]

    def get_readonly_fields(self, request, obj=None):
        return [*self.fields, "state", "source", "created_by", "created_at"] if obj else []

    def get_fields(self, request, obj=None):
        return [*self.fields, "state", "source", "created_by", "created_at"] if obj else self.fields

    def save_model(self, request, obj, form, change):
        if change:
            return
        try:
            recorded = uptime_exclusions.uptime_exclusion_record(
                reason=obj.reason, starts_at=obj.starts_at, ends_at=obj.ends_at, notes=obj.notes,
                site=obj.site, station=obj.station, connector=obj.connector, by=request.user, via="admin",
            )  # fmt: skip
        except uptime_exclusions.ExclusionError as exc:
            raise forms.ValidationError(str(exc)) from None
        obj.pk = recorded.pk

    def _move(self, request, queryset, service, done: str):
        moved = 0
        for exclusion in queryset:
            try:
                service(exclusion=exclusion, by=request.user, via="admin")
                moved += 1
            except uptime_exclusions.ExclusionError as exc:
                self.message_user(request, f"{exclusion}: {exc}", messages.WARNING)
        self.message_user(request, f"{moved} {done}")

    @admin.action(description="Confirm the selected proposals")
    def confirm(self, request, queryset):
        self._move(request, queryset, uptime_exclusions.uptime_exclusion_confirm, "confirmed")

    @admin.action(description="Reject the selected proposals")
    def reject(self, request, queryset):
        self._move(request, queryset, uptime_exclusions.uptime_exclusion_reject, "rejected")

    @admin.action(description="Withdraw the selected confirmed exclusions")
    def withdraw(self, request, queryset):
        self._move(request, queryset, uptime_exclusions.uptime_exclusion_withdraw, "withdrawn")


class UptimeExclusionForm(forms.ModelForm):
    class Meta:
        model = UptimeExclusion
        fields = ["reason", "site", "station", "connector", "starts_at", "ends_at", "notes"]

    def clean(self):
        cleaned = super().clean()
        if sum(bool(cleaned.get(name)) for name in ("site", "station", "connector")) != 1:
            raise forms.ValidationError("Name exactly one of site, station or connector.")
        if cleaned.get("starts_at") and cleaned.get("ends_at") and cleaned["ends_at"] <= cleaned["starts_at"]:
            raise forms.ValidationError("The end must come after the start.")
        return cleaned


UptimeExclusionAdmin.form = UptimeExclusionForm


@admin.register(PortUptimeDay)
class PortUptimeDayAdmin(ReadOnlyAdmin):
    list_display = ["day", "connector", "period_s", "outage_s", "excluded_s", "computed_at"]
    list_filter = ["day"]
    search_fields = ["station__identity"]
    list_select_related = ["connector__station"]
