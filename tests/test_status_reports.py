"""StatusNotification reports: what becomes the connector's current state, and since when."""

from datetime import UTC, datetime, timedelta

import pytest

from stations.models import Connector, StatusEvent
from stations.services.status import connector_status_report
from tests.factories import StationFactory

T0 = datetime(2026, 11, 30, 8, 0, tzinfo=UTC)


def report(station, status, at, error_code="NoError", **extra):
    return connector_status_report(
        station_id=station.pk, connector_id=1, status=status, error_code=error_code, timestamp=at,
        now=at + timedelta(seconds=1), **extra,
    )  # fmt: skip


@pytest.mark.django_db
def test_a_repeated_fault_keeps_the_time_the_fault_began():
    station = StationFactory()
    report(station, "Faulted", T0, error_code="GroundFailure")
    report(station, "Faulted", T0 + timedelta(minutes=30), error_code="GroundFailure", info="still")

    connector = Connector.objects.get(station=station, connector_id=1)
    assert connector.status_since == T0
    assert connector.info == "still"
    assert StatusEvent.objects.filter(connector=connector).count() == 2


@pytest.mark.django_db
def test_another_state_moves_the_since_time():
    station = StationFactory()
    report(station, "Faulted", T0, error_code="GroundFailure")
    report(station, "Faulted", T0 + timedelta(minutes=5), error_code="HighTemperature")
    report(station, "Available", T0 + timedelta(minutes=9))

    connector = Connector.objects.get(station=station, connector_id=1)
    assert (connector.status, connector.status_since) == ("Available", T0 + timedelta(minutes=9))


@pytest.mark.django_db
def test_a_late_report_goes_to_history_only():
    station = StationFactory()
    report(station, "Available", T0 + timedelta(minutes=10))
    report(station, "Charging", T0)

    connector = Connector.objects.get(station=station, connector_id=1)
    assert connector.status == "Available"
    assert StatusEvent.objects.filter(connector=connector, status="Charging").exists()
