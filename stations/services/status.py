"""StatusNotification: connector state and the append-only status history."""

from datetime import datetime

from django.db import transaction
from django.utils import timezone

from stations.models import Connector, StatusEvent, StatusEventSource

from . import clock, events, live


def connector_status_report(
    *,
    station_id: int,
    connector_id: int,
    status: str,
    error_code: str,
    info: str = "",
    vendor_id: str = "",
    vendor_error_code: str = "",
    timestamp: datetime | None = None,
    now: datetime | None = None,
) -> StatusEvent | None:
    """Record a status report; returns the new event, or None for a retried report.

    A report older than the connector's current status (delivered late after
    the charger was offline) goes into the history but does not overwrite
    the current status. A report whose time cannot be trusted (see
    services/clock.py) counts from its arrival.
    """
    now = now or timezone.now()
    with transaction.atomic():
        connector, _ = Connector.objects.select_for_update().get_or_create(
            station_id=station_id, connector_id=connector_id
        )
        fields = {
            "status": status,
            "error_code": error_code,
            "vendor_error_code": vendor_error_code,
            "vendor_id": vendor_id,
            "info": info,
        }
        if (
            timestamp is not None
            and connector.status_since == timestamp
            and all(getattr(connector, name) == value for name, value in fields.items())
        ):
            return None
        event = StatusEvent.objects.create(
            station_id=station_id,
            connector=connector,
            source=StatusEventSource.CHARGER,
            charger_timestamp=timestamp,
            received_at=now,
            **fields,
        )
        events.status_event_recorded(event.pk)
        trusted = timestamp is None or clock.charger_time_trusted(timestamp, now)
        if not trusted:
            clock.station_clock_skew_record(station_id=station_id, now=now)
        effective = timestamp if timestamp is not None and trusted else now
        if (
            connector.status_since is None
            or not connector.status_clock_trusted
            or not trusted
            or effective >= connector.status_since
        ):
            # "Faulted since" is when the fault began: a re-report of the same state
            # (chargers repeat them) updates the details but not the start.
            same_state = connector.status_since is not None and all(
                getattr(connector, name) == fields[name] for name in ("status", "error_code", "vendor_error_code")
            )
            for name, value in fields.items():
                setattr(connector, name, value)
            if not same_state:
                connector.status_since = effective
                connector.status_clock_trusted = trusted
            connector.save(update_fields=[*fields, "status_since", "status_clock_trusted"])
            live.station_changed(station_id)
    return event
