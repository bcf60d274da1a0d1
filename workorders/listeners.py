"""How workorders hears about stations: small hooks that enqueue tasks (after commit)."""

from stations.models import ChargingStation, StatusEvent, StatusEventSource
from workorders.models import OPEN_WORK_ORDER_STATUSES, Incident, IncidentStatus, WorkOrder


def status_event(event_id: int) -> None:
    from . import tasks

    # Only faults, outages and recoveries of connectors with an open incident
    # need a worker; the many ordinary status changes do not.
    event = StatusEvent.objects.only("status", "error_code", "source", "connector_id", "station_id").get(pk=event_id)
    fault = event.status in ("Faulted", "Offline") or event.error_code != "NoError"
    if fault or event.source == StatusEventSource.RECONNECT or _has_open_incident(event):
        tasks.status_event_received.delay(event_id)


def _has_open_incident(event: StatusEvent) -> bool:
    return Incident.objects.filter(station_id=event.station_id).exclude(status=IncidentStatus.CLOSED).exists()


def session_stopped(session_id: int) -> None:
    from . import tasks

    tasks.session_stopped.delay(session_id)


def station_in_technicians_work(user, station: ChargingStation) -> bool:
    """A technician may act on a station while they have an open work order there."""
    return WorkOrder.objects.filter(
        station=station, technician__user=user, status__in=OPEN_WORK_ORDER_STATUSES
    ).exists()
