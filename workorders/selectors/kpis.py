"""Maintenance KPIs over a period, per site, per vendor/model or per technician.

Reads only: every figure comes from a few aggregate queries (two per grouping,
plus one for technician names), never from a loop over incidents or work
orders, so a page of KPIs costs the same with ten incidents or a million.

The period is half-open, [start, end). The definitions:

mean time to restore (MTTR)
    Incidents *closed* in the period: the mean of closed_at − opened_at, in
    hours. Every closed incident counts, whatever its resolution.

first-time fix rate
    Corrective work orders *verified* in the period (verified_at in the
    period). One is a first-time fix when
      * its incident got no other work order (cancelled ones aside), and
      * its connector had no new incident of the same kind as the order's
        incident opened within 7 days after verified_at (for an order without
        an incident, a new incident of any kind counts).
    Rate = first-time fixes / corrective orders verified. An order verified
    less than 7 days ago counts as a first-time fix until a return shows up.

remote resolution share, truck rolls avoided
    Incidents closed in the period, leaving out those that cleared by
    themselves (self_cleared) and those that were not the equipment's
    (not_equipment): share = resolved remotely / the rest. Truck rolls avoided
    = the number resolved remotely.

SLA compliance
    Work orders of any kind completed in the period (verified_at in the
    period; a closed order was verified first): share whose SLA was met
    (workorders.services.sla: verified by the due time).

repeat faults within 30 days
    Incidents *opened* in the period on a connector that had another incident
    of the same kind closed in the 30 days before this one opened. Reported as
    a count and as a share of the incidents opened in the period.

Grouping: an incident or work order belongs to its station's site and its
station's vendor/model. By technician, a work order belongs to its
technician, and an incident to the technician of its latest work order that
has one (incidents resolved without a visit have none and form their own
row). Every grouping partitions the same rows, so the total is the sum of
any grouping's rows.
"""

from dataclasses import dataclass, field
from datetime import datetime, timedelta

from django.conf import settings
from django.db.models import Count, Exists, F, OuterRef, Q, Subquery, Sum

from stations.models import Site
from workorders.models import (
    Incident,
    IncidentResolution,
    Technician,
    WorkOrder,
    WorkOrderKind,
    WorkOrderStatus,
)
from workorders.services import sla

GROUPS = ("site", "model", "technician")
FIRST_TIME_FIX_WINDOW = timedelta(days=7)
REPEAT_WINDOW = timedelta(days=30)
DEFAULT_PERIOD = timedelta(days=30)
NOT_COUNTED_FOR_REMOTE = (IncidentResolution.SELF_CLEARED, IncidentResolution.NOT_EQUIPMENT)


@dataclass(frozen=True)
class KpiRow:
    """The KPIs of one group (or of everything, for the total)."""

    key: str
    label: str
    incidents_closed: int
    mttr_hours: float | None
    remote_base: int  # closed incidents, self-cleared and not-equipment ones left out
    truck_rolls_avoided: int  # closed incidents resolved remotely
    remote_share: float | None
    corrective_verified: int
    first_time_fixes: int
    first_time_fix_rate: float | None
    completed_work_orders: int
    within_sla: int
    sla_compliance: float | None
    incidents_opened: int
    repeat_faults: int
    repeat_share: float | None


@dataclass(frozen=True)
class KpiReport:
    start: datetime
    end: datetime
    group: str
    rows: list[KpiRow]
    total: KpiRow


