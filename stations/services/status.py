"""StatusNotification: connector state and the append-only status history."""

from datetime import datetime

from django.db import transaction
from django.utils import timezone

from stations.models import Connector, StatusEvent, StatusEventSource

from . import clock, events, live
from .charger_memo import ChargerMemo, ConnectorMemo

_STATUS_FIELDS = ("status", "error_code", "vendor_error_code", "vendor_id", "info")
# What makes a report a change of state; the rest are details of the same state.
_STATE_FIELDS = ("status", "error_code", "vendor_error_code")


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
    memo: ChargerMemo | None = None,
) -> StatusEvent | None:
    """Record a status report; returns the new event, or None for a retried report.

    A report older than the connector's current status (delivered late after
    the charger was offline) goes into the history but does not overwrite
    the current status. A report whose time cannot be trusted (see
    services/clock.py) counts from its arrival.

    With the connection's memo the connector's current state is known and a
    report costs its two writes; without, the row is read and locked first.
    """
    now = now or timezone.now()
    memo = memo if memo is not None else ChargerMemo()
    fields = {
        "status": status,
        "error_code": error_code,
        "vendor_error_code": vendor_error_code,
        "vendor_id": vendor_id,
        "info": info,
    }
    with transaction.atomic():
        current = memo.connectors.get(connector_id)
        if current is None or not current.status_known:
            current = _connector_locked(station_id, connector_id, memo)
        if (
            timestamp is not None
            and current.status_since == timestamp
            and all(getattr(current, name) == value for name, value in fields.items())
        ):
            return None
        event = StatusEvent.objects.create(
            station_id=station_id,
            connector_id=current.pk,
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
            current.status_since is None
            or not current.status_clock_trusted
            or not trusted
            or effective >= current.status_since
        ):
            # "Faulted since" is when the fault began: a re-report of the same state
            # (chargers repeat them) updates the details but not the start.
            same_state = current.status_since is not None and all(
                getattr(current, name) == fields[name] for name in _STATE_FIELDS
            )
            since = current.status_since if same_state else effective
            clock_trusted = current.status_clock_trusted if same_state else trusted
            Connector.objects.filter(pk=current.pk).update(
                **fields, status_since=since, status_clock_trusted=clock_trusted
            )
            live.station_changed(station_id)
            # The memo follows the row only once the row is committed.
            transaction.on_commit(lambda: _remember(current, fields, since=since, clock_trusted=clock_trusted))
    return event


def _connector_locked(station_id: int, connector_id: int, memo: ChargerMemo) -> ConnectorMemo:
    connector, _ = Connector.objects.select_for_update().get_or_create(station_id=station_id, connector_id=connector_id)
    current = memo.connector_remember(connector_id, connector.pk)
    _remember(
        current,
        {name: getattr(connector, name) for name in _STATUS_FIELDS},
        since=connector.status_since,
        clock_trusted=connector.status_clock_trusted,
    )
    return current


def _remember(current: ConnectorMemo, fields: dict, *, since: datetime | None, clock_trusted: bool) -> None:
    for name, value in fields.items():
        setattr(current, name, value)
    current.status_since = since
    current.status_clock_trusted = clock_trusted
    current.status_known = True
