"""EV-ChART export: the three files' columns and values on a hand-made quarter."""

import csv
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
from django.core.management import CommandError, call_command

from stations.models import ChargingSession, ExclusionReason, MeterSample, StatusEvent
from stations.uptime import evchart, exclusions
from tests.factories import ConnectorFactory, SiteFactory, StationFactory

pytestmark = pytest.mark.django_db


def read(path):
    with open(path, newline="", encoding="utf-8") as handle:
        reader = csv.reader(handle)
        header = next(reader)
        return header, [dict(zip(header, row, strict=True)) for row in reader]


@pytest.fixture
def quarter(actors):
    site = SiteFactory(name="Harbour", time_zone="Europe/Amsterdam")
    station = StationFactory(identity="EV-1", site=site)
    port = ConnectorFactory(station=station, connector_id=1)
    events = [
        (datetime(2026, 6, 1, tzinfo=UTC), "Available"),
        (datetime(2026, 8, 10, 10, tzinfo=UTC), "Faulted"),
        (datetime(2026, 8, 10, 12, tzinfo=UTC), "Available"),
    ]
    for when, value in events:
        StatusEvent.objects.create(station=station, connector=port, status=value, received_at=when)
    exclusions.uptime_exclusion_record(
        reason=ExclusionReason.UTILITY_POWER_LOSS, starts_at=datetime(2026, 8, 10, 11, tzinfo=UTC),
        ends_at=datetime(2026, 8, 10, 13, tzinfo=UTC), station=station, by=actors.operator, notes="storm",
    )  # fmt: skip
    good = ChargingSession.objects.create(
        station=station, connector=port, id_tag="T", id_tag_status="Accepted", meter_start=0, meter_stop=12345,
        energy_wh=12345, start_at=datetime(2026, 8, 1, 8, tzinfo=UTC), stop_at=datetime(2026, 8, 1, 8, 45, tzinfo=UTC),
        stop_reason="Local", start_fingerprint="a",
    )  # fmt: skip
    for watts, minute in ((Decimal("50000"), 5), (Decimal("62500.4"), 10)):
        MeterSample.objects.create(
            station=station, connector=port, session=good, timestamp=good.start_at + timedelta(minutes=minute),
            measurand="Power.Active.Import", unit="W", value=str(watts), numeric_value=watts,
        )  # fmt: skip
    ChargingSession.objects.create(
        station=station, connector=port, id_tag="T", id_tag_status="Accepted", meter_start=0, meter_stop=0,
        energy_wh=0, start_at=datetime(2026, 9, 2, 8, tzinfo=UTC), stop_at=datetime(2026, 9, 2, 8, 1, tzinfo=UTC),
        stop_reason="EmergencyStop", start_fingerprint="b",
    )  # fmt: skip
    return good


def test_the_three_modules_have_exactly_evcharts_columns_and_the_quarters_values(quarter, tmp_path):
    call_command("evchart_export", "--quarter", "2026Q3", "--out", str(tmp_path))

    header, sessions = read(tmp_path / "evchart_2026Q3_module2_sessions.csv")
    assert header == evchart.SESSION_COLUMNS == [
        "station_id", "port_id", "charger_id", "connector_id", "session_id", "session_start", "session_end",
        "session_error", "error_other", "energy_kwh", "power_kw", "payment_method", "payment_other",
    ]  # fmt: skip
    assert sessions[0] == {
        "station_id": "Harbour", "port_id": "EV-1-1", "charger_id": "EV-1", "connector_id": "1",
        "session_id": str(quarter.pk), "session_start": "2026-08-01T10:00:00+02:00",
        "session_end": "2026-08-01T10:45:00+02:00", "session_error": "", "error_other": "",
        "energy_kwh": "12.35", "power_kw": "62.50", "payment_method": "", "payment_other": "",
    }  # fmt: skip
    assert (sessions[1]["session_error"], sessions[1]["error_other"], sessions[1]["energy_kwh"]) == (
        "stopped with an error", "EmergencyStop", "0.00",
    )  # fmt: skip

    header, uptime = read(tmp_path / "evchart_2026Q3_module3_uptime.csv")
    assert header == [
        "station_id", "port_id", "uptime_reporting_start", "uptime_reporting_end", "uptime", "total_outage",
        "total_outage_excl",
    ]  # fmt: skip
    # 92 days = 132,480 minutes; 120 down, 60 of them excluded.
    assert uptime == [
        {
            "station_id": "Harbour", "port_id": "EV-1-1", "uptime_reporting_start": "2026-07-01T00:00:00+00:00",
            "uptime_reporting_end": "2026-10-01T00:00:00+00:00", "uptime": "99.95", "total_outage": "120.00",
            "total_outage_excl": "60.00",
        }
    ]  # fmt: skip

    header, outages = read(tmp_path / "evchart_2026Q3_module4_outages.csv")
    assert header == [
        "station_id", "port_id", "outage_id", "outage_duration", "excluded_outage", "excluded_outage_reason",
        "excluded_outage_notes",
    ]  # fmt: skip
    assert [(o["outage_duration"], o["excluded_outage"], o["excluded_outage_reason"], o["excluded_outage_notes"])
            for o in outages] == [("60.00", "0.00", "", ""),
                                  ("60.00", "60.00", "electric utility service disruption", "storm")]  # fmt: skip
    assert outages[0]["outage_id"] == "EV-1-1-20260810T100000Z"


def test_a_malformed_quarter_is_refused(tmp_path):
    with pytest.raises(CommandError, match="2026Q4"):
        call_command("evchart_export", "--quarter", "2026Q5", "--out", str(tmp_path))
