"""The operations dashboard: the network now, the work in hand, faults and usage.

It reads stations and workorders, so it lives here and not in stations (which
imports neither). The reads are aggregates over the whole network, a fixed
number of queries whatever its size; the view names the list behind every
figure.
"""

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from urllib.parse import urlencode

from celery import shared_task
from django.core.cache import cache
from django.db.models import Count
from django.urls import reverse
from django.utils import timezone
from django.views.generic import TemplateView

from config.roles import PortalPermissionMixin
from stations import selectors_usage as usage
from stations.models import ConnectorStatus, ExclusionState, UptimeExclusion
from stations.views_usage import hour_points
from workorders.alerts.models import AlertSeverity
from workorders.alerts.selectors import alerts_firing
from workorders.models import OPEN_WORK_ORDER_STATUSES, Incident, IncidentKind, IncidentStatus, WorkOrder
from workorders.services import sla

# Everything on it is network-wide: operators and dispatchers.
DASHBOARD_PERMISSIONS = (
    "stations.view_chargingstation",
    "stations.view_statusevent",
    "workorders.view_incident",
    "workorders.view_all_workorders",
)
FAULT_WINDOW = timedelta(days=30)
# Named periods of the analytics (whole UTC days, today included), so a chart links to the
# same figures.
USAGE_PERIOD = "30d"
UTILISATION_PERIOD = "7d"
OPEN_INCIDENT_STATUSES = (IncidentStatus.OPEN, IncidentStatus.REMEDIATING, IncidentStatus.DISPATCHED)


# -- Reads --------------------------------------------------------------------------


@dataclass
class WorkSummary:
    incidents: dict[str, int]
    orders: dict[str, int]
    breached: int
    due_soon: int
    incidents_total: int = field(init=False)
    orders_total: int = field(init=False)

    def __post_init__(self):
        self.incidents_total = sum(self.incidents.values())
        self.orders_total = sum(self.orders.values())


def work_summary(*, now: datetime) -> WorkSummary:
    """Open incidents by status, open work orders by status and by SLA state (the SLA
    rule's own database expression). Two queries."""
    incidents = dict(
        Incident.objects.filter(status__in=OPEN_INCIDENT_STATUSES)
        .values_list("status")
        .annotate(n=Count("id"))
        .order_by()
    )
    orders: dict[str, int] = {}
    by_sla: dict[str, int] = {}
    rows = (
        sla.with_sla_state(WorkOrder.objects.filter(status__in=OPEN_WORK_ORDER_STATUSES), now)
        .values_list("status", "sla_state_value")
        .annotate(n=Count("id"))
        .order_by()
    )
    for status, state, n in rows:
        orders[status] = orders.get(status, 0) + n
        by_sla[state] = by_sla.get(state, 0) + n
    return WorkSummary(
        incidents={s.value: incidents.get(s.value, 0) for s in OPEN_INCIDENT_STATUSES},
        orders={s.value: orders.get(s.value, 0) for s in OPEN_WORK_ORDER_STATUSES},
        breached=sum(by_sla.get(state.value, 0) for state in sla.BREACHED_STATES),
        due_soon=by_sla.get(sla.SlaState.DUE_SOON.value, 0),
    )


@dataclass(frozen=True)
class FaultCount:
    label: str
    key: str
    value: int


def faults_by_error_code(*, since: datetime, limit: int = 8) -> list[FaultCount]:
    """Fault incidents opened since then, by the OCPP errorCode that opened them. One query."""
    rows = (
        Incident.objects.filter(kind=IncidentKind.FAULT, opened_at__gte=since)
        .values_list("error_code")
        .annotate(n=Count("id"))
        .order_by("-n", "error_code")[:limit]
    )
    return [FaultCount(code or "(none)", code, n) for code, n in rows]


def faults_by_model(*, since: datetime, limit: int = 8) -> list[FaultCount]:
    """Fault incidents opened since then, by the station's vendor and model. One query."""
    rows = (
        Incident.objects.filter(kind=IncidentKind.FAULT, opened_at__gte=since)
        .values_list("station__vendor", "station__model")
        .annotate(n=Count("id"))
        .order_by("-n", "station__vendor", "station__model")[:limit]
    )
    return [FaultCount(f"{vendor} {model}".strip() or "unknown model", model, n) for vendor, model, n in rows]


@dataclass
class AlertsSummary:
    by_severity: dict[str, int]
    latest: list
    total: int = field(init=False)

    def __post_init__(self):
        self.total = sum(self.by_severity.values())


