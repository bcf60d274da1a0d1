"""Usage analytics: utilisation shares, hour-of-day buckets on the site's clock and
all-busy periods, each from a hand-made history with a known answer; the analytics
and site pages, who may see them and their query counts."""

from datetime import UTC, datetime, timedelta

import pytest

from stations import selectors_usage as usage
from stations.models import ChargingSession, StatusEvent
from stations.selectors_usage import UsageState
from tests.factories import ConnectorFactory, SiteFactory, StationFactory

# A Monday, midnight UTC.
START = datetime(2026, 3, 2, tzinfo=UTC)
END = START + timedelta(hours=10)
NOW = START + timedelta(days=30)
HOUR = 3600.0


def at(hours: float) -> datetime:
    return START + timedelta(hours=hours)


def report(connector, hours: float, status: str, error_code: str = "NoError") -> StatusEvent:
    return StatusEvent.objects.create(
        station=connector.station, connector=connector, status=status, error_code=error_code, received_at=at(hours)
    )


@pytest.fixture
def site_history(db):
    """Two ports of one station on one site, over [0 h, 10 h):

    port 1: Available (since before the start) · 2 h Charging · 5 h Finishing · 6 h Available
            · 8 h Faulted · 9.5 h Charging
    port 2: first report at 4 h Preparing · 4.5 h Charging · 7 h Available · 9 h Charging
    Both occupied in [4 h, 6 h) and [9.5 h, 10 h).
    """
    site = SiteFactory(name="Harbour")
    station = StationFactory(identity="HB-1", site=site, vendor="Acme", model="X1")
    whole = ConnectorFactory(station=station, connector_id=0)
    one = ConnectorFactory(station=station, connector_id=1)
    two = ConnectorFactory(station=station, connector_id=2)
    report(one, -30, "Faulted")  # long before: replaced by the next one
    report(one, -1, "Available")
    report(whole, 0, "Faulted")  # the station as a whole: not a port
    report(one, 2, "Charging")
    report(one, 5, "Finishing")
    report(one, 6, "Available")
    report(one, 8, "Faulted", "GroundFailure")
    report(one, 9.5, "Charging")
    report(one, 12, "Available")  # after the period
    report(two, 4, "Preparing")
    report(two, 4.5, "Charging")
    report(two, 7, "Available")
    report(two, 9, "Charging")
    # Another site, never all busy: one of its two ports is charging throughout.
    other = StationFactory(identity="OT-1", site=SiteFactory(name="Other"))
    report(ConnectorFactory(station=other, connector_id=1), -2, "Charging")
    ConnectorFactory(station=other, connector_id=2)
    return site, station, one, two


def test_utilisation_per_port_is_the_share_of_reported_time_in_each_state(site_history):
    site, station, one, two = site_history

    ports = usage.utilisation(start=START, end=END, by="port", station_id=station.pk, now=NOW)

    assert set(ports) == {one.pk, two.pk}
    first = ports[one.pk]
    assert first.covered == pytest.approx(10 * HOUR)
    assert first.seconds[UsageState.AVAILABLE] == pytest.approx(4 * HOUR)
    assert first.seconds[UsageState.CHARGING] == pytest.approx(3.5 * HOUR)
    assert first.seconds[UsageState.OCCUPIED] == pytest.approx(1 * HOUR)
    assert first.seconds[UsageState.DOWN] == pytest.approx(1.5 * HOUR)
    assert first.charging == pytest.approx(0.35)
    # Port 2 counts from its first report: 6 h covered.
    second = ports[two.pk]
    assert second.covered == pytest.approx(6 * HOUR)
    assert second.charging == pytest.approx(3.5 / 6)
    assert second.share(UsageState.OCCUPIED) == pytest.approx(0.5 / 6)
    assert second.available == pytest.approx(2 / 6)
    assert second.down == 0


def test_utilisation_per_station_and_site_sums_their_ports(site_history):
    site, station, one, two = site_history

    by_station = usage.utilisation(start=START, end=END, by="station", now=NOW)
    by_site = usage.utilisation(start=START, end=END, by="site", now=NOW)

    assert by_station[station.pk].seconds[UsageState.CHARGING] == pytest.approx(7 * HOUR)
    assert by_station[station.pk].busy == pytest.approx(8.5 / 16)
    assert by_site[site.pk].down == pytest.approx(1.5 / 16)
    assert by_site[site.pk].covered == pytest.approx(16 * HOUR)


