from django import forms
from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.http import HttpResponse, HttpResponseRedirect
from django.template.response import TemplateResponse
from django.urls import path, reverse

from workorders.models import (
    DispatchDecision,
    ErrorCode,
    Incident,
    IncidentStep,
    MaintenancePlan,
    RemoteStep,
    Technician,
    WorkOrder,
    WorkOrderEvent,
)
from workorders.services import lifecycle, playbook


class VendorFilter(admin.SimpleListFilter):
    """The vendors in the playbook, with the vendor-independent entries named as such."""

    title = "vendor"
    parameter_name = "vendor"
    ANY = "-"

    def lookups(self, request, model_admin):
        vendors = ErrorCode.objects.order_by("vendor").values_list("vendor", flat=True).distinct()
        return [(v or self.ANY, v or "(any vendor: OCPP, ChargeX)") for v in vendors]

    def queryset(self, request, queryset):
        value = self.value()
        if value is None:
            return queryset
        return queryset.filter(vendor="" if value == self.ANY else value)


class StepListField(forms.CharField):
    """A list edited as `a; b; c`."""

    def prepare_value(self, value):
        if isinstance(value, list | tuple):
            return f"{playbook.LIST_SEPARATOR} ".join(value)
        return value

    def to_python(self, value):
        return [p.strip() for p in (super().to_python(value) or "").split(playbook.LIST_SEPARATOR) if p.strip()]


class ErrorCodeForm(forms.ModelForm):
    remote_steps = StepListField(
        required=False,
        help_text="In order, separated by ';': " + ", ".join(RemoteStep.values),
    )
    skills = StepListField(required=False, help_text="Separated by ';', e.g. ac; dc; hv; network; mechanical")

    class Meta:
        model = ErrorCode
        fields = list(playbook.COLUMNS)

    def clean_remote_steps(self):
        try:
            return playbook.playbook_clean_remote_steps(self.cleaned_data["remote_steps"])
        except ValueError as exc:
            raise forms.ValidationError(str(exc)) from None

    def clean_skills(self):
        try:
            return playbook.playbook_clean_skills(self.cleaned_data["skills"])
        except ValueError as exc:
            raise forms.ValidationError(str(exc)) from None

    def clean(self):
        cleaned = super().clean()
        if cleaned.get("remotely_fixable") and not cleaned.get("remote_steps") and "remote_steps" not in self.errors:
            self.add_error("remote_steps", "A remotely fixable code needs at least one remote step.")
        return cleaned


class PlaybookImportForm(forms.Form):
    file = forms.FileField(label="CSV file")
    replace = forms.BooleanField(
        required=False,
        label="Replace the playbook",
        help_text="Delete the entries that are not in the file.",
    )


@admin.register(ErrorCode)
class ErrorCodeAdmin(admin.ModelAdmin):
    form = ErrorCodeForm
    change_list_template = "admin/workorders/errorcode/change_list.html"
    import_template = "admin/workorders/errorcode/import_csv.html"
    list_display = ["code", "vendor_display", "meaning", "severity", "cause", "remotely_fixable", "steps"]
    list_display_links = ["code"]
    list_filter = [VendorFilter, "severity", "cause", "remotely_fixable"]
    search_fields = ["code", "vendor", "meaning", "likely_parts", "field_steps"]
    actions = ["export_selected"]
    fieldsets = [
        (None, {"fields": ["vendor", "code", "meaning", "severity", "cause"]}),
        ("Remote", {"fields": ["remotely_fixable", "remote_steps"]}),
        ("On site", {"fields": ["field_steps", "likely_parts", "skills"]}),
    ]

    @admin.display(description="vendor", ordering="vendor")
    def vendor_display(self, obj):
        return obj.vendor or "(any)"

    @admin.display(description="remote steps")
    def steps(self, obj):
        return " → ".join(obj.remote_steps) or "—"

    def _can_import(self, request) -> bool:
        return self.has_add_permission(request) and self.has_change_permission(request)

    def changelist_view(self, request, extra_context=None):
        extra_context = {**(extra_context or {}), "can_import": self._can_import(request)}
        return super().changelist_view(request, extra_context=extra_context)

    def get_urls(self):
        info = self.opts.app_label, self.opts.model_name
        return [
            path("import/", self.admin_site.admin_view(self.import_view), name="{}_{}_import".format(*info)),
            path("export/", self.admin_site.admin_view(self.export_view), name="{}_{}_export".format(*info)),
            *super().get_urls(),
        ]

    def _csv_response(self, entries) -> HttpResponse:
        response = HttpResponse(content_type="text/csv; charset=utf-8")
        response["Content-Disposition"] = 'attachment; filename="playbook.csv"'
        playbook.playbook_export_csv(response, entries=entries)
        return response

    @admin.action(description="Export selected as CSV")
    def export_selected(self, request, queryset):
        return self._csv_response(queryset.order_by("vendor", "code"))

    def export_view(self, request):
        if not self.has_view_permission(request):
            raise PermissionDenied
        return self._csv_response(None)

    def import_view(self, request):
        if not self._can_import(request):
            raise PermissionDenied
        changelist = reverse(f"admin:{self.opts.app_label}_{self.opts.model_name}_changelist")
        form = PlaybookImportForm(request.POST or None, request.FILES or None)
        if request.method == "POST" and form.is_valid():
            replace = form.cleaned_data["replace"]
            if replace and not self.has_delete_permission(request):
                raise PermissionDenied
            try:
                created, updated = playbook.playbook_import_csv(form.cleaned_data["file"], replace=replace)
            except playbook.PlaybookImportError as exc:
                self.message_user(request, f"Nothing was imported. {exc}", messages.ERROR)
            else:
                self.message_user(
                    request, f"Playbook imported: {created} created, {updated} updated.", messages.SUCCESS
                )
                return HttpResponseRedirect(changelist)
        context = {
            **self.admin_site.each_context(request),
            "opts": self.opts,
            "title": "Import playbook CSV",
            "form": form,
            "columns": playbook.COLUMNS,
        }
        return TemplateResponse(request, self.import_template, context)


