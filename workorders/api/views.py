from django.db.models import Count, Prefetch, Q
from rest_framework import viewsets

from config.roles import ModelViewPermission
from workorders.models import (
    OPEN_WORK_ORDER_STATUSES,
    ErrorCode,
    Incident,
    IncidentStep,
    Technician,
    WorkOrder,
)

from . import filters, serializers


class IncidentViewSet(viewsets.ReadOnlyModelViewSet):
    serializer_class = serializers.IncidentSerializer
    filterset_class = filters.IncidentFilter
    permission_classes = [ModelViewPermission]
    required_permission = "workorders.view_incident"
    ordering_fields = ["opened_at", "closed_at"]

    def get_queryset(self):
        steps = IncidentStep.objects.select_related("command").order_by("at", "id")
        return (
            Incident.objects.select_related("station", "connector", "playbook")
            .prefetch_related(Prefetch("steps", queryset=steps))
            .order_by("-opened_at", "-id")
        )


class WorkOrderViewSet(viewsets.ReadOnlyModelViewSet):
    serializer_class = serializers.WorkOrderSerializer
    filterset_class = filters.WorkOrderFilter
    permission_classes = [ModelViewPermission]
    required_permission = "workorders.view_workorder"
    ordering_fields = ["sla_due_at", "created_at", "priority"]

    def get_queryset(self):
        if getattr(self, "swagger_fake_view", False):
            # Schema generation has no user to narrow the list by.
            return WorkOrder.objects.none()
        queryset = WorkOrder.objects.select_related("station", "connector", "technician__user").order_by(
            "sla_due_at", "id"
        )
        user = self.request.user
        if not user.has_perm("workorders.view_all_workorders"):
            # A technician sees their own work only.
            queryset = queryset.filter(technician__user=user)
        return queryset


class TechnicianViewSet(viewsets.ReadOnlyModelViewSet):
    serializer_class = serializers.TechnicianSerializer
    permission_classes = [ModelViewPermission]
    required_permission = "workorders.view_technician"

    def get_queryset(self):
        open_orders = Count("work_orders", filter=Q(work_orders__status__in=OPEN_WORK_ORDER_STATUSES))
        return Technician.objects.select_related("user").annotate(open_orders=open_orders).order_by("user__username")


class ErrorCodeViewSet(viewsets.ReadOnlyModelViewSet):
    serializer_class = serializers.ErrorCodeSerializer
    filterset_class = filters.ErrorCodeFilter
    permission_classes = [ModelViewPermission]
    required_permission = "workorders.view_errorcode"
    queryset = ErrorCode.objects.order_by("vendor", "code")
