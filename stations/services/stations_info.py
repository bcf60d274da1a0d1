"""Firmware and diagnostics progress a station reports."""

from datetime import datetime

from django.utils import timezone

from stations.models import ChargingStation

from . import live


def firmware_status_record(*, station_id: int, status: str, now: datetime | None = None) -> None:
    ChargingStation.objects.filter(pk=station_id).update(
        firmware_status=status, firmware_status_at=now or timezone.now()
    )
    live.station_changed(station_id)


def diagnostics_status_record(*, station_id: int, status: str, now: datetime | None = None) -> None:
    ChargingStation.objects.filter(pk=station_id).update(
        diagnostics_status=status, diagnostics_status_at=now or timezone.now()
    )
    live.station_changed(station_id)
