from django.db.models import Prefetch
from rest_framework import viewsets

from config.roles import ModelViewPermission
from stations.models import ChargingSession, ChargingStation, Connector, FrameLog

from . import filters, serializers


class StationViewSet(viewsets.ReadOnlyModelViewSet):
    serializer_class = serializers.StationSerializer
    filterset_class = filters.StationFilter
    permission_classes = [ModelViewPermission]
    required_permission = "stations.view_chargingstation"
    lookup_field = "identity"
    ordering_fields = ["identity", "last_message_at"]

    def get_queryset(self):
        # Site by join, connectors in one prefetch: three queries for any page size.
        return (
            ChargingStation.objects.select_related("site")
            .prefetch_related(Prefetch("connectors", queryset=Connector.objects.order_by("connector_id")))
            .order_by("identity")
        )


class ConnectorViewSet(viewsets.ReadOnlyModelViewSet):
    serializer_class = serializers.ConnectorSerializer
    filterset_class = filters.ConnectorFilter
    permission_classes = [ModelViewPermission]
    required_permission = "stations.view_connector"

    def get_queryset(self):
        return Connector.objects.select_related("station").order_by("station__identity", "connector_id")


class SessionViewSet(viewsets.ReadOnlyModelViewSet):
    serializer_class = serializers.SessionSerializer
    filterset_class = filters.SessionFilter
    permission_classes = [ModelViewPermission]
    required_permission = "stations.view_chargingsession"
    ordering_fields = ["start_at", "stop_at"]

    def get_queryset(self):
        return ChargingSession.objects.select_related("station", "connector").order_by("-start_at", "-id")


class FrameViewSet(viewsets.ReadOnlyModelViewSet):
    serializer_class = serializers.FrameSerializer
    filterset_class = filters.FrameFilter
    permission_classes = [ModelViewPermission]
    required_permission = "stations.view_framelog"

    def get_queryset(self):
        return FrameLog.objects.select_related("station").order_by("-created_at", "-id")
