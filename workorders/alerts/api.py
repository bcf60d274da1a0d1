"""REST API of the alerts: rules (operators edit), alerts (list, filter, acknowledge),
endpoints (create; a generated secret is in the creation's answer only), deliveries (read)."""

import django_filters
from django.db.models import Prefetch
from drf_spectacular.utils import extend_schema, extend_schema_field
from rest_framework import mixins, serializers, status, viewsets
from rest_framework.decorators import action
from rest_framework.response import Response

from config.api import ApiFilterSet, MomentFilter
from config.roles import ModelViewPermission
from stations.models import Site, StationModel

from .forms import endpoint_problems, rule_problems
from .models import (
    Alert,
    AlertDelivery,
    AlertDeliveryAttempt,
    AlertEndpoint,
    AlertKind,
    AlertRule,
    AlertSeverity,
    AlertStatus,
    ChannelKind,
    DeliveryStatus,
)
from .services import endpoints as endpoint_services
from .services import evaluation, rules


@extend_schema_field(
    {
        "type": "string",
        "pattern": "^([01][0-9]|2[0-3]):[0-5][0-9]$",
        "nullable": True,
        "example": "22:00",
        "description": "wall-clock time in the rule's (or the site's) time zone, HH:MM",
    }
)
class LocalTimeField(serializers.TimeField):
    """A time of day on the wall clock: no offset, because the zone is the rule's or the site's."""

    def __init__(self, **kwargs):
        super().__init__(format="%H:%M", input_formats=["%H:%M"], **kwargs)


class AlertRuleSerializer(serializers.ModelSerializer):
    error_codes = serializers.ListField(child=serializers.CharField(max_length=50), required=False, max_length=100)
    station_identities = serializers.ListField(
        child=serializers.CharField(max_length=48), required=False, max_length=1000
    )
    sites = serializers.PrimaryKeyRelatedField(many=True, queryset=Site.objects.all(), required=False)
    station_models = serializers.PrimaryKeyRelatedField(many=True, queryset=StationModel.objects.all(), required=False)
    endpoints = serializers.PrimaryKeyRelatedField(many=True, queryset=AlertEndpoint.objects.all(), required=False)
    users = serializers.PrimaryKeyRelatedField(
        many=True, queryset=AlertRule.users.field.related_model.objects.all(), required=False
    )
    delay_minutes = serializers.IntegerField(min_value=0, max_value=100_000, required=False)
    window_days = serializers.IntegerField(min_value=1, max_value=366, required=False, allow_null=True)
    window_hours = serializers.IntegerField(min_value=1, max_value=24 * 366, required=False, allow_null=True)
    min_sessions = serializers.IntegerField(min_value=0, max_value=100_000, required=False)
    quiet_start = LocalTimeField(required=False, allow_null=True)
    quiet_end = LocalTimeField(required=False, allow_null=True)
    threshold_percent = serializers.DecimalField(
        max_digits=5, decimal_places=2, min_value=0, max_value=100, required=False, allow_null=True
    )

    class Meta:
        model = AlertRule
        fields = [
            "id",
            "name",
            "kind",
            "enabled",
            "severity",
            "delay_minutes",
            "error_codes",
            "threshold_percent",
            "window_days",
            "window_hours",
            "min_sessions",
            "sites",
            "station_models",
            "station_identities",
            "quiet_start",
            "quiet_end",
            "quiet_time_zone",
            "users",
            "endpoints",
            "created_at",
            "updated_at",
        ]
        read_only_fields = ["created_at", "updated_at"]

    def validate(self, attrs):
        current = {}
        if self.instance is not None:
            current = {f: getattr(self.instance, f) for f in ("kind", "error_codes", "threshold_percent",
                                                              "window_days", "window_hours", "quiet_start",
                                                              "quiet_end", "quiet_time_zone")}  # fmt: skip
        problems = rule_problems({**current, **attrs})
        if problems:
            raise serializers.ValidationError({name: [message] for name, message in problems.items()})
        return attrs

    def create(self, validated_data):
        return rules.rule_create(data=validated_data, by=self.context["request"].user, via="api")

    def update(self, instance, validated_data):
        return rules.rule_update(rule=instance, data=validated_data, by=self.context["request"].user, via="api")


class AlertRuleViewSet(viewsets.ModelViewSet):
    serializer_class = AlertRuleSerializer
    permission_classes = [ModelViewPermission]
    required_permission = "workorders.view_alertrule"
    write_permission = "workorders.change_alertrule"
    filterset_fields = ["kind", "enabled", "severity"]
    ordering_fields = ["name", "created_at"]

    def get_queryset(self):
        return AlertRule.objects.prefetch_related("sites", "station_models", "users", "endpoints").order_by(
            "name", "id"
        )

    def perform_destroy(self, instance):
        rules.rule_delete(rule=instance, by=self.request.user, via="api")


class AlertSerializer(serializers.ModelSerializer):
    rule_name = serializers.CharField(source="rule.name", read_only=True)
    site = serializers.CharField(source="site.name", read_only=True, allow_null=True, default=None)
    acknowledged_by = serializers.SlugRelatedField(slug_field="username", read_only=True)

    class Meta:
        model = Alert
        fields = [
            "id",
            "rule",
            "rule_name",
            "kind",
            "severity",
            "status",
            "subject_key",
            "subject_label",
            "subject_url",
            "station",
            "site",
            "summary",
            "details",
            "condition_since",
            "fired_at",
            "acknowledged_at",
            "acknowledged_by",
            "resolved_at",
        ]
        read_only_fields = fields