def alerts_summary(*, latest: int = 5) -> AlertsSummary:
    """Open alerts (firing or acknowledged) by severity, and the worst, newest few. Two queries."""
    counts = dict(alerts_firing().order_by().values_list("severity").annotate(n=Count("id")))
    return AlertsSummary(
        by_severity={s.value: counts.get(s.value, 0) for s in reversed(AlertSeverity)},
        latest=list(alerts_firing()[:latest]),
    )


@dataclass
class HistoryFigures:
    at: datetime
    uptime: usage.UptimeOverview | None
    by_time: usage.UsageByTime
    utilisation: usage.Utilisation
    by_hour: list[usage.Utilisation]


# The history-wide figures take seconds on a large network (the live rest of today
# costs as much as a day's roll-up): the scheduler computes them every few minutes
# (dashboard_figures_refresh) and pages read them from the cache; only a cold cache
# makes a request compute them.
HISTORY_FIGURES_KEY = "dashboard:history-figures"
HISTORY_FIGURES_TTL_S = 600


def history_figures(*, now: datetime) -> HistoryFigures:
    """The dashboard's history-wide figures: the month's uptime, a month of sessions by hour and
    a week of utilisation, as last computed (see history_figures_compute)."""
    found = cache.get(HISTORY_FIGURES_KEY)
    if found is None:
        found = history_figures_refresh(now=now)
    return found


def history_figures_compute(*, now: datetime) -> HistoryFigures:
    """Each figure reads the daily roll-ups (today's as far as the last roll-up) plus the
    minutes since from the history: a fixed number of queries, whatever the history's length."""
    _, usage_start, _ = usage.period_bounds(USAGE_PERIOD, now)
    _, week_start, _ = usage.period_bounds(UTILISATION_PERIOD, now)
    return HistoryFigures(
        at=now,
        uptime=usage.uptime_overview(now=now),
        by_time=usage.usage_by_time(start=usage_start, end=now),
        utilisation=usage.network_utilisation(start=week_start, end=now, now=now),
        by_hour=usage.utilisation_by_hour(start=week_start, end=now, now=now),
    )


def history_figures_refresh(*, now: datetime | None = None) -> HistoryFigures:
    figures = history_figures_compute(now=now or timezone.now())
    cache.set(HISTORY_FIGURES_KEY, figures, HISTORY_FIGURES_TTL_S)
    return figures


@shared_task(acks_late=True)
def dashboard_figures_refresh() -> None:
    history_figures_refresh()


# -- Links ---------------------------------------------------------------------------


def _url(name: str, **params) -> str:
    query = urlencode({k: v for k, v in params.items() if v is not None})
    return f"{reverse(name)}?{query}" if query else reverse(name)


def network_tiles(now_figures: usage.NetworkNow) -> list[dict]:
    """The network's ports now, each figure linked to the station list filtered to it."""
    S = ConnectorStatus
    tiles = [
        ("available", now_figures.available, "ports available", S.AVAILABLE, "ok"),
        ("charging", now_figures.charging, "charging", S.CHARGING, ""),
        ("occupied", now_figures.occupied, "occupied, not charging", S.PREPARING, ""),
        ("faulted", now_figures.faulted, "faulted", S.FAULTED, "bad" if now_figures.faulted else ""),
        (
            "unavailable",
            now_figures.unavailable,
            "unavailable",
            S.UNAVAILABLE,
            "warn" if now_figures.unavailable else "",
        ),
        ("offline", now_figures.offline, "offline", S.OFFLINE, "bad" if now_figures.offline else ""),
    ]
    return [
        {"key": key, "value": value, "what": what, "href": _url("stations:station-list", status=status), "css": css}
        for key, value, what, status, css in tiles
    ]


def incident_tiles(work: WorkSummary) -> list[dict]:
    return [
        {
            "value": work.incidents[status.value],
            "what": status.label.lower(),
            "href": _url("workorders:incident-board", status=status.value),
        }
        for status in OPEN_INCIDENT_STATUSES
    ]


def order_tiles(work: WorkSummary) -> list[dict]:
    return [
        {
            "value": work.orders[status.value],
            "what": status.label.lower(),
            "href": _url("workorders:board", status=status.value),
        }
        for status in OPEN_WORK_ORDER_STATUSES
    ]


