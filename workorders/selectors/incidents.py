"""Incidents as the board and the incident page read them, each with what happens next."""

from django.db.models import OuterRef, Prefetch, QuerySet, Subquery

from stations.models import StatusEvent
from workorders.models import Incident, IncidentStep, IncidentStepKind, WorkOrder
from workorders.services import incident_lifecycle

from .filters import IncidentFilter
from .workorders import incident_timeline

RECENT_STATUS_EVENTS = 20


def incident_board(params) -> QuerySet[Incident]:
    """Incidents filtered as the API filters them (open ones unless `open` says
    otherwise), each with its latest timeline entry and its work orders."""
    params = params.copy()
    params.pop("page", None)
    params.setdefault("open", "true")
    last = IncidentStep.objects.filter(incident=OuterRef("pk")).order_by("-at", "-id")
    queryset = (
        Incident.objects.select_related("station__site", "connector", "playbook")
        .annotate(
            last_step_kind=Subquery(last.values("kind")[:1]),
            last_step_reason=Subquery(last.values("reason")[:1]),
            last_step_at=Subquery(last.values("at")[:1]),
        )
        .prefetch_related(
            Prefetch("work_orders", queryset=WorkOrder.objects.select_related("technician__user").order_by("-id"))
        )
        .order_by("-opened_at", "-id")
    )
    return IncidentFilter(params, queryset=queryset).qs


def with_next_steps(incidents: list[Incident]) -> list[Incident]:
    """Each incident with what happens next and its latest entry named for people."""
    for incident in incidents:
        incident.next_label = incident_lifecycle.incident_next_step(incident).label
        kind = getattr(incident, "last_step_kind", None)
        incident.last_step_label = IncidentStepKind(kind).label if kind in IncidentStepKind.values else kind
    return incidents


def incident_for_page(pk: int) -> Incident | None:
    return Incident.objects.select_related("station__site", "connector", "playbook").filter(pk=pk).first()


def incident_page(incident: Incident) -> dict:
    """Everything the incident page shows besides the incident itself."""
    return {
        "steps": incident_timeline(incident.pk),
        "status_events": list(
            StatusEvent.objects.filter(incidents=incident)
            .select_related("connector")
            .order_by("-received_at", "-id")[:RECENT_STATUS_EVENTS]
        ),
        "work_orders": list(incident.work_orders.select_related("technician__user").order_by("-id")),
    }
