"""What each kind of rule watches: the subjects whose condition holds now, and since when.

A source answers "which subjects are in this state, and since when" and nothing
else; evaluation (services/evaluation.py) decides whether it has held for the
rule's delay, fires, and resolves what is no longer listed. A source reads the
current state, so running it twice changes nothing.
"""

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from decimal import Decimal

from django.db.models import Count, Min, Q
from django.urls import reverse

from stations.models import ChargingSession, ChargingStation, Connector, ConnectorStatus
from stations.uptime import rules as session_rules
from workorders.models import OPEN_WORK_ORDER_STATUSES, WorkOrder
from workorders.services import sla

from .models import AlertKind, AlertRule
from .registry import condition_sources

# FirmwareStatusNotification values that mean the update did not happen.
FIRMWARE_FAILED_STATUSES = ("DownloadFailed", "InstallationFailed")


@dataclass(frozen=True)
class Condition:
    subject_key: str
    subject_label: str
    since: datetime
    summary: str
    station_id: int | None = None
    site_id: int | None = None
    subject_url: str = ""
    details: dict = field(default_factory=dict)


def station_scope(rule: AlertRule, prefix: str = "") -> Q:
    """The rule's scope as a filter on stations (`prefix` reaches them from another model).

    Needs rule.sites and rule.station_models prefetched (selectors.rules_enabled does).
    """
    q = Q()
    site_ids = [site.pk for site in rule.sites.all()]
    if site_ids:
        q &= Q(**{f"{prefix}site_id__in": site_ids})
    models = list(rule.station_models.all())
    if models:
        # A station knows its model by the row (set at boot) and by the names it sent.
        by_model = Q(**{f"{prefix}station_model_id__in": [m.pk for m in models]})
        for m in models:
            by_model |= Q(**{f"{prefix}vendor": m.vendor, f"{prefix}model": m.model})
        q &= by_model
    if rule.station_identities:
        q &= Q(**{f"{prefix}identity__in": list(rule.station_identities)})
    return q


def _station_url(identity: str) -> str:
    return reverse("stations:station-detail", args=[identity])


def _limit(queryset, station_ids, field_name: str):
    return queryset if station_ids is None else queryset.filter(**{f"{field_name}__in": station_ids})


def station_offline(rule: AlertRule, now: datetime, station_ids=None) -> Iterable[Condition]:
    """Not connected or silent past its threshold, since the last thing it said."""
    stations = _limit(
        ChargingStation.objects.filter(station_scope(rule))
        .filter(Q(connected=False) | Q(offline=True), last_message_at__isnull=False)
        .only("pk", "identity", "site_id", "last_message_at"),
        station_ids,
        "pk",
    )
    for station in stations:
        yield Condition(
            subject_key=f"station:{station.pk}",
            subject_label=station.identity,
            since=station.last_message_at,
            summary=f"{station.identity} is offline",
            station_id=station.pk,
            site_id=station.site_id,
            subject_url=_station_url(station.identity),
            details={"last_message_at": station.last_message_at.isoformat()},
        )


def _connectors(rule: AlertRule, station_ids, condition: Q):
    return _limit(
        Connector.objects.filter(station_scope(rule, "station__"))
        .filter(condition)
        .select_related("station")
        .only(
            "pk",
            "connector_id",
            "status",
            "error_code",
            "vendor_error_code",
            "status_since",
            "station__identity",
            "station__site_id",
        ),
        station_ids,
        "station_id",
    )


def _connector_condition(connector: Connector, now: datetime, summary: str) -> Condition:
    station = connector.station
    return Condition(
        subject_key=f"connector:{connector.pk}",
        subject_label=f"{station.identity} #{connector.connector_id}",
        since=connector.status_since or now,
        summary=summary,
        station_id=connector.station_id,
        site_id=station.site_id,
        subject_url=_station_url(station.identity),
        details={
            "connector_id": connector.connector_id,
            "status": connector.status,
            "error_code": connector.error_code,
            "vendor_error_code": connector.vendor_error_code,
        },
    )


def connector_faulted(rule: AlertRule, now: datetime, station_ids=None) -> Iterable[Condition]:
    for connector in _connectors(rule, station_ids, Q(status=ConnectorStatus.FAULTED)):
        code = connector.vendor_error_code or connector.error_code
        yield _connector_condition(
            connector, now, f"{connector.station.identity} #{connector.connector_id} is faulted ({code})"
        )


def error_code(rule: AlertRule, now: datetime, station_ids=None) -> Iterable[Condition]:
    codes = [str(code) for code in rule.error_codes or []]
    if not codes:
        return
    matching = Q(error_code__in=codes) | Q(vendor_error_code__in=codes)
    for connector in _connectors(rule, station_ids, matching):
        code = connector.vendor_error_code if connector.vendor_error_code in codes else connector.error_code
        yield _connector_condition(
            connector, now, f"{connector.station.identity} #{connector.connector_id} reports {code}"
        )


def firmware_failed(rule: AlertRule, now: datetime, station_ids=None) -> Iterable[Condition]:
    stations = _limit(
        ChargingStation.objects.filter(station_scope(rule), firmware_status__in=FIRMWARE_FAILED_STATUSES).only(
            "pk", "identity", "site_id", "firmware_status", "firmware_status_at", "firmware_version"
        ),
        station_ids,
        "pk",
    )
    for station in stations:
        yield Condition(
            subject_key=f"station:{station.pk}",
            subject_label=station.identity,
            since=station.firmware_status_at or now,
            summary=f"Firmware update of {station.identity} failed ({station.firmware_status})",
            station_id=station.pk,
            site_id=station.site_id,
            subject_url=_station_url(station.identity),
            details={"firmware_status": station.firmware_status, "firmware_version": station.firmware_version},
        )