@dataclass
class _Tally:
    """Raw sums of one group; rates are computed from them once all are in."""

    label: str = ""
    incidents_closed: int = 0
    restore_time: timedelta = field(default_factory=timedelta)
    remote_base: int = 0
    remote: int = 0
    corrective_verified: int = 0
    first_time_fixes: int = 0
    completed: int = 0
    within_sla: int = 0
    incidents_opened: int = 0
    repeats: int = 0

    def add(self, other: "_Tally") -> None:
        for name in self.__dataclass_fields__:
            if name != "label":
                setattr(self, name, getattr(self, name) + getattr(other, name))

    def row(self, key: str) -> KpiRow:
        hours = self.restore_time.total_seconds() / 3600
        return KpiRow(
            key=key,
            label=self.label,
            incidents_closed=self.incidents_closed,
            mttr_hours=hours / self.incidents_closed if self.incidents_closed else None,
            remote_base=self.remote_base,
            truck_rolls_avoided=self.remote,
            remote_share=_ratio(self.remote, self.remote_base),
            corrective_verified=self.corrective_verified,
            first_time_fixes=self.first_time_fixes,
            first_time_fix_rate=_ratio(self.first_time_fixes, self.corrective_verified),
            completed_work_orders=self.completed,
            within_sla=self.within_sla,
            sla_compliance=_ratio(self.within_sla, self.completed),
            incidents_opened=self.incidents_opened,
            repeat_faults=self.repeats,
            repeat_share=_ratio(self.repeats, self.incidents_opened),
        )


def _ratio(part: int, whole: int) -> float | None:
    return part / whole if whole else None


def kpi_default_period(*, now: datetime) -> tuple[datetime, datetime]:
    return now - DEFAULT_PERIOD, now


def kpi_report(*, start: datetime, end: datetime, group: str) -> KpiReport:
    """Every KPI for [start, end), one row per group of `group`, and the total."""
    if group not in GROUPS:
        raise ValueError(f"group must be one of {', '.join(GROUPS)}")
    if start >= end:
        raise ValueError("the period's start must be before its end")
    tallies: dict[str, _Tally] = {}
    _incident_tallies(tallies, start=start, end=end, group=group)
    _work_order_tallies(tallies, start=start, end=end, group=group)
    if group == "technician":
        _technician_labels(tallies)
    total = _Tally(label="Total")
    for tally in tallies.values():
        total.add(tally)
    rows = sorted((tally.row(key) for key, tally in tallies.items()), key=lambda r: (r.key == "", r.label.lower()))
    return KpiReport(start=start, end=end, group=group, rows=rows, total=total.row("total"))


# -- incidents: MTTR, remote share, repeats -----------------------------------


def _latest_technician(incident_ref: str):
    """The technician of an incident's latest work order that has one."""
    return Subquery(
        WorkOrder.objects.filter(incident=OuterRef(incident_ref), technician__isnull=False)
        .order_by("-created_at", "-pk")
        .values("technician")[:1]
    )


def _incident_tallies(tallies: dict[str, _Tally], *, start: datetime, end: datetime, group: str) -> None:
    closed_in = Q(closed_at__gte=start, closed_at__lt=end)
    opened_in = Q(opened_at__gte=start, opened_at__lt=end)
    earlier_of_same_kind = Exists(
        Incident.objects.filter(
            connector=OuterRef("connector"),
            kind=OuterRef("kind"),
            closed_at__gte=OuterRef("opened_at") - REPEAT_WINDOW,
            closed_at__lte=OuterRef("opened_at"),
        ).exclude(pk=OuterRef("pk"))
    )
    queryset = Incident.objects.filter(closed_in | opened_in)
    if group == "technician":
        queryset = queryset.annotate(group_technician=_latest_technician("pk"))
    fields = {
        "site": ("station__site_id", "station__site__name"),
        "model": ("station__vendor", "station__model"),
        "technician": ("group_technician",),
    }[group]
    aggregates = queryset.values(*fields).annotate(
        n_closed=Count("pk", filter=closed_in),
        restore_time=Sum(F("closed_at") - F("opened_at"), filter=closed_in),
        n_remote=Count("pk", filter=closed_in & Q(resolution=IncidentResolution.REMOTE)),
        n_remote_base=Count("pk", filter=closed_in & ~Q(resolution__in=NOT_COUNTED_FOR_REMOTE)),
        n_opened=Count("pk", filter=opened_in),
        n_repeats=Count("pk", filter=opened_in & earlier_of_same_kind),
    )
    for values in aggregates.order_by():
        tally = _tally_for(tallies, group, values, fields)
        tally.incidents_closed += values["n_closed"]
        tally.restore_time += values["restore_time"] or timedelta()
        tally.remote += values["n_remote"]
        tally.remote_base += values["n_remote_base"]
        tally.incidents_opened += values["n_opened"]
        tally.repeats += values["n_repeats"]


