from django.contrib import admin

from support.models import AvailabilityWatch, ChargerPage, Macro, SlaPolicy, SupportTeam, TroubleshootingStep


@admin.register(ChargerPage)
class ChargerPageAdmin(admin.ModelAdmin):
    list_display = ["station", "code", "created_at"]
    search_fields = ["station__identity", "code"]
    readonly_fields = ["code", "created_at"]
    list_select_related = ["station"]


@admin.register(AvailabilityWatch)
class AvailabilityWatchAdmin(admin.ModelAdmin):
    list_display = ["station", "connector", "email", "created_at", "expires_at", "notified_at"]
    list_filter = ["notified_at"]
    search_fields = ["station__identity", "email"]
    list_select_related = ["station", "connector"]
    raw_id_fields = ["station", "connector"]


# --- The agent's console: teams and their SLA, canned replies, troubleshooting steps ---


class SlaPolicyInline(admin.TabularInline):
    model = SlaPolicy
    extra = 0


@admin.register(SupportTeam)
class SupportTeamAdmin(admin.ModelAdmin):
    list_display = ["name", "time_zone", "holiday_country", "holiday_subdivision", "is_default"]
    search_fields = ["name", "email"]
    inlines = [SlaPolicyInline]


@admin.register(SlaPolicy)
class SlaPolicyAdmin(admin.ModelAdmin):
    list_display = ["team", "priority", "first_response_minutes", "resolution_minutes"]
    list_filter = ["team", "priority"]
    list_select_related = ["team"]


@admin.register(Macro)
class MacroAdmin(admin.ModelAdmin):
    list_display = ["name", "category", "active"]
    list_filter = ["active", "category"]
    search_fields = ["name", "body"]


@admin.register(TroubleshootingStep)
class TroubleshootingStepAdmin(admin.ModelAdmin):
    list_display = ["category", "order", "when_status", "action", "text"]
    list_filter = ["category", "action"]
    list_editable = ["order"]
    ordering = ["category", "order", "id"]
