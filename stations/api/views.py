from django.db.models import Prefetch
from django.db.models.functions import Length
from django.shortcuts import get_object_or_404
from drf_spectacular.utils import extend_schema
from rest_framework import status, viewsets
from rest_framework.exceptions import PermissionDenied, ValidationError
from rest_framework.permissions import IsAuthenticated
from rest_framework.response import Response
from rest_framework.views import APIView

from config.roles import ModelViewPermission
from stations import selectors
from stations.models import ChargingSession, ChargingStation, Connector, FrameLog, RemoteCommand
from stations.services import commands

from . import filters, serializers

IDENTITY_IN_PATH = r"[^/\x00]+"


class StationViewSet(viewsets.ReadOnlyModelViewSet):
    serializer_class = serializers.StationSerializer
    filterset_class = filters.StationFilter
    permission_classes = [ModelViewPermission]
    required_permission = "stations.view_chargingstation"
    lookup_field = "identity"
    # No NUL: PostgreSQL cannot compare text holding one, so such a path is simply no station.
    lookup_value_regex = IDENTITY_IN_PATH
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
    """The OCPP frame log. Lists carry a preview of each frame; `GET /api/frames/<id>/` the whole frame."""

    filterset_class = filters.FrameFilter
    permission_classes = [ModelViewPermission]
    required_permission = "stations.view_framelog"
    ordering_fields = ["created_at"]

    def get_serializer_class(self):
        return serializers.FrameSerializer if self.action == "list" else serializers.FrameDetailSerializer

    def get_queryset(self):
        queryset = FrameLog.objects.select_related("station").order_by("-created_at", "-id")
        if self.action == "list":
            # A page of 10 MB frames must not load 10 MB each: the database cuts them.
            return selectors.frames_with_preview(queryset)
        return queryset.annotate(raw_length=Length("raw"))


class CommandViewSet(viewsets.ReadOnlyModelViewSet):
    """The history of remote commands: who sent what, and how it ended."""

    serializer_class = serializers.CommandSerializer
    filterset_class = filters.CommandFilter
    permission_classes = [ModelViewPermission]
    required_permission = "stations.view_remotecommand"
    ordering_fields = ["created_at", "completed_at"]

    def get_queryset(self):
        return RemoteCommand.objects.select_related("station", "requested_by").order_by("-created_at", "-id")


class StationCommandView(APIView):
    """Send a remote command to a station; by default waits for the charger's answer.

    Refused as on the station page: 403 when the user may not send this action
    here, 400 when it interrupts the station and `confirm` is not true, or when
    the payload breaks the OCPP schema."""

    permission_classes = [IsAuthenticated]

    @extend_schema(request=serializers.CommandRequestSerializer, responses={201: serializers.CommandSerializer})
    def post(self, request, identity: str):
        station = get_object_or_404(ChargingStation, identity=identity)
        body = serializers.CommandRequestSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        data = body.validated_data
        try:
            command = commands.command_request(
                station=station,
                action=data["action"],
                payload=data["payload"],
                by=request.user,
                confirmed=data["confirm"],
                via="api",
                timeout_s=data["timeout"],
                wait=data["wait"],
            )
        except commands.CommandRefused as exc:
            if exc.forbidden:
                raise PermissionDenied(str(exc)) from None
            raise ValidationError({exc.field or "non_field_errors": [str(exc)]}) from None
        return Response(serializers.CommandSerializer(command).data, status=status.HTTP_201_CREATED)
