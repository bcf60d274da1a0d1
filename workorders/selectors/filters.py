"""The filters of the work order and incident lists, one set for the portal's
boards and the API alike (the API's limits on dates apply to both)."""

import django_filters
from django.db.models import Q
from django.utils import timezone

from config.api import ApiFilterSet, MomentFilter
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
from workorders.services import sla


class IncidentFilter(ApiFilterSet):
    station = django_filters.CharFilter(field_name="station__identity")
    status = django_filters.ChoiceFilter(choices=IncidentStatus.choices)
    kind = django_filters.ChoiceFilter(choices=IncidentKind.choices)
    resolution = django_filters.ChoiceFilter(choices=IncidentResolution.choices)
    opened_after = MomentFilter(field_name="opened_at", lookup_expr="gte")
    opened_before = MomentFilter(field_name="opened_at", lookup_expr="lt")
    open = django_filters.BooleanFilter(method="filter_open")

    class Meta:
        model = Incident
        fields = ["station", "status", "kind", "resolution", "vendor_error_code", "error_code"]

    def filter_open(self, queryset, name, value):
        closed = Q(status=IncidentStatus.CLOSED)
        return queryset.exclude(closed) if value else queryset.filter(closed)


class WorkOrderFilter(ApiFilterSet):
    station = django_filters.CharFilter(field_name="station__identity")
    site = django_filters.CharFilter(field_name="station__site__name")
    technician = django_filters.CharFilter(field_name="technician__user__username")
    status = django_filters.MultipleChoiceFilter(choices=WorkOrderStatus.choices)
    kind = django_filters.ChoiceFilter(choices=WorkOrderKind.choices)
    priority = django_filters.ChoiceFilter(choices=Priority.choices)
    sla_breached = django_filters.BooleanFilter(
        method="filter_sla_breached", help_text="SLA missed (verified late) or breached (open past its due time)"
    )

    class Meta:
        model = WorkOrder
        fields = ["station", "site", "technician", "status", "kind", "priority", "incident"]

    def filter_sla_breached(self, queryset, name, value):
        return sla.filter_breached(queryset, timezone.now(), breached=value)


class ErrorCodeFilter(ApiFilterSet):
    class Meta:
        model = ErrorCode
        fields = ["vendor", "code", "severity", "cause", "remotely_fixable"]
