from django.contrib import admin

from support.models import AvailabilityWatch, ChargerPage


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