def test_utilisation_stops_at_now(site_history):
    site, station, one, two = site_history

    ports = usage.utilisation(start=START, end=END, by="port", station_id=station.pk, now=at(3))

    assert ports[one.pk].covered == pytest.approx(3 * HOUR)
    assert ports[one.pk].charging == pytest.approx(1 / 3)
    assert two.pk not in ports


def test_all_busy_periods_count_how_often_and_how_long_every_port_of_a_site_was_taken(site_history):
    site, *_ = site_history

    found = usage.all_busy_sites(start=START, end=END, now=NOW)

    assert [entry.site for entry in found] == [site]
    busy = found[0]
    assert busy.ports == 2
    # [4 h, 6 h) is one period although port 1 went from Charging to Finishing inside it.
    assert busy.periods == 2
    assert busy.seconds == pytest.approx(2.5 * HOUR)
    assert busy.longest == pytest.approx(2 * HOUR)
    assert busy.share == pytest.approx(0.25)


def test_network_now_counts_ports_by_what_they_do_and_offline_stations_apart(db):
    station = StationFactory()
    ConnectorFactory(station=station, connector_id=0, status="Faulted")
    ConnectorFactory(station=station, connector_id=1, status="Charging")
    ConnectorFactory(station=station, connector_id=2, status="Faulted")
    silent = StationFactory(offline=True)
    ConnectorFactory(station=silent, connector_id=1, status="Available")

    now = usage.network_now()

    assert (now.ports, now.charging, now.faulted, now.available, now.offline) == (3, 1, 1, 0, 1)
    assert (now.stations, now.stations_offline) == (2, 1)


def session(connector, start: datetime, energy_wh: int) -> ChargingSession:
    return ChargingSession.objects.create(
        station=connector.station,
        connector=connector,
        id_tag="T",
        id_tag_status="Accepted",
        meter_start=0,
        meter_stop=energy_wh,
        energy_wh=energy_wh,
        start_at=start,
        stop_at=start + timedelta(hours=1),
        start_fingerprint=f"{connector.pk}-{start.isoformat()}",
    )


def test_sessions_are_bucketed_by_hour_and_weekday_on_each_sites_clock(db):
    amsterdam = ConnectorFactory(station=StationFactory(site=SiteFactory(time_zone="Europe/Amsterdam")))
    new_york = ConnectorFactory(station=StationFactory(site=SiteFactory(time_zone="America/New_York")))
    nowhere = ConnectorFactory(station=StationFactory(site=SiteFactory(time_zone="Mars/Olympus")))
    # Saturday 23:30 UTC is Sunday 00:30 in Amsterdam (CET, +1).
    session(amsterdam, datetime(2026, 3, 28, 23, 30, tzinfo=UTC), 10_000)
    # After the clocks went forward that night: 01:30 UTC is 03:30 CEST (+2).
    session(amsterdam, datetime(2026, 3, 29, 1, 30, tzinfo=UTC), 5_000)
    # Monday 02:00 UTC is Sunday 22:00 in New York (EDT, -4).
    session(new_york, datetime(2026, 3, 30, 2, 0, tzinfo=UTC), 7_000)
    # A zone that does not exist counts in the portal's (UTC): Monday 02:00.
    session(nowhere, datetime(2026, 3, 30, 2, 0, tzinfo=UTC), 1_000)
    # Outside the period.
    session(amsterdam, datetime(2026, 4, 10, 12, 0, tzinfo=UTC), 99_000)

    found = usage.usage_by_time(start=datetime(2026, 3, 28, tzinfo=UTC), end=datetime(2026, 4, 1, tzinfo=UTC))

    assert {key: (cell.sessions, cell.energy_wh) for key, cell in found.cells.items()} == {
        (7, 0): (1, 10_000),
        (7, 3): (1, 5_000),
        (7, 22): (1, 7_000),
        (1, 2): (1, 1_000),
    }
    hours = found.by_hour()
    assert [hours[h].sessions for h in (0, 2, 3, 22)] == [1, 1, 1, 1]
    assert found.by_weekday()[6].energy_wh == 22_000
    assert found.total_sessions == 4


# -- Daily roll-ups: the same figures as the history, for any day recomputed -------------------

DAY = {"start": START, "end": START + timedelta(days=1)}


