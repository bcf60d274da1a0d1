"""Admin for the alerts: rules saved through the services, the rest read-only."""

from django.contrib import admin

from .models import Alert, AlertDelivery, AlertEndpoint, AlertRule, AlertRuleChange
from .services import rules


class AlertRuleAdmin(admin.ModelAdmin):
    list_display = ["name", "kind", "severity", "enabled", "delay_minutes"]
    list_filter = ["kind", "severity", "enabled"]
    filter_horizontal = ["sites", "station_models", "users", "endpoints"]

    def save_model(self, request, obj, form, change):
        data = dict(form.cleaned_data)
        if change:
            rules.rule_update(rule=obj, data=data, by=request.user, via="admin")
        else:
            saved = rules.rule_create(data=data, by=request.user, via="admin")
            obj.pk = saved.pk

    def save_related(self, request, form, formsets, change):
        # The relations were set by the service with the rest of the rule (and recorded with it).
        for formset in formsets:
            self.save_formset(request, form, formset, change=change)

    def delete_model(self, request, obj):
        rules.rule_delete(rule=obj, by=request.user, via="admin")


class ReadOnlyAdmin(admin.ModelAdmin):
    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False


class AlertAdmin(ReadOnlyAdmin):
    list_display = ["summary", "severity", "status", "fired_at", "resolved_at"]
    list_filter = ["status", "severity", "kind"]
    list_select_related = ["rule"]


class AlertEndpointAdmin(ReadOnlyAdmin):
    # The secret is never listed nor shown; it is shown once, when the portal or the API creates it.
    list_display = ["name", "kind", "target", "status", "consecutive_failures"]
    exclude = ["secret_encrypted"]


class AlertDeliveryAdmin(ReadOnlyAdmin):
    list_display = ["alert", "notification", "channel", "status", "attempts", "last_status_code", "sent_at"]
    list_filter = ["status", "channel"]


class AlertRuleChangeAdmin(ReadOnlyAdmin):
    list_display = ["rule", "action", "by", "via", "at"]


def register(site: admin.AdminSite) -> None:
    site.register(AlertRule, AlertRuleAdmin)
    site.register(Alert, AlertAdmin)
    site.register(AlertEndpoint, AlertEndpointAdmin)
    site.register(AlertDelivery, AlertDeliveryAdmin)
    site.register(AlertRuleChange, AlertRuleChangeAdmin)
