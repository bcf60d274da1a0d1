"""Work orders as the technician's queue, the order page, the boards and the
workload table read them."""

from dataclasses import dataclass
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from django.db.models import Case, Count, IntegerField, Min, OuterRef, Q, QuerySet, Subquery, When
from django.db.models.functions import Coalesce
from django.utils import timezone

from stations import selectors as station_selectors
from stations.models import ChargingStation, Connector, Site, StatusEvent
from workorders.models import (
    OPEN_WORK_ORDER_STATUSES,
    DispatchDecision,
    IncidentStep,
    Priority,
    Technician,
    WorkOrder,
    WorkOrderEvent,
    WorkOrderPhoto,
    WorkOrderStatus,
)
from workorders.services import sla

from .filters import WorkOrderFilter

S = WorkOrderStatus
RECENT_STATUS_EVENTS = 20
RECENT_FRAMES = 30
RECENT_COMMANDS = 10
RECENT_DECISIONS = 5
# The technician's queue: what is due within this comes right after what is overdue.
DUE_WITHIN = timedelta(hours=4)
PRIORITY_RANK = {p: rank for rank, p in enumerate(Priority.values)}


def site_zone(site: Site | None) -> ZoneInfo:
    """The site's time zone; the portal's when the site names none (or one that does not exist)."""
    try:
        if site is not None and site.time_zone:
            return ZoneInfo(site.time_zone)
    except (KeyError, ValueError):
        pass
    return timezone.get_current_timezone()


def work_order_for_page(pk: int) -> WorkOrder | None:
    return (
        WorkOrder.objects.select_related("station__site", "connector", "technician__user", "incident__playbook", "plan")
        .filter(pk=pk)
        .first()
    )


def with_sla(orders: list[WorkOrder], now: datetime) -> list[WorkOrder]:
    for order in orders:
        order.sla_state = sla.sla_state(order, now)
    return orders


# -- the technician's queue ------------------------------------------------------


@dataclass(frozen=True)
class QueueGroup:
    key: str
    title: str
    orders: list[WorkOrder]


def _queue_order(order: WorkOrder):
    return (order.sla_due_at, PRIORITY_RANK.get(order.priority, 99), order.pk)


def technician_queue(*, user, now: datetime) -> list[QueueGroup]:
    """The user's open work by urgency: overdue, due within 4 h, due later today
    (in the site's time zone), later; each by SLA due time, then priority. Work
    done on site and waiting for the charger's word comes last."""
    orders = with_sla(
        list(
            WorkOrder.objects.filter(technician__user=user, status__in=OPEN_WORK_ORDER_STATUSES)
            .select_related("station__site", "connector")
            .order_by("sla_due_at", "id")
        ),
        now,
    )
    groups = {key: [] for key in ("overdue", "soon", "today", "later", "waiting")}
    for order in orders:
        if order.status == S.RESOLVED:
            key = "waiting"
        elif order.sla_due_at < now:
            key = "overdue"
        elif order.sla_due_at - now <= DUE_WITHIN:
            key = "soon"
        else:
            zone = site_zone(order.station.site)
            same_day = timezone.localtime(order.sla_due_at, zone).date() == timezone.localtime(now, zone).date()
            key = "today" if same_day else "later"
        groups[key].append(order)
    titles = {
        "overdue": "Overdue",
        "soon": "Due within 4 h",
        "today": "Due later today",
        "later": "Later",
        "waiting": "Waiting for the charger to confirm",
    }
    return [QueueGroup(key, titles[key], sorted(found, key=_queue_order)) for key, found in groups.items()]


def has_technician_profile(user) -> bool:
    return Technician.objects.filter(user=user).exists()


# -- the order page --------------------------------------------------------------


def connectors_with_since(station: ChargingStation) -> list[Connector]:
    """The station's connectors, each with `since`: when it first reported what it
    reports now. A charger repeating the same fault does not reset it."""
    same = StatusEvent.objects.filter(connector=OuterRef("pk"))
    last_different = same.exclude(
        status=OuterRef("status"), error_code=OuterRef("error_code"), vendor_error_code=OuterRef("vendor_error_code")
    ).order_by("-received_at", "-id")
    first_of = same.order_by("received_at", "id").values("received_at")[:1]
    connectors = list(
        station.connectors.annotate(changed_at=Subquery(last_different.values("received_at")[:1]))
        .annotate(
            run_since=Case(
                When(changed_at__isnull=True, then=Subquery(first_of)),
                default=Subquery(
                    same.filter(received_at__gt=OuterRef("changed_at"))
                    .order_by("received_at", "id")
                    .values("received_at")[:1]
                ),
            )
        )
        .order_by("connector_id")
    )
    for connector in connectors:
        connector.since = connector.run_since or connector.status_since
    return connectors