class IncidentStepInline(admin.TabularInline):
    model = IncidentStep
    extra = 0
    fields = ["at", "kind", "remote_step", "command", "reason"]
    readonly_fields = fields
    can_delete = False

    def has_add_permission(self, request, obj=None):
        return False


@admin.register(Incident)
class IncidentAdmin(admin.ModelAdmin):
    list_display = ["id", "station", "connector", "kind", "status", "resolution", "vendor_error_code", "opened_at"]
    list_filter = ["status", "kind", "resolution"]
    list_select_related = ["station", "connector"]
    search_fields = ["station__identity", "vendor_error_code", "error_code"]
    date_hierarchy = "opened_at"
    readonly_fields = [f.name for f in Incident._meta.fields] + ["status_events"]
    inlines = [IncidentStepInline]

    def has_add_permission(self, request):
        return False


class WorkOrderEventInline(admin.TabularInline):
    model = WorkOrderEvent
    extra = 0
    fields = ["at", "change", "from_status", "to_status", "by", "via", "note"]
    readonly_fields = fields
    can_delete = False

    def has_add_permission(self, request, obj=None):
        return False


WORK_ORDER_EDITABLE = ("title", "priority")


@admin.register(WorkOrder)
class WorkOrderAdmin(admin.ModelAdmin):
    """Work orders are created, moved and worked on in the portal, where each change
    is checked and recorded. Here only the title and priority can be changed, and
    that too goes through the service that records it."""

    list_display = ["id", "title", "kind", "priority", "status", "technician", "sla_due_at"]
    list_filter = ["status", "kind", "priority"]
    list_select_related = ["technician__user", "station"]
    search_fields = ["title", "station__identity"]
    date_hierarchy = "created_at"
    readonly_fields = [f.name for f in WorkOrder._meta.fields if f.name not in ("id", *WORK_ORDER_EDITABLE)]
    inlines = [WorkOrderEventInline]

    def has_add_permission(self, request):
        return False

    def has_delete_permission(self, request, obj=None):
        return False

    def save_model(self, request, obj, form, change):
        if not change:
            raise PermissionDenied("work orders are created in the portal")
        # The form has checked both fields against the model already.
        lifecycle.workorder_edit(work_order=obj, by=request.user, title=obj.title, priority=obj.priority, via="admin")


class LinesField(forms.CharField):
    """A list of short texts edited one per line."""

    widget = forms.Textarea(attrs={"rows": 6})

    def prepare_value(self, value):
        if isinstance(value, list | tuple):
            return "\n".join(str(item) for item in value)
        return value

    def to_python(self, value):
        return [line.strip() for line in (super().to_python(value) or "").splitlines() if line.strip()]


class MaintenancePlanForm(forms.ModelForm):
    checklist = LinesField(required=False, help_text="One item per line, in the order a technician works through them.")
    skills = StepListField(required=False, help_text="Separated by ';', e.g. ac; dc; hv")

    class Meta:
        model = MaintenancePlan
        fields = ["name", "station_model", "site", "every_days", "every_sessions", "every_kwh"]
        fields += ["checklist", "skills", "active"]

    def clean_checklist(self):
        items = self.cleaned_data["checklist"]
        too_long = [item for item in items if len(item) > 200]
        if too_long:
            raise forms.ValidationError(f"An item is longer than 200 characters: {too_long[0][:40]}…")
        return items

    def clean_skills(self):
        try:
            return playbook.playbook_clean_skills(self.cleaned_data["skills"])
        except ValueError as exc:
            raise forms.ValidationError(str(exc)) from None


@admin.register(Technician)
class TechnicianAdmin(admin.ModelAdmin):
    list_display = ["user", "territory", "skills", "certifications", "active"]
    list_filter = ["active", "territory"]
    list_select_related = ["user"]
    search_fields = ["user__username", "territory"]


@admin.register(MaintenancePlan)
class MaintenancePlanAdmin(admin.ModelAdmin):
    form = MaintenancePlanForm
    list_display = ["name", "station_model", "site", "every_days", "every_sessions", "every_kwh", "active"]
    list_filter = ["active"]
    list_select_related = ["station_model", "site"]


@admin.register(DispatchDecision)
class DispatchDecisionAdmin(admin.ModelAdmin):
    list_display = ["at", "work_order", "proposed", "chosen", "decided_by", "decided_via"]
    list_select_related = ["work_order", "proposed__user", "chosen__user", "decided_by"]
    readonly_fields = ["work_order", "proposed", "chosen", "reasons", "decided_by", "decided_via", "at"]

    def has_add_permission(self, request):
        return False


# Alerts: rules edited through the services (so each change is recorded with who made it);
# alerts, endpoints' history and deliveries are read here, changed in the portal or the API.
from workorders.alerts.admin import register as _register_alerts  # noqa: E402

_register_alerts(admin.site)