# -- work orders: first-time fixes, SLA ----------------------------------------


def _work_order_tallies(tallies: dict[str, _Tally], *, start: datetime, end: datetime, group: str) -> None:
    corrective = Q(kind=WorkOrderKind.CORRECTIVE)
    another_order = Exists(
        WorkOrder.objects.filter(incident=OuterRef("incident"))
        .exclude(pk=OuterRef("pk"))
        .exclude(status=WorkOrderStatus.CANCELLED)
    )
    returned = Incident.objects.filter(
        connector=OuterRef("connector"),
        opened_at__gt=OuterRef("verified_at"),
        opened_at__lte=OuterRef("verified_at") + FIRST_TIME_FIX_WINDOW,
    )
    returned_same_kind = Exists(returned.filter(kind=OuterRef("incident__kind")))
    came_back = (Q(incident__isnull=False) & returned_same_kind) | (Q(incident__isnull=True) & Exists(returned))
    fields = {
        "site": ("station__site_id", "station__site__name"),
        "model": ("station__vendor", "station__model"),
        "technician": ("technician_id",),
    }[group]
    aggregates = (
        WorkOrder.objects.filter(verified_at__gte=start, verified_at__lt=end)
        .values(*fields)
        .annotate(
            n_completed=Count("pk"),
            n_within_sla=Count("pk", filter=sla.met_q()),
            n_corrective=Count("pk", filter=corrective),
            n_first_time=Count("pk", filter=corrective & ~another_order & ~came_back),
        )
    )
    for values in aggregates.order_by():
        tally = _tally_for(tallies, group, values, fields)
        tally.completed += values["n_completed"]
        tally.within_sla += values["n_within_sla"]
        tally.corrective_verified += values["n_corrective"]
        tally.first_time_fixes += values["n_first_time"]


# -- groups ------------------------------------------------------------------


def _tally_for(tallies: dict[str, _Tally], group: str, values: dict, fields: tuple[str, ...]) -> _Tally:
    """The tally of a row's group, created with its label on first sight.

    Keys are strings so the page and the API show them alike; "" is the group
    of rows without a site, model or technician.
    """
    if group == "site":
        site_id, name = (values[f] for f in fields)
        key, label = (str(site_id), name) if site_id is not None else ("", "(no site)")
    elif group == "model":
        vendor, model = (values[f] or "" for f in fields)
        key = f"{vendor}/{model}" if vendor or model else ""
        label = f"{vendor} {model}".strip() or "(unknown model)"
    else:
        technician_id = values[fields[0]]
        key = str(technician_id) if technician_id is not None else ""
        label = "" if technician_id is not None else "(no technician)"  # named in _technician_labels
    tally = tallies.get(key)
    if tally is None:
        tally = tallies[key] = _Tally(label=label)
    return tally


def _technician_labels(tallies: dict[str, _Tally]) -> None:
    ids = [int(key) for key in tallies if key]
    names = Technician.objects.filter(pk__in=ids).values_list(
        "pk", "user__first_name", "user__last_name", "user__username"
    )
    for pk, first, last, username in names:
        tallies[str(pk)].label = f"{first} {last}".strip() or username


def report_zone() -> str:
    """The time zone whose days a KPI period counts: the sites' when they all share
    one, else the portal's."""
    zones = list(Site.objects.order_by().values_list("time_zone", flat=True).distinct()[:2])
    return zones[0] if len(zones) == 1 and zones[0] else settings.TIME_ZONE
