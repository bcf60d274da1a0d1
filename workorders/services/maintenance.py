"""Preventive maintenance: plans generate work orders, once per plan, station and period."""

from datetime import date, datetime

from django.db import IntegrityError, transaction
from django.db.models import Count, Q, Sum
from django.utils import timezone

from stations.models import ChargingStation
from workorders.models import MaintenancePlan, Priority, WorkOrder, WorkOrderKind

from . import lifecycle

EPOCH = date(2020, 1, 1)


def plan_stations(plan: MaintenancePlan):
    stations = ChargingStation.objects.all()
    if plan.station_model_id:
        stations = stations.filter(station_model_id=plan.station_model_id)
    if plan.site_id:
        stations = stations.filter(site_id=plan.site_id)
    return stations


def _due_periods(plan: MaintenancePlan, stations, today: date) -> dict[int, str]:
    """The period key each station is in now, for stations whose period is due."""
    keys: dict[int, str] = {}
    if plan.every_days:
        key = f"d{(today - EPOCH).days // plan.every_days}"
        keys.update({station.pk: key for station in stations})
        return keys
    usage = stations.annotate(
        session_count=Count("sessions", filter=Q(sessions__stop_at__isnull=False)),
        energy_total=Sum("sessions__energy_wh"),
    )
    for station in usage:
        energy = station.energy_total or 0
        if plan.every_sessions and station.session_count >= plan.every_sessions:
            keys[station.pk] = f"s{station.session_count // plan.every_sessions}"
        elif plan.every_kwh and energy >= plan.every_kwh * 1000:
            keys[station.pk] = f"k{energy // (plan.every_kwh * 1000)}"
    return keys


def plans_generate(*, now: datetime | None = None) -> list[WorkOrder]:
    """Create the preventive work orders that are due; a second run creates none."""
    now = now or timezone.now()
    created = []
    for plan in MaintenancePlan.objects.filter(active=True):
        stations = plan_stations(plan).select_related("site")
        keys = _due_periods(plan, stations, timezone.localdate(now))
        existing = set(WorkOrder.objects.filter(plan=plan, station_id__in=keys).values_list("station_id", "period_key"))
        by_pk = {station.pk: station for station in stations if station.pk in keys}
        for station_id, key in keys.items():
            if (station_id, key) in existing:
                continue
            try:
                with transaction.atomic():
                    created.append(
                        lifecycle.workorder_create(
                            kind=WorkOrderKind.PREVENTIVE,
                            station=by_pk[station_id],
                            title=f"{plan.name}: {by_pk[station_id].identity}",
                            priority=Priority.P3,
                            checklist=list(plan.checklist),
                            plan=plan,
                            period_key=key,
                            via="maintenance plan",
                            now=now,
                        )
                    )
            except IntegrityError:
                continue  # generated meanwhile by another run
    return created
