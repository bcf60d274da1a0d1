"""Choosing the technician: skills, distance to the site, current load and the SLA.

Every candidate gets a score with its parts written down, so a dispatcher (or
an auditor later) can see why the proposal was made, and override it.
"""

import math
from dataclasses import dataclass, field
from datetime import datetime

from django.db import transaction
from django.db.models import Count, Q
from django.utils import timezone

from workorders.models import (
    OPEN_WORK_ORDER_STATUSES,
    DispatchDecision,
    Priority,
    Technician,
    WorkOrder,
    WorkOrderStatus,
)

from . import lifecycle

# Score weights: points lost per km of distance and per open work order, and
# gained for certification on the station's vendor. P1 orders weigh distance
# more: the nearest qualified person restores service soonest.
KM_PENALTY = {Priority.P1: 1.0, Priority.P2: 0.5, Priority.P3: 0.2}
LOAD_PENALTY = 15.0
CERTIFIED_BONUS = 20.0
OFF_HOURS_PENALTY = 25.0
UNKNOWN_DISTANCE_KM = 50.0


@dataclass
class Candidate:
    technician: Technician
    score: float
    reasons: dict = field(default_factory=dict)


def required_skills(work_order: WorkOrder) -> list[str]:
    if work_order.incident_id and work_order.incident.playbook_id:
        return list(work_order.incident.playbook.skills)
    if work_order.plan_id:
        return list(work_order.plan.skills)
    return []


def distance_km(lat1, lon1, lat2, lon2) -> float | None:
    if None in (lat1, lon1, lat2, lon2):
        return None
    lat1, lon1, lat2, lon2 = (math.radians(float(v)) for v in (lat1, lon1, lat2, lon2))
    a = math.sin((lat2 - lat1) / 2) ** 2 + math.cos(lat1) * math.cos(lat2) * math.sin((lon2 - lon1) / 2) ** 2
    return 6371.0 * 2 * math.asin(math.sqrt(a))


def _on_shift(technician: Technician, now: datetime) -> bool:
    local = timezone.localtime(now).time()
    return technician.work_start <= local <= technician.work_end


def technicians_ranked(*, work_order: WorkOrder, now: datetime | None = None) -> list[Candidate]:
    """Qualified active technicians, best first. Two queries, whatever the team size."""
    now = now or timezone.now()
    skills = set(required_skills(work_order))
    site = work_order.station.site
    technicians = (
        Technician.objects.filter(active=True)
        .select_related("user")
        .annotate(open_orders=Count("work_orders", filter=Q(work_orders__status__in=OPEN_WORK_ORDER_STATUSES)))
    )
    ranked = []
    for technician in technicians:
        missing = skills - set(technician.skills)
        if missing:
            continue
        km = distance_km(
            technician.home_latitude,
            technician.home_longitude,
            getattr(site, "latitude", None),
            getattr(site, "longitude", None),
        )
        certified = work_order.station.vendor in technician.certifications
        on_shift = _on_shift(technician, now)
        reasons = {
            "distance_km": round(km, 1) if km is not None else None,
            "open_orders": technician.open_orders,
            "certified_for_vendor": certified,
            "on_shift": on_shift,
            "skills_needed": sorted(skills),
        }
        score = 100.0
        score -= KM_PENALTY[work_order.priority] * (km if km is not None else UNKNOWN_DISTANCE_KM)
        score -= LOAD_PENALTY * technician.open_orders
        score += CERTIFIED_BONUS if certified else 0
        score -= 0 if on_shift else OFF_HOURS_PENALTY
        reasons["score"] = round(score, 1)
        ranked.append(Candidate(technician=technician, score=score, reasons=reasons))
    ranked.sort(key=lambda c: (-c.score, c.technician.pk))
    return ranked


def dispatch(
    *,
    work_order: WorkOrder,
    technician: Technician | None = None,
    by=None,
    via: str = "",
    now: datetime | None = None,
) -> DispatchDecision:
    """Propose the best technician and assign the order: to `technician` when a
    dispatcher overrides, else to the proposal. The decision and its reasons are kept."""
    now = now or timezone.now()
    ranked = technicians_ranked(work_order=work_order, now=now)
    proposed = ranked[0].technician if ranked else None
    chosen = technician or proposed
    reasons = {
        "candidates": [{"technician": c.technician.pk, "name": str(c.technician), **c.reasons} for c in ranked[:10]],
        "override": bool(technician and technician != proposed),
    }
    if not ranked:
        reasons["note"] = "no active technician has the skills " + ", ".join(required_skills(work_order))
    with transaction.atomic():
        decision = DispatchDecision.objects.create(
            work_order=work_order,
            proposed=proposed,
            chosen=chosen,
            reasons=reasons,
            decided_by=lifecycle._user(by),
            decided_via=via,
            at=now,
        )
        if chosen is not None:
            lifecycle.workorder_transition(
                work_order=work_order,
                to=WorkOrderStatus.ASSIGNED,
                by=by,
                via=via,
                note=f"dispatched to {chosen}",
                now=now,
                technician=chosen,
            )
    return decision