class AlertFilter(ApiFilterSet):
    status = django_filters.ChoiceFilter(choices=AlertStatus.choices)
    open = django_filters.BooleanFilter(method="filter_open", label="open (firing or acknowledged)")
    severity = django_filters.ChoiceFilter(choices=AlertSeverity.choices)
    kind = django_filters.ChoiceFilter(choices=AlertKind.choices)
    fired_after = MomentFilter(field_name="fired_at", lookup_expr="gte")
    fired_before = MomentFilter(field_name="fired_at", lookup_expr="lte")

    class Meta:
        model = Alert
        fields = ["status", "severity", "kind", "rule", "station"]

    def filter_open(self, queryset, name, value):
        if value is None:
            return queryset
        opened = [AlertStatus.FIRING, AlertStatus.ACKNOWLEDGED]
        return queryset.filter(status__in=opened) if value else queryset.exclude(status__in=opened)


class AcknowledgeSerializer(serializers.Serializer):
    note = serializers.CharField(max_length=300, required=False, allow_blank=True, default="")


class AlertViewSet(viewsets.ReadOnlyModelViewSet):
    serializer_class = AlertSerializer
    filterset_class = AlertFilter
    permission_classes = [ModelViewPermission]
    required_permission = "workorders.view_alert"
    write_permission = "workorders.change_alert"
    ordering_fields = ["fired_at", "condition_since"]

    def get_queryset(self):
        return Alert.objects.select_related("rule", "site", "acknowledged_by").order_by("-fired_at", "-id")

    @extend_schema(request=AcknowledgeSerializer, responses={200: AlertSerializer, 409: None})
    @action(detail=True, methods=["post"])
    def acknowledge(self, request, pk=None):
        alert = self.get_object()
        body = AcknowledgeSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        try:
            evaluation.alert_acknowledge(alert=alert, by=request.user, via="api", note=body.validated_data["note"])
        except evaluation.AlertTransitionError as exc:
            return Response({"detail": str(exc)}, status=status.HTTP_409_CONFLICT)
        return Response(AlertSerializer(self.get_queryset().get(pk=alert.pk)).data)


class AlertEndpointSerializer(serializers.ModelSerializer):
    target = serializers.CharField(max_length=500)
    secret = serializers.SerializerMethodField(help_text="The generated signing secret: in the creation's answer only")

    class Meta:
        model = AlertEndpoint
        fields = [
            "id",
            "name",
            "kind",
            "target",
            "secret_env",
            "secret",
            "status",
            "consecutive_failures",
            "failing_since",
            "paused_at",
            "paused_reason",
            "created_at",
        ]
        read_only_fields = [
            "status",
            "consecutive_failures",
            "failing_since",
            "paused_at",
            "paused_reason",
            "created_at",
        ]

    def get_secret(self, obj) -> str | None:
        return self.context.get("secret")

    def validate(self, attrs):
        attrs["target"] = attrs.get("target", "").strip()
        problems = endpoint_problems(attrs)
        if problems:
            raise serializers.ValidationError({name: [message] for name, message in problems.items()})
        return attrs


class AlertEndpointViewSet(mixins.CreateModelMixin, viewsets.ReadOnlyModelViewSet):
    serializer_class = AlertEndpointSerializer
    permission_classes = [ModelViewPermission]
    required_permission = "workorders.view_alertendpoint"
    write_permission = "workorders.add_alertendpoint"
    filterset_fields = ["kind", "status"]
    queryset = AlertEndpoint.objects.order_by("name", "id")

    def create(self, request, *args, **kwargs):
        serializer = self.get_serializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        endpoint, secret = endpoint_services.endpoint_create(by=request.user, via="api", **serializer.validated_data)
        answer = AlertEndpointSerializer(endpoint, context={"secret": secret})
        response = Response(answer.data, status=status.HTTP_201_CREATED)
        response["Cache-Control"] = "no-store"
        return response


class DeliveryAttemptSerializer(serializers.ModelSerializer):
    class Meta:
        model = AlertDeliveryAttempt
        fields = ["at", "ok", "status_code", "error", "duration_ms"]


class AlertDeliverySerializer(serializers.ModelSerializer):
    tries = DeliveryAttemptSerializer(many=True, read_only=True)

    class Meta:
        model = AlertDelivery
        fields = [
            "id",
            "alert",
            "notification",
            "channel",
            "endpoint",
            "user",
            "message_id",
            "status",
            "attempts",
            "next_attempt_at",
            "last_status_code",
            "last_error",
            "sent_at",
            "created_at",
            "tries",
        ]
        read_only_fields = fields


class AlertDeliveryFilter(ApiFilterSet):
    status = django_filters.ChoiceFilter(choices=DeliveryStatus.choices)
    channel = django_filters.ChoiceFilter(choices=ChannelKind.choices)

    class Meta:
        model = AlertDelivery
        fields = ["alert", "endpoint", "status", "channel"]


class AlertDeliveryViewSet(viewsets.ReadOnlyModelViewSet):
    serializer_class = AlertDeliverySerializer
    filterset_class = AlertDeliveryFilter
    permission_classes = [ModelViewPermission]
    required_permission = "workorders.view_alertdelivery"
    ordering_fields = ["created_at"]

    def get_queryset(self):
        tries = AlertDeliveryAttempt.objects.order_by("at", "id")
        return AlertDelivery.objects.prefetch_related(Prefetch("tries", queryset=tries)).order_by("-created_at", "-id")