def alert_tiles(alerts: AlertsSummary) -> list[dict]:
    """Open alerts by severity, worst first, each linked to the alert list filtered to it."""
    css = {AlertSeverity.CRITICAL: "bad", AlertSeverity.WARNING: "warn"}
    return [
        {
            "value": alerts.by_severity[s.value],
            "what": s.label.capitalize(),
            "href": _url("workorders:alert-list", severity=s.value),
            "css": css.get(s, "") if alerts.by_severity[s.value] else "",
        }
        for s in reversed(AlertSeverity)
    ]


def fault_points(faults: list[FaultCount], since: datetime) -> list[dict]:
    return [
        {
            "label": f.label,
            "value": f.value,
            "css": "fault",
            "href": _url(
                "workorders:incident-board",
                open="",
                kind=IncidentKind.FAULT.value,
                error_code=f.key,
                opened_after=since.isoformat(),
            ),
            "title": f"{f.value} fault incidents with {f.label}",
        }
        for f in faults
    ]


def model_points(faults: list[FaultCount]) -> list[dict]:
    return [
        {
            "label": f.label,
            "value": f.value,
            "css": "model",
            "href": _url("stations:station-list", q=f.key) if f.key else "",
            "title": f"{f.value} fault incidents on {f.label}",
        }
        for f in faults
    ]


def uptime_points(overview: usage.UptimeOverview | None) -> list[dict]:
    if overview is None:
        return []
    points = []
    for start, percent in overview.weeks:
        below = percent is not None and percent < overview.target
        shown = "no ports yet" if percent is None else f"{percent:.2f} %"
        points.append(
            {
                "label": f"{start:%d %b}",
                "value": percent or 0,
                "css": "below" if below else "uptime",
                "href": _url("analytics", period="7d"),
                "title": f"week of {start:%d %b}: {shown} (target {overview.target:g} %)",
            }
        )
    return points


def busy_points(by_hour: list[usage.Utilisation], href: str) -> list[dict]:
    """Share of the ports' time occupied (charging or held) per hour of the day, in percent."""
    return [
        {
            "label": f"{hour:02d}",
            "value": round(u.busy * 100, 1),
            "href": href,
            "title": f"{hour:02d}:00–{hour:02d}:59: {u.busy * 100:.1f} % occupied, {u.charging * 100:.1f} % charging",
        }
        for hour, u in enumerate(by_hour)
    ]


def uptime_floor(overview: usage.UptimeOverview | None) -> float:
    """Where the weekly uptime chart starts: 90 %, or lower for a week below that."""
    weeks = overview.weeks if overview else []
    return min([90.0, *(percent for _, percent in weeks if percent is not None)])


# -- Pages ---------------------------------------------------------------------------


class DashboardView(PortalPermissionMixin, TemplateView):
    permission_required = DASHBOARD_PERMISSIONS
    template_name = "dashboard/dashboard.html"

    def get_context_data(self, **kwargs):
        context = super().get_context_data(**kwargs)
        now = timezone.now()
        fault_since = now - FAULT_WINDOW
        work = work_summary(now=now)
        alerts = alerts_summary()
        figures = history_figures(now=now)
        context.update(
            now=now,
            figures_at=figures.at,
            tiles=network_tiles(usage.network_now()),
            work=work,
            incident_tiles=incident_tiles(work),
            order_tiles=order_tiles(work),
            breached_url=_url("workorders:board", sla_breached="true"),
            due_url=reverse("workorders:board"),
            fault_codes=fault_points(faults_by_error_code(since=fault_since), fault_since),
            fault_models=model_points(faults_by_model(since=fault_since)),
            fault_since=fault_since,
            alerts=alerts,
            alert_tiles=alert_tiles(alerts),
            by_time=figures.by_time,
            hour_sessions=hour_points(figures.by_time, _url("analytics", period=USAGE_PERIOD)),
            utilisation=figures.utilisation,
            hour_busy=busy_points(figures.by_hour, _url("analytics", period=UTILISATION_PERIOD)),
            states=list(usage.UsageState),
            uptime=figures.uptime,
            uptime_weeks=uptime_points(figures.uptime),
            uptime_floor=uptime_floor(figures.uptime),
            exclusions_proposed=UptimeExclusion.objects.filter(state=ExclusionState.PROPOSED).count(),
        )
        return context


class NetworkLiveView(PortalPermissionMixin, TemplateView):
    """The network-now figures alone, fetched again as stations report."""

    permission_required = DASHBOARD_PERMISSIONS
    template_name = "dashboard/_network.html"

    def get_context_data(self, **kwargs):
        context = super().get_context_data(**kwargs)
        context["tiles"] = network_tiles(usage.network_now())
        return context
