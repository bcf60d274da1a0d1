"""KPIs over a period: GET /api/kpis/?start=...&end=...&group=site|model|technician."""

from dataclasses import asdict
from datetime import datetime, time

from django.utils import dateparse, timezone
from drf_spectacular.utils import OpenApiParameter, extend_schema, inline_serializer
from rest_framework import serializers
from rest_framework.exceptions import ValidationError
from rest_framework.response import Response
from rest_framework.views import APIView

from config.api import moment_in_range
from config.roles import ModelViewPermission
from workorders.selectors import kpis


def parse_moment(value: str) -> datetime:
    """A date (its midnight) or an ISO 8601 date-time, in the current time zone when it names none."""
    value = value.strip()
    # An unencoded "+01:00" in a query string arrives as " 01:00".
    if "T" in value and " " in value:
        value = value.replace(" ", "+")
    try:
        moment = dateparse.parse_datetime(value)
        if moment is None:
            day = dateparse.parse_date(value)
            moment = datetime.combine(day, time.min) if day is not None else None
    except ValueError:
        moment = None
    if moment is None:
        raise ValueError(f"{value!r} is not a date (YYYY-MM-DD) or an ISO 8601 date-time")
    moment = timezone.make_aware(moment) if timezone.is_naive(moment) else moment
    moment_in_range(moment)
    return moment


class MomentField(serializers.Field):
    def to_internal_value(self, data):
        try:
            return parse_moment(str(data))
        except ValueError as exc:
            raise serializers.ValidationError(str(exc)) from None

    def to_representation(self, value):
        return value.isoformat()


class KpiQuerySerializer(serializers.Serializer):
    start = MomentField(required=False, help_text="first moment of the period (default: 30 days before end)")
    end = MomentField(required=False, help_text="end of the period, not included (default: now)")
    group = serializers.ChoiceField(choices=kpis.GROUPS, default="site")

    def validate(self, attrs):
        end = attrs.get("end") or timezone.now()
        try:
            start = attrs.get("start") or kpis.kpi_default_period(now=end)[0]
        except OverflowError:
            raise ValidationError({"start": ["give a start: the default period would begin before year 1"]}) from None
        if start >= end:
            raise ValidationError({"end": [f"end ({end.isoformat()}) must be after start ({start.isoformat()})"]})
        return {**attrs, "start": start, "end": end}


class KpiView(APIView):
    """MTTR, first-time fix rate, remote resolutions, SLA compliance and repeat faults
    per site, vendor/model or technician; see workorders.selectors.kpis for the definitions."""

    permission_classes = [ModelViewPermission]
    required_permission = "workorders.view_all_workorders"

    @extend_schema(
        parameters=[
            OpenApiParameter("start", str, description="YYYY-MM-DD or ISO 8601 date-time; default 30 days ago"),
            OpenApiParameter("end", str, description="YYYY-MM-DD or ISO 8601 date-time, excluded; default now"),
            OpenApiParameter("group", str, enum=list(kpis.GROUPS), description="default site"),
        ],
        responses=inline_serializer(
            "KpiReport",
            {
                "start": serializers.DateTimeField(),
                "end": serializers.DateTimeField(),
                "group": serializers.CharField(),
                "rows": serializers.ListField(child=serializers.DictField()),
                "total": serializers.DictField(),
            },
        ),
    )
    def get(self, request):
        query = KpiQuerySerializer(data=request.query_params)
        query.is_valid(raise_exception=True)
        params = query.validated_data
        # The database gets UTC (PostgreSQL refuses offsets beyond 15:59); the
        # answer repeats the period as the client wrote it.
        report = kpis.kpi_report(
            start=moment_in_range(params["start"]), end=moment_in_range(params["end"]), group=params["group"]
        )
        return Response(
            {
                "start": params["start"].isoformat(),
                "end": params["end"].isoformat(),
                "group": report.group,
                "rows": [asdict(row) for row in report.rows],
                "total": asdict(report.total),
            }
        )
