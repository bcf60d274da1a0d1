from django import forms
from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.http import HttpResponse, HttpResponseRedirect
from django.template.response import TemplateResponse
from django.urls import path, reverse

from workorders.models import ErrorCode, RemoteStep
from workorders.services import playbook


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
