import django_filters
from django.db.models import F, Q
from django.utils import timezone

from workorders.models import (
    ErrorCode,
    Incident,
    IncidentKind,
    IncidentResolution,
    IncidentStatus,
    Priority,
    WorkOrder,
    WorkOrderKind,
    WorkOrderStatus,
)


class IncidentFilter(django_filters.FilterSet):
    station = django_filters.CharFilter(field_name="station__identity")
    status = django_filters.ChoiceFilter(choices=IncidentStatus.choices)
    kind = django_filters.ChoiceFilter(choices=IncidentKind.choices)
    resolution = django_filters.ChoiceFilter(choices=IncidentResolution.choices)
    opened_after = django_filters.IsoDateTimeFilter(field_name="opened_at", lookup_expr="gte")
    opened_before = django_filters.IsoDateTimeFilter(field_name="opened_at", lookup_expr="lt")
    open = django_filters.BooleanFilter(method="filter_open")

    class Meta:
        model = Incident
        fields = ["station", "status", "kind", "resolution", "vendor_error_code", "error_code"]

    def filter_open(self, queryset, name, value):
        closed = Q(status=IncidentStatus.CLOSED)
        return queryset.exclude(closed) if value else queryset.filter(closed)


class WorkOrderFilter(django_filters.FilterSet):
    station = django_filters.CharFilter(field_name="station__identity")
    site = django_filters.CharFilter(field_name="station__site__name")
    technician = django_filters.CharFilter(field_name="technician__user__username")
    status = django_filters.MultipleChoiceFilter(choices=WorkOrderStatus.choices)
    kind = django_filters.ChoiceFilter(choices=WorkOrderKind.choices)
    priority = django_filters.ChoiceFilter(choices=Priority.choices)
    sla_breached = django_filters.BooleanFilter(method="filter_sla_breached")

    class Meta:
        model = WorkOrder
        fields = ["station", "site", "technician", "status", "kind", "priority", "incident"]

    def filter_sla_breached(self, queryset, name, value):
        now = timezone.now()
        breached = Q(verified_at__gt=F("sla_due_at")) | Q(verified_at__isnull=True, sla_due_at__lt=now)
        return queryset.filter(breached) if value else queryset.exclude(breached)


class ErrorCodeFilter(django_filters.FilterSet):
    class Meta:
        model = ErrorCode
        fields = ["vendor", "code", "severity", "cause", "remotely_fixable"]
