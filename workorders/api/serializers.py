from django.utils import timezone
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from stations.models import CommandStatus
from workorders.models import ErrorCode, Incident, IncidentStep, Technician, WorkOrder
from workorders.services import playbook, sla


class IncidentStepSerializer(serializers.ModelSerializer):
    command_status = serializers.ChoiceField(
        source="command.status", choices=CommandStatus.choices, read_only=True, allow_null=True, default=None
    )

    class Meta:
        model = IncidentStep
        fields = ["kind", "remote_step", "reason", "command", "command_status", "at"]


class IncidentSerializer(serializers.ModelSerializer):
    station = serializers.CharField(source="station.identity", read_only=True)
    connector_id = serializers.IntegerField(source="connector.connector_id", read_only=True)
    playbook = serializers.CharField(source="playbook.code", read_only=True, allow_null=True, default=None)
    resolution = serializers.SerializerMethodField()
    steps = IncidentStepSerializer(many=True, read_only=True)

    class Meta:
        model = Incident
        fields = [
            "id",
            "station",
            "connector_id",
            "kind",
            "status",
            "resolution",
            "error_code",
            "vendor_error_code",
            "playbook",
            "next_step",
            "next_check_at",
            "opened_at",
            "closed_at",
            "steps",
        ]

    def get_resolution(self, incident) -> str | None:
        return incident.resolution or None


class WorkOrderSerializer(serializers.ModelSerializer):
    station = serializers.CharField(source="station.identity", read_only=True)
    connector_id = serializers.IntegerField(
        source="connector.connector_id", read_only=True, allow_null=True, default=None
    )
    technician = serializers.CharField(source="technician.user.username", read_only=True, allow_null=True, default=None)
    sla_breached = serializers.SerializerMethodField(help_text="SLA missed or breached: see sla_state")
    sla_state = serializers.SerializerMethodField(
        help_text="met / missed once the charger verified the fix; breached / soon / ok while not; none if cancelled"
    )

    class Meta:
        model = WorkOrder
        fields = [
            "id",
            "kind",
            "priority",
            "status",
            "station",
            "connector_id",
            "incident",
            "technician",
            "title",
            "diagnosis",
            "checklist",
            "parts_used",
            "notes",
            "resolution_code",
            "sla_due_at",
            "sla_breached",
            "sla_state",
            "on_site_started_at",
            "on_site_ended_at",
            "verified_at",
            "plan",
            "created_at",
        ]

    def get_sla_breached(self, order) -> bool:
        return sla.is_breached(order, timezone.now())

    @extend_schema_field(serializers.ChoiceField(choices=sla.SlaState.choices))
    def get_sla_state(self, order) -> str:
        return sla.sla_state(order, timezone.now()).value


class TechnicianSerializer(serializers.ModelSerializer):
    username = serializers.CharField(source="user.username", read_only=True)
    open_orders = serializers.IntegerField(read_only=True)

    class Meta:
        model = Technician
        fields = ["id", "username", "skills", "certifications", "territory", "active", "open_orders"]


class ErrorCodeSerializer(serializers.ModelSerializer):
    class Meta:
        model = ErrorCode
        fields = ["id", *playbook.COLUMNS]