def failed_session_q() -> Q:
    """A session the port failed, by stations' one rule (stations.uptime.rules)."""
    return session_rules.port_failed_q()


def session_failures(rule: AlertRule, now: datetime, station_ids=None) -> Iterable[Condition]:
    if rule.threshold_percent is None or not rule.window_hours:
        return
    start = now - timedelta(hours=rule.window_hours)
    rows = (
        _limit(
            ChargingSession.objects.filter(station_scope(rule, "station__"), stop_at__gte=start, stop_at__lte=now),
            station_ids,
            "station_id",
        )
        .values("station_id", "station__identity", "station__site_id")
        .annotate(
            total=Count("pk", filter=session_rules.judged_q()),
            failed=Count("pk", filter=failed_session_q()),
            first=Min("stop_at"),
        )
        .filter(total__gte=max(rule.min_sessions, 1))
    )
    for row in rows:
        rate = Decimal(row["failed"] * 100) / row["total"]
        if rate <= rule.threshold_percent:
            continue
        identity = row["station__identity"]
        yield Condition(
            subject_key=f"station:{row['station_id']}",
            subject_label=identity,
            since=row["first"],
            summary=f"{identity}: {row['failed']} of {row['total']} sessions failed in {rule.window_hours} h",
            station_id=row["station_id"],
            site_id=row["station__site_id"],
            subject_url=_station_url(identity),
            details={"failed": row["failed"], "total": row["total"], "rate_percent": float(round(rate, 2))},
        )


def work_order_sla(rule: AlertRule, now: datetime, station_ids=None) -> Iterable[Condition]:
    orders = _limit(
        sla.filter_breached(
            WorkOrder.objects.filter(station_scope(rule, "station__"), status__in=OPEN_WORK_ORDER_STATUSES), now
        ).select_related("station"),
        station_ids,
        "station_id",
    )
    for order in orders:
        yield Condition(
            subject_key=f"work_order:{order.pk}",
            subject_label=f"WO-{order.pk}",
            since=order.sla_due_at,
            summary=f"WO-{order.pk} {order.title} is past its SLA",
            station_id=order.station_id,
            site_id=order.station.site_id,
            subject_url=reverse("workorders:detail", args=[order.pk]),
            details={"sla_due_at": order.sla_due_at.isoformat(), "status": order.status, "priority": order.priority},
        )


def uptime_below(rule: AlertRule, now: datetime, station_ids=None) -> Iterable[Condition]:
    """Ports whose uptime over the last `window_days` is under the floor, as stations' uptime
    selector computes it (roll-ups plus live history); uptime is never computed a second way here.

    Until stations ships that selector this kind finds nothing.
    """
    if rule.threshold_percent is None or not rule.window_days:
        return
    try:
        from stations.uptime.selectors import ports_uptime
    except ImportError:
        return
    stations = ChargingStation.objects.filter(station_scope(rule))
    if station_ids is not None:
        stations = stations.filter(pk__in=station_ids)
    in_scope = list(stations.values_list("pk", flat=True))
    if not in_scope:
        return
    start = now - timedelta(days=rule.window_days)
    figures = ports_uptime(start=start, end=now, station_ids=in_scope, now=now)
    low = {
        port: uptime.uptime_percent
        for port, uptime in figures.items()
        if uptime.uptime_percent is not None and Decimal(str(uptime.uptime_percent)) < rule.threshold_percent
    }
    ports = (
        Connector.objects.filter(pk__in=low)
        .select_related("station")
        .only("pk", "connector_id", "station__identity", "station__site_id")
    )
    for port in ports:
        identity, percent = port.station.identity, low[port.pk]
        yield Condition(
            subject_key=f"connector:{port.pk}",
            subject_label=f"{identity} #{port.connector_id}",
            since=start,
            summary=f"{identity} #{port.connector_id} was up {percent:.1f} % over {rule.window_days} days",
            station_id=port.station_id,
            site_id=port.station.site_id,
            subject_url=_station_url(identity),
            details={"uptime_percent": round(percent, 2), "window_days": rule.window_days},
        )


def from_registry(rule: AlertRule, now: datetime, station_ids=None) -> Iterable[Condition]:
    """Conditions another app supplies (support: tickets past their SLA)."""
    in_scope = None
    scope = station_scope(rule)
    if scope:
        in_scope = set(ChargingStation.objects.filter(scope).values_list("pk", flat=True))
    for source in condition_sources(rule.kind):
        for found in source(now=now):
            if in_scope is not None and found.station_id not in in_scope:
                continue
            if station_ids is not None and found.station_id not in station_ids:
                continue
            yield Condition(
                subject_key=found.subject_key,
                subject_label=found.subject_label,
                since=found.since,
                summary=found.summary,
                station_id=found.station_id,
                subject_url=found.subject_url,
                details=dict(found.details),
            )


SOURCES: dict[str, Callable[..., Iterable[Condition]]] = {
    AlertKind.STATION_OFFLINE: station_offline,
    AlertKind.CONNECTOR_FAULTED: connector_faulted,
    AlertKind.ERROR_CODE: error_code,
    AlertKind.FIRMWARE_FAILED: firmware_failed,
    AlertKind.SESSION_FAILURES: session_failures,
    AlertKind.WORK_ORDER_SLA: work_order_sla,
    AlertKind.UPTIME_BELOW: uptime_below,
    AlertKind.TICKET_SLA: from_registry,
}

# Kinds a status event can change, evaluated for its station as soon as it arrives.
STATUS_EVENT_KINDS = (AlertKind.STATION_OFFLINE, AlertKind.CONNECTOR_FAULTED, AlertKind.ERROR_CODE)
