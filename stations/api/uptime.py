"""Uptime per port, and uptime exclusions (list, record, confirm, reject) for operators."""

from datetime import timedelta

import django_filters
from django import forms
from django.conf import settings
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import mixins, serializers, viewsets
from rest_framework.decorators import action
from rest_framework.exceptions import ValidationError
from rest_framework.generics import get_object_or_404
from rest_framework.response import Response
from rest_framework.views import APIView

from config.api import ApiFilterSet, BoundedIsoDateTimeField
from config.roles import IsOperator, ModelViewPermission
from stations.models import (
    ChargingStation,
    Connector,
    ExclusionReason,
    ExclusionSource,
    ExclusionState,
    Site,
    UptimeExclusion,
)
from stations.uptime import exclusions
from stations.uptime.selectors import ports_uptime

MAX_RANGE = timedelta(days=400)


class MomentField(serializers.DateTimeField):
    """An ISO 8601 moment the database and every time zone can hold (config.api's rule), in UTC."""

    def to_internal_value(self, value):
        if not isinstance(value, str):
            raise serializers.ValidationError("a date and time as an ISO 8601 string is required")
        try:
            moment = BoundedIsoDateTimeField().clean(value)
        except forms.ValidationError as exc:
            raise serializers.ValidationError(exc.messages) from None
        if moment is None:
            raise serializers.ValidationError("a date and time (ISO 8601) is required")
        return moment


class UptimeQuerySerializer(serializers.Serializer):
    station = serializers.CharField(max_length=48, help_text="the station's identity")
    start = MomentField(help_text="start of the period (ISO 8601)")
    end = MomentField(help_text="end of the period, not included (ISO 8601); at most 400 days after start")

    def validate(self, attrs):
        if attrs["end"] <= attrs["start"]:
            raise ValidationError({"end": ["end must come after start"]})
        if attrs["end"] - attrs["start"] > MAX_RANGE:
            raise ValidationError({"end": ["the period may be at most 400 days long"]})
        station = ChargingStation.objects.filter(identity=attrs["station"]).first()
        if station is None:
            raise ValidationError({"station": [f"no station {attrs['station']!r}"]})
        attrs["station"] = station
        return attrs


class PortUptimeSerializer(serializers.Serializer):
    connector_id = serializers.IntegerField()
    minutes_in_period = serializers.FloatField(help_text="minutes the port existed in the period (until now)")
    outage_minutes = serializers.FloatField()
    excluded_minutes = serializers.FloatField(help_text="outage minutes covered by confirmed exclusions")
    uptime_percent = serializers.FloatField(allow_null=True, help_text="23 CFR 680.116(b); null with no minutes")
    below_target = serializers.BooleanField()


class UptimeSerializer(serializers.Serializer):
    station = serializers.CharField()
    start = serializers.DateTimeField()
    end = serializers.DateTimeField()
    target_percent = serializers.FloatField()
    ports = PortUptimeSerializer(many=True)


class UptimeView(APIView):
    """Uptime per port of one station over a period: roll-ups for past days, live for the rest."""

    permission_classes = [ModelViewPermission]
    required_permission = "stations.view_portuptimeday"

    @extend_schema(
        parameters=[
            OpenApiParameter("station", str, required=True, description="the station's identity"),
            OpenApiParameter("start", str, required=True, description="ISO 8601"),
            OpenApiParameter("end", str, required=True, description="ISO 8601, at most 400 days after start"),
        ],
        responses=UptimeSerializer,
    )
    def get(self, request):
        query = UptimeQuerySerializer(data=request.query_params)
        query.is_valid(raise_exception=True)
        station, start, end = (query.validated_data[k] for k in ("station", "start", "end"))
        figures = ports_uptime(start=start, end=end, station_ids=[station.pk])
        numbers = dict(Connector.objects.filter(station=station).values_list("pk", "connector_id"))
        ports = [
            {
                "connector_id": numbers[port],
                "minutes_in_period": f.minutes,
                "outage_minutes": f.outage_minutes,
                "excluded_minutes": f.excluded_minutes,
                "uptime_percent": f.uptime_percent,
                "below_target": f.below_target,
            }
            for port, f in sorted(figures.items(), key=lambda item: numbers[item[0]])
        ]
        body = {
            "station": station.identity,
            "start": start,
            "end": end,
            "target_percent": settings.UPTIME_TARGET_PERCENT,
            "ports": ports,
        }
        return Response(UptimeSerializer(body).data)


class ExclusionChangeSerializer(serializers.Serializer):
    from_state = serializers.CharField()
    to_state = serializers.CharField()
    by = serializers.CharField(source="by.username", default=None, allow_null=True)
    via = serializers.CharField()
    note = serializers.CharField()
    at = serializers.DateTimeField()


class ExclusionSerializer(serializers.ModelSerializer):
    station = serializers.CharField(source="station.identity", default=None, allow_null=True)
    connector_station = serializers.CharField(source="connector.station.identity", default=None, allow_null=True)
    connector_id = serializers.IntegerField(source="connector.connector_id", default=None, allow_null=True)
    created_by = serializers.CharField(source="created_by.username", default=None, allow_null=True)
    changes = ExclusionChangeSerializer(many=True, read_only=True)

    class Meta:
        model = UptimeExclusion
        fields = [
            "id", "reason", "state", "source", "site", "station", "connector_station", "connector_id", "starts_at",
            "ends_at", "notes", "created_by", "created_at", "changes",
        ]  # fmt: skip