def station_now(station: ChargingStation) -> dict:
    """The station as it is now: connectors, commands, status history and frames."""
    return {
        "station": station,
        "connectors": connectors_with_since(station),
        "recent_commands": station_selectors.station_recent_commands(station=station, limit=RECENT_COMMANDS),
        "status_events": list(
            StatusEvent.objects.filter(station=station)
            .select_related("connector")
            .order_by("-received_at", "-id")[:RECENT_STATUS_EVENTS]
        ),
        # Served by the (station, -created_at) index.
        "frames": station_selectors.station_recent_frames(station=station, limit=RECENT_FRAMES),
    }


def work_order_history(order: WorkOrder) -> dict:
    """What was done on the order and to its incident, oldest first."""
    return {
        "photos": list(order.photos.select_related("uploaded_by").order_by("uploaded_at", "id")),
        "events": list(WorkOrderEvent.objects.filter(work_order=order).select_related("by").order_by("at", "id")),
        "timeline": incident_timeline(order.incident_id) if order.incident_id else [],
    }


def incident_timeline(incident_id: int) -> list[IncidentStep]:
    steps = IncidentStep.objects.filter(incident_id=incident_id).select_related("command", "by")
    return list(steps.order_by("at", "id"))


def photo_of(order: WorkOrder, photo_id: int) -> WorkOrderPhoto | None:
    return WorkOrderPhoto.objects.filter(pk=photo_id, work_order=order).first()


def dispatch_decisions(order: WorkOrder, limit: int = RECENT_DECISIONS) -> list[DispatchDecision]:
    return list(
        order.dispatch_decisions.select_related("proposed__user", "chosen__user", "decided_by").order_by("-at", "-id")[
            :limit
        ]
    )


# -- the boards ----------------------------------------------------------------


def work_order_board(params, *, status: str) -> QuerySet[WorkOrder]:
    """The board's rows: `status` "open" (the default), "all", or one status; the
    other filters as the API has them."""
    params = params.copy()
    params.pop("page", None)
    queryset = WorkOrder.objects.select_related("station__site", "connector", "technician__user").order_by(
        "sla_due_at", "id"
    )
    if status in ("open", "all"):
        params.pop("status", None)
        if status == "open":
            queryset = queryset.filter(status__in=OPEN_WORK_ORDER_STATUSES)
    return WorkOrderFilter(params, queryset=queryset).qs


def board_choices() -> dict:
    return {
        "technicians": list(Technician.objects.select_related("user").order_by("user__username")),
        "sites": list(Site.objects.only("id", "name").order_by("name")),
    }


def technician_workload(*, now: datetime) -> tuple[list[Technician], int]:
    """Each technician's open work by status, what is due next and how much is
    breached (by the SLA rule); and how many open orders nobody has. Two queries."""
    open_q = Q(work_orders__status__in=OPEN_WORK_ORDER_STATUSES)
    per_status = {
        f"n_{status}": Count("work_orders", filter=Q(work_orders__status=status)) for status in OPEN_WORK_ORDER_STATUSES
    }
    own_open = WorkOrder.objects.filter(technician=OuterRef("pk"), status__in=OPEN_WORK_ORDER_STATUSES)
    breached = sla.filter_breached(own_open, now).order_by().values("technician").annotate(n=Count("pk")).values("n")
    technicians = list(
        Technician.objects.select_related("user")
        .annotate(
            open_orders=Count("work_orders", filter=open_q),
            next_due=Min("work_orders__sla_due_at", filter=open_q),
            breached=Coalesce(Subquery(breached, output_field=IntegerField()), 0),
            **per_status,
        )
        .order_by("user__username")
    )
    for technician in technicians:
        technician.by_status = [
            (S(status).label, getattr(technician, f"n_{status}")) for status in OPEN_WORK_ORDER_STATUSES
        ]
    unassigned = WorkOrder.objects.filter(technician__isnull=True, status__in=OPEN_WORK_ORDER_STATUSES).count()
    return technicians, unassigned
