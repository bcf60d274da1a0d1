"""Admin for billing. Money and history are read-only here: they change only through services."""

from django.contrib import admin, messages

from billing.models import (
    Account,
    AccountEvent,
    AccountTag,
    Invoice,
    LedgerEntry,
    LedgerPosting,
    LocalListVersion,
    Payment,
    PaymentEvent,
    PaymentMethod,
    Refund,
    RefundLimit,
    SessionBilling,
    Tariff,
    TariffAssignment,
    TariffVersion,
    WebhookEvent,
)
from billing.services import local_list


class ReadOnlyAdmin(admin.ModelAdmin):
    def has_add_permission(self, request, obj=None):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


class ReadOnlyInline(admin.TabularInline):
    extra = 0
    can_delete = False

    def has_add_permission(self, request, obj=None):
        return False

    def has_change_permission(self, request, obj=None):
        return False


class AccountTagInline(ReadOnlyInline):
    model = AccountTag
    fields = ["id_tag", "label"]
    readonly_fields = fields


class AccountEventInline(ReadOnlyInline):
    model = AccountEvent
    fields = ["at", "kind", "detail", "by"]
    readonly_fields = fields


@admin.register(Account)
class AccountAdmin(ReadOnlyAdmin):
    """Accounts change on the billing pages (each change recorded with who made it)."""

    list_display = ["name", "kind", "funding", "status", "balance", "currency", "email"]
    list_filter = ["kind", "funding", "status"]
    search_fields = ["name", "email", "tags__id_tag__id_tag"]
    inlines = [AccountTagInline, AccountEventInline]


@admin.register(PaymentMethod)
class PaymentMethodAdmin(ReadOnlyAdmin):
    list_display = ["account", "provider", "brand", "last4", "is_default", "created_at"]
    list_select_related = ["account"]


class TariffVersionInline(ReadOnlyInline):
    model = TariffVersion
    fields = ["version", "price_per_kwh", "price_per_minute", "session_fee", "tax_rate", "created_by", "created_at"]
    readonly_fields = fields


class TariffAssignmentInline(ReadOnlyInline):
    model = TariffAssignment
    fields = ["site", "station", "connector"]
    readonly_fields = fields


@admin.register(Tariff)
class TariffAdmin(ReadOnlyAdmin):
    """Tariffs are created and revised on the billing pages: a change is a new version."""

    list_display = ["name", "currency", "is_default", "valid_from", "valid_until", "current_version"]
    list_select_related = ["current_version"]
    inlines = [TariffVersionInline, TariffAssignmentInline]


@admin.register(SessionBilling)
class SessionBillingAdmin(ReadOnlyAdmin):
    list_display = ["session", "account", "tariff_version", "status", "total", "currency", "priced_at"]
    list_filter = ["status"]
    list_select_related = ["session", "account", "tariff_version__tariff"]
    search_fields = ["session__id", "account__name"]


class PaymentEventInline(ReadOnlyInline):
    model = PaymentEvent
    fields = ["at", "kind", "amount", "detail", "by"]
    readonly_fields = fields


class RefundInline(ReadOnlyInline):
    model = Refund
    fields = ["created_at", "amount", "reason", "by", "provider_refund_id"]
    readonly_fields = fields


@admin.register(Payment)
class PaymentAdmin(ReadOnlyAdmin):
    list_display = ["pk", "account", "session", "gateway", "status", "amount_captured", "amount_refunded", "currency"]
    list_filter = ["status", "gateway"]
    list_select_related = ["account", "session"]
    search_fields = ["provider_payment_id", "account__name"]
    inlines = [PaymentEventInline, RefundInline]


@admin.register(Refund)
class RefundAdmin(ReadOnlyAdmin):
    list_display = ["payment", "amount", "reason", "by", "created_at"]
    list_select_related = ["payment", "by"]


class LedgerEntryInline(ReadOnlyInline):
    model = LedgerEntry
    fields = ["ledger_account", "amount", "currency"]
    readonly_fields = fields


@admin.register(LedgerPosting)
class LedgerPostingAdmin(ReadOnlyAdmin):
    list_display = ["pk", "kind", "memo", "account", "session", "payment", "by", "created_at"]
    list_filter = ["kind"]
    list_select_related = ["account", "by"]
    inlines = [LedgerEntryInline]


@admin.register(LedgerEntry)
class LedgerEntryAdmin(ReadOnlyAdmin):
    list_display = ["posting", "ledger_account", "amount", "currency"]
    search_fields = ["ledger_account"]


@admin.register(RefundLimit)
class RefundLimitAdmin(admin.ModelAdmin):
    list_display = ["user", "max_amount", "currency"]
    list_select_related = ["user"]


@admin.register(WebhookEvent)
class WebhookEventAdmin(ReadOnlyAdmin):
    list_display = ["provider", "kind", "event_id", "received_at", "processed_at"]
    list_filter = ["provider", "kind"]


@admin.register(Invoice)
class InvoiceAdmin(ReadOnlyAdmin):
    list_display = ["number", "account", "period_start", "total", "currency", "paid_at"]
    list_select_related = ["account"]


@admin.register(LocalListVersion)
class LocalListVersionAdmin(ReadOnlyAdmin):
    list_display = ["station", "version", "updated_at"]
    list_select_related = ["station"]
    actions = ["send_differential", "send_full"]

    def has_send_permission(self, request) -> bool:
        return request.user.has_perm("billing.change_locallistversion")

    def _send(self, request, queryset, *, full: bool):
        for row in queryset.select_related("station"):
            try:
                command = local_list.local_list_send(station=row.station, full=full, by=request.user)
            except local_list.LocalListNotSent as exc:
                self.message_user(request, str(exc), messages.INFO)
            else:
                self.message_user(request, f"{row.station}: SendLocalList {command.get_status_display()}")

    @admin.action(description="Send the changes of the local list", permissions=["send"])
    def send_differential(self, request, queryset):
        self._send(request, queryset, full=False)

    @admin.action(description="Send the whole local list", permissions=["send"])
    def send_full(self, request, queryset):
        self._send(request, queryset, full=True)
