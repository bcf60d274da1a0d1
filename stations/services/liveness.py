"""Connection state, last-seen times and offline detection."""

from collections import defaultdict
from datetime import datetime, timedelta

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from stations.models import (
    ChargePointErrorCode,
    ChargingStation,
    Connector,
    ConnectorStatus,
    StatusEvent,
    StatusEventSource,
)

from . import events as status_events
from . import live


def station_connected(
    *, station_id: int, connection_id: str, now: datetime | None = None, was_offline: bool = True
) -> None:
    """The newest connection takes the station over, whatever came before it.

    `was_offline` False (read at the handshake) spares the check for an outage to end.
    """
    now = now or timezone.now()
    with transaction.atomic():
        ChargingStation.objects.filter(pk=station_id).update(
            connected=True, connection_id=connection_id, connected_at=now, last_message_at=now
        )
        if was_offline:
            stations_back_online(station_ids=[station_id], now=now)
        live.station_changed(station_id)


def station_disconnected(*, station_id: int, connection_id: str, now: datetime | None = None) -> bool:
    """Mark the station disconnected unless a newer connection already replaced this one."""
    now = now or timezone.now()
    with transaction.atomic():
        changed = ChargingStation.objects.filter(pk=station_id, connection_id=connection_id).update(
            connected=False, disconnected_at=now
        )
        if changed:
            live.station_changed(station_id)
    return bool(changed)


def stations_seen(*, station_ids: list[int], now: datetime | None = None) -> None:
    """Record that these stations spoke; written in batches by the OCPP server."""
    if not station_ids:
        return
    now = now or timezone.now()
    with transaction.atomic():
        ChargingStation.objects.filter(pk__in=station_ids).update(last_message_at=now)
        stations_back_online(station_ids=station_ids, now=now)


def stations_back_online(*, station_ids: list[int], now: datetime) -> list[int]:
    """End the outage of stations that were marked offline and spoke again.

    Each connector gets a status event restoring its last reported status, so
    uptime sees where the outage ended.
    """
    back = list(ChargingStation.objects.filter(pk__in=station_ids, offline=True).values_list("pk", flat=True))
    if not back:
        return []
    # Compare-and-swap: only the caller that flips the flag records the events.
    flipped = []
    for station_id in back:
        if ChargingStation.objects.filter(pk=station_id, offline=True).update(offline=False):
            flipped.append(station_id)
    _record_station_wide(flipped, source=StatusEventSource.RECONNECT, now=now, status=None)
    for station_id in flipped:
        live.station_changed(station_id)
    return flipped


def offline_threshold(heartbeat_interval: int) -> timedelta:
    return timedelta(seconds=heartbeat_interval * settings.OCPP_OFFLINE_AFTER_INTERVALS)


def stations_mark_silent_offline(*, now: datetime | None = None) -> list[int]:
    """Mark offline every station silent for longer than its threshold."""
    now = now or timezone.now()
    marked: list[int] = []
    intervals = (
        ChargingStation.objects.filter(offline=False, last_message_at__isnull=False)
        .values_list("heartbeat_interval", flat=True)
        .distinct()
    )
    for interval in list(intervals):
        silent = ChargingStation.objects.filter(
            offline=False,
            heartbeat_interval=interval,
            last_message_at__lt=now - offline_threshold(interval),
        ).values_list("pk", flat=True)
        for station_id in list(silent):
            with transaction.atomic():
                # A socket whose server process died left `connected` behind; silence ends it too.
                if not ChargingStation.objects.filter(pk=station_id, offline=False).update(
                    offline=True, connected=False
                ):
                    continue
                _record_station_wide(
                    [station_id], source=StatusEventSource.OFFLINE_SWEEP, now=now, status=ConnectorStatus.OFFLINE
                )
                live.station_changed(station_id)
            marked.append(station_id)
    return marked


def _record_station_wide(station_ids: list[int], *, source: str, now: datetime, status: str | None) -> None:
    """Append a status event to every connector of these stations.

    With `status` None each connector's last reported status is repeated.
    """
    if not station_ids:
        return
    connectors = Connector.objects.filter(station_id__in=station_ids)
    by_station: dict[int, list[Connector]] = defaultdict(list)
    for connector in connectors:
        by_station[connector.station_id].append(connector)
    events = [
        StatusEvent(
            station_id=connector.station_id,
            connector=connector,
            status=status or connector.status,
            error_code=ChargePointErrorCode.NO_ERROR if status else connector.error_code,
            vendor_error_code="" if status else connector.vendor_error_code,
            source=source,
            received_at=now,
        )
        for station_id in station_ids
        for connector in by_station[station_id]
    ]
    created = StatusEvent.objects.bulk_create(events)
    for event in created:
        status_events.status_event_recorded(event.pk)