def figures(station):
    """What the pages show for the day of `site_history`, as plain numbers."""
    ports = usage.utilisation(**DAY, by="port", station_id=station.pk, now=NOW)
    sites = usage.utilisation(**DAY, by="site", now=NOW)
    network = usage.network_utilisation(**DAY, now=NOW)
    busy = usage.all_busy_sites(**DAY, now=NOW)
    by_time = usage.usage_by_time(**DAY)
    by_hour = usage.utilisation_by_hour(**DAY, now=NOW)
    return (
        {port: {s: round(v) for s, v in u.seconds.items()} for port, u in ports.items()},
        {site: round(u.covered) for site, u in sites.items()},
        {s: round(v) for s, v in network.seconds.items()},
        [(b.site.name, b.ports, b.periods, round(b.seconds), round(b.longest)) for b in busy],
        {key: (cell.sessions, cell.energy_wh) for key, cell in by_time.cells.items()},
        [{s: round(v) for s, v in u.seconds.items() if round(v)} for u in by_hour],
    )


def test_a_rolled_up_day_gives_the_figures_of_its_history(site_history):
    from stations.uptime import rollup

    site, station, one, two = site_history
    session(one, at(2), 20_000)
    session(two, at(9), 7_000)
    live = figures(station)

    rollup.uptime_rollup_days(first=START.date(), last=START.date(), now=NOW)
    rolled = figures(station)

    assert rolled == live
    ports, _, _, busy, by_time, by_hour = rolled
    # Port 1: Available until 2 h, Charging 2–5 h and 9.5–12 h, Finishing 5–6 h, Faulted 8–9.5 h.
    assert ports[one.pk] == {"available": 16 * 3600, "charging": 5.5 * 3600, "occupied": 3600, "down": 1.5 * 3600}
    # Port 2 from its first report at 4 h: Preparing, Charging 4.5–7 h and from 9 h on.
    assert ports[two.pk] == {"occupied": 1800, "charging": 17.5 * 3600, "available": 2 * 3600}
    # Both taken 4–6 h and 9.5–12 h.
    assert busy == [("Harbour", 2, 2, 4.5 * 3600, 2.5 * 3600)]
    assert by_time == {(1, 3): (1, 20_000), (1, 10): (1, 7_000)}  # Amsterdam's clock, an hour ahead
    # 03:00 in Amsterdam: port 1 and the other site's port charging, port 2 not there yet.
    assert by_hour[3] == {"charging": 2 * 3600}
    # 05:00 there: both charging, and port 2 Preparing for its first half hour.
    assert by_hour[5] == {"charging": 2.5 * 3600, "occupied": 1800}


def test_today_is_read_from_its_roll_up_so_far_and_the_history_since(site_history):
    from stations.uptime import rollup

    site, station, one, two = site_history
    now = at(7.5)
    expected = usage.utilisation(start=START, end=now, by="port", station_id=station.pk, now=now)

    rollup.uptime_rollup_today(now=at(5.5))  # the beat's last run, two hours ago
    found = usage.utilisation(start=START, end=now, by="port", station_id=station.pk, now=now)

    def rounded(by_port):
        return {port: {s: round(v) for s, v in u.seconds.items() if round(v)} for port, u in by_port.items()}

    assert rounded(found) == rounded(expected)
    busy = usage.all_busy_sites(start=START, end=now, now=now)
    # One period, 4–6 h, across the roll-up's end at 5.5 h: counted once, at its whole length.
    assert [(b.periods, b.seconds, b.longest) for b in busy] == [(1, 2 * HOUR, 2 * HOUR)]


def test_an_all_busy_period_across_midnight_counts_once_over_rolled_up_days(db):
    from stations.uptime import rollup

    station = StationFactory(site=SiteFactory(name="Night"))
    ports = [ConnectorFactory(station=station, connector_id=n) for n in (1, 2)]
    for port in ports:
        report(port, 22, "Charging")
        report(port, 26, "Available")
    report(ports[0], 40, "Charging")  # then a whole day taken from 40 h to 72 h+ by both
    report(ports[1], 41, "Charging")
    report(ports[0], 75, "Available")
    period = {"start": START, "end": START + timedelta(days=4), "now": NOW}

    def found():
        return [(b.periods, round(b.seconds), round(b.longest)) for b in usage.all_busy_sites(**period)]

    live = found()
    rollup.uptime_rollup_days(first=START.date(), last=(START + timedelta(days=3)).date(), now=NOW)

    assert found() == live
    assert live == [(2, (4 + 34) * HOUR, 34 * HOUR)]