class ExclusionCreateSerializer(serializers.Serializer):
    reason = serializers.ChoiceField(choices=ExclusionReason.choices)
    starts_at = MomentField()
    ends_at = MomentField()
    site = serializers.IntegerField(required=False, min_value=1, help_text="a whole site; or give station")
    station = serializers.CharField(required=False, max_length=48, help_text="a station's identity")
    connector_id = serializers.IntegerField(
        required=False, min_value=1, max_value=settings.OCPP_MAX_CONNECTOR_ID, help_text="one port of the station"
    )
    notes = serializers.CharField(required=False, allow_blank=True, max_length=2000, default="")

    def validate(self, attrs):
        if attrs["ends_at"] <= attrs["starts_at"]:
            raise ValidationError({"ends_at": ["the end must come after the start"]})
        has_site, has_station = "site" in attrs, "station" in attrs
        if has_site == has_station:
            raise ValidationError({"detail": ["name a site or a station (with connector_id for one port)"]})
        if has_site and "connector_id" in attrs:
            raise ValidationError({"connector_id": ["a port is named with its station"]})
        scope = {}
        if has_site:
            scope["site"] = Site.objects.filter(pk=attrs["site"]).first()
            if scope["site"] is None:
                raise ValidationError({"site": [f"no site {attrs['site']}"]})
        else:
            station = ChargingStation.objects.filter(identity=attrs["station"]).first()
            if station is None:
                raise ValidationError({"station": [f"no station {attrs['station']!r}"]})
            if "connector_id" in attrs:
                scope["connector"] = Connector.objects.filter(
                    station=station, connector_id=attrs["connector_id"]
                ).first()
                if scope["connector"] is None:
                    raise ValidationError(
                        {"connector_id": [f"{station.identity} has no connector {attrs['connector_id']}"]}
                    )
            else:
                scope["station"] = station
        attrs["scope"] = scope
        return attrs


class ExclusionNoteSerializer(serializers.Serializer):
    note = serializers.CharField(required=False, allow_blank=True, max_length=2000, default="")


class ExclusionFilter(ApiFilterSet):
    station = django_filters.CharFilter(field_name="station__identity")
    state = django_filters.ChoiceFilter(choices=ExclusionState.choices)
    reason = django_filters.ChoiceFilter(choices=ExclusionReason.choices)
    source = django_filters.ChoiceFilter(choices=ExclusionSource.choices)

    class Meta:
        model = UptimeExclusion
        fields = ["station", "state", "reason", "source"]


class ExclusionViewSet(
    mixins.ListModelMixin, mixins.RetrieveModelMixin, mixins.CreateModelMixin, viewsets.GenericViewSet
):
    """Outage time left out of uptime: operators record it (counts at once) or confirm or reject
    what the system proposed. Every move is kept with who made it."""

    serializer_class = ExclusionSerializer
    filterset_class = ExclusionFilter
    permission_classes = [IsOperator]
    ordering_fields = ["starts_at", "created_at"]
    lookup_value_regex = r"[0-9]{1,18}"

    def get_queryset(self):
        return UptimeExclusion.objects.select_related("station", "connector__station", "created_by").prefetch_related(
            "changes__by"
        )

    @extend_schema(request=ExclusionCreateSerializer, responses={201: ExclusionSerializer})
    def create(self, request):
        data = ExclusionCreateSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        values = data.validated_data
        try:
            exclusion = exclusions.uptime_exclusion_record(
                reason=values["reason"],
                starts_at=values["starts_at"],
                ends_at=values["ends_at"],
                notes=values["notes"],
                by=request.user,
                via="api",
                **values["scope"],
            )
        except exclusions.ExclusionError as exc:
            raise ValidationError({"detail": [str(exc)]}) from None
        return Response(ExclusionSerializer(self.get_queryset().get(pk=exclusion.pk)).data, status=201)

    def _move(self, request, pk, service):
        exclusion = get_object_or_404(UptimeExclusion, pk=pk)
        body = ExclusionNoteSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        try:
            service(exclusion=exclusion, by=request.user, note=body.validated_data["note"], via="api")
        except exclusions.ExclusionError as exc:
            raise ValidationError({"detail": [str(exc)]}) from None
        return Response(ExclusionSerializer(self.get_queryset().get(pk=pk)).data)

    @extend_schema(request=ExclusionNoteSerializer, responses=ExclusionSerializer)
    @action(detail=True, methods=["post"])
    def confirm(self, request, pk=None):
        return self._move(request, pk, exclusions.uptime_exclusion_confirm)

    @extend_schema(request=ExclusionNoteSerializer, responses=ExclusionSerializer)
    @action(detail=True, methods=["post"])
    def reject(self, request, pk=None):
        return self._move(request, pk, exclusions.uptime_exclusion_reject)
