"""How workorders hears about stations: small hooks that enqueue tasks (after commit)."""

from stations.models import ChargingStation
from workorders.models import OPEN_WORK_ORDER_STATUSES, WorkOrder


def status_event(event_id: int) -> None:
    """Runs on the OCPP server's answer path (after commit): enqueue only; the
    worker decides whether the event matters (incidents.status_event_handle)."""
    from . import tasks

    tasks.status_event_received.delay(event_id)


def session_stopped(session_id: int) -> None:
    from . import tasks

    tasks.session_stopped.delay(session_id)


def station_in_technicians_work(user, station: ChargingStation) -> bool:
    """A technician may act on a station while they have an open work order there."""
    return WorkOrder.objects.filter(
        station=station, technician__user=user, status__in=OPEN_WORK_ORDER_STATUSES
    ).exists()
