"""Chargers' clocks: which of their timestamps can be trusted.

A charger that lost its clock reports times far in the future (or back in
1970). Its reports are kept as sent, the station is flagged, and their order
is taken from when they arrived instead.
"""

from datetime import UTC, datetime, timedelta

from django.conf import settings

from stations.models import ChargingStation

# Before public fast charging had OCPP; an earlier time means a clock that was reset.
EARLIEST_PLAUSIBLE = datetime(2010, 1, 1, tzinfo=UTC)


def from_future(timestamp: datetime, now: datetime) -> bool:
    return timestamp > now + timedelta(seconds=settings.OCPP_CLOCK_SKEW_TOLERANCE_S)


def charger_time_trusted(timestamp: datetime, now: datetime) -> bool:
    return EARLIEST_PLAUSIBLE <= timestamp and not from_future(timestamp, now)


def station_clock_skew_record(*, station_id: int, now: datetime) -> None:
    ChargingStation.objects.filter(pk=station_id).update(clock_skew_at=now)
