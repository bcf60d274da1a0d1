import django_filters

from config.api import ApiFilterSet, MomentFilter
from stations import selectors
from stations.models import (
    ChargingSession,
    ChargingStation,
    CommandStatus,
    Connector,
    ConnectorStatus,
    FrameLog,
    RemoteCommand,
)


class StationFilter(ApiFilterSet):
    identity = django_filters.CharFilter(lookup_expr="icontains")
    # A station once whatever the number of its connectors in the status: EXISTS, not a join with DISTINCT.
    status = django_filters.ChoiceFilter(choices=ConnectorStatus.choices, method="filter_status")
    site = django_filters.CharFilter(field_name="site__name")
    last_message_after = MomentFilter(field_name="last_message_at", lookup_expr="gte")
    last_message_before = MomentFilter(field_name="last_message_at", lookup_expr="lt")

    class Meta:
        model = ChargingStation
        fields = ["identity", "connected", "offline", "registration_status", "status", "site"]

    def filter_status(self, queryset, name, value):
        return queryset.filter(selectors.with_connector_status(value))


class ConnectorFilter(ApiFilterSet):
    station = django_filters.CharFilter(field_name="station__identity")
    status = django_filters.ChoiceFilter(choices=ConnectorStatus.choices)

    class Meta:
        model = Connector
        fields = ["station", "status", "error_code"]


class SessionFilter(ApiFilterSet):
    station = django_filters.CharFilter(field_name="station__identity")
    started_after = MomentFilter(field_name="start_at", lookup_expr="gte")
    started_before = MomentFilter(field_name="start_at", lookup_expr="lt")
    active = django_filters.BooleanFilter(field_name="stop_at", lookup_expr="isnull")

    class Meta:
        model = ChargingSession
        fields = ["station", "id_tag", "active", "started_after", "started_before"]


class FrameFilter(ApiFilterSet):
    station = django_filters.CharFilter(field_name="station__identity")
    after = MomentFilter(field_name="created_at", lookup_expr="gte")
    before = MomentFilter(field_name="created_at", lookup_expr="lt")
    contains = django_filters.CharFilter(field_name="raw", lookup_expr="contains")

    class Meta:
        model = FrameLog
        fields = ["station", "direction", "message_type", "action", "unique_id", "error_code", "after", "before"]


class CommandFilter(ApiFilterSet):
    station = django_filters.CharFilter(field_name="station__identity")
    status = django_filters.ChoiceFilter(choices=CommandStatus.choices)
    requested_by = django_filters.CharFilter(field_name="requested_by__username")
    after = MomentFilter(field_name="created_at", lookup_expr="gte")
    before = MomentFilter(field_name="created_at", lookup_expr="lt")

    class Meta:
        model = RemoteCommand
        fields = ["station", "action", "status", "requested_by", "requested_via", "after", "before"]
