"""Readings that cannot be a session's energy are flagged before anything is billed."""

from datetime import UTC, datetime, timedelta

import pytest

from stations.models import MeterFlag
from stations.services.charging import meter_values_record, session_start, session_stop
from tests.factories import StationFactory

START = datetime(2026, 11, 30, 8, 0, tzinfo=UTC)
NOW = START + timedelta(days=1)


def charged(*, meter_start: int, readings: list[tuple[int, int]], meter_stop: int, minutes: int):
    station = StationFactory()
    session = session_start(
        station_id=station.pk, connector_id=1, id_tag="T", meter_start=meter_start, timestamp=START, now=NOW
    ).session
    for minute, wh in readings:
        meter_values_record(
            station_id=station.pk,
            connector_id=1,
            transaction_id=session.pk,
            meter_value=[
                {"timestamp": (START + timedelta(minutes=minute)).isoformat(), "sampledValue": [{"value": str(wh)}]}
            ],
            now=NOW,
        )
    return session_stop(
        station_id=station.pk,
        transaction_id=session.pk,
        meter_stop=meter_stop,
        timestamp=START + timedelta(minutes=minutes),
        now=NOW,
    ).session


@pytest.mark.django_db
def test_a_lifetime_total_taken_for_the_start_is_flagged_and_not_billed():
    # 910 kWh in five minutes: the charger reported its lifetime register as a reading.
    session = charged(meter_start=0, readings=[(1, 910_000)], meter_stop=910_083, minutes=5)
    assert MeterFlag.ENERGY_BEYOND_POWER in session.meter_flags
    assert session.energy_wh is None


@pytest.mark.django_db
def test_fast_charging_within_what_chargers_deliver_is_not_flagged():
    # 350 kW for 20 minutes is about 117 kWh: a real ultra-fast session.
    session = charged(meter_start=5_000, readings=[(10, 63_000), (20, 121_000)], meter_stop=121_500, minutes=21)
    assert session.meter_flags == []
    assert session.energy_wh == 116_500
