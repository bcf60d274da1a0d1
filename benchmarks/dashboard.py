"""Server time of the operations dashboard and the analytics pages on a large network.

    .venv/bin/python benchmarks/dashboard.py                      # fresh SQLite, 2,000 stations
    .venv/bin/python benchmarks/dashboard.py --db postgres        # PostgreSQL (--pg-url)

One run:

1. prepares a database through harness.Environment (`--db env|sqlite|postgres`), migrates;
2. writes a network: `--stations` stations of two ports on `--stations / 10` sites in five
   time zones, `--days` days of status history per port (`--sessions-per-day` sessions a day,
   each Preparing, Charging, SuspendedEV, Finishing, Available; a fault now and then, some
   stations offline for a few hours), the sessions with their energy, fault incidents and open
   work orders; prints how long that took and how many rows it made;
3. rolls up uptime and usage for every day before today, as the nightly task leaves them, then
   today as far as now, as the 5-minute beat entry leaves it, and prints the time of each;
4. requests each page `--requests` times as an operator through Django's test client (the
   whole view: middleware, selectors, templates; no network) after one request to warm up,
   and prints the median, fastest and slowest server time and the queries of each page. No
   page caches anything: every request reads the roll-ups and the history since the last one.
"""

from __future__ import annotations

import argparse
import random
import statistics
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import harness  # noqa: E402

ZONES = ["Europe/Amsterdam", "Europe/London", "America/New_York", "America/Los_Angeles", "Asia/Tokyo"]
BATCH = 5000


def parse_args():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--stations", type=int, default=2000)
    parser.add_argument("--days", type=int, default=30)
    parser.add_argument("--sessions-per-day", type=float, default=2.0, help="per port")
    parser.add_argument("--requests", type=int, default=7, help="timed requests per page")
    parser.add_argument("--db", default="env", choices=["env", "sqlite", "postgres"])
    parser.add_argument("--pg-url", default="postgres://postgres@127.0.0.1:5432/evops_dashbench")
    parser.add_argument("--redis", default="env")
    parser.add_argument("--seed", type=int, default=11)
    parser.add_argument("--keep", action="store_true", help="keep the run's database")
    parser.add_argument(
        "--reuse",
        action="store_true",
        help="time the network already in the database (--db env with DATABASE_URL, say one kept with "
        "--keep, or a copy of it): migrate, roll up and time, write no network",
    )
    parser.add_argument("--profile", action="store_true", help="print where one request of each page spends its time")
    return parser.parse_args()


def build_network(args, now: datetime) -> dict[str, int]:
    from django.db import transaction

    from stations.models import ChargingSession, ChargingStation, Connector, Site, StatusEvent
    from workorders.models import Incident, IncidentKind, WorkOrder, WorkOrderKind, WorkOrderStatus

    rng = random.Random(args.seed)
    start = now - timedelta(days=args.days)
    sites = Site.objects.bulk_create(
        Site(name=f"Bench site {n:04d}", time_zone=ZONES[n % len(ZONES)]) for n in range(max(1, args.stations // 10))
    )
    models = [("Acme", "X1"), ("Acme", "X2"), ("Volt", "Fast50"), ("Volt", "Duo22")]
    stations = ChargingStation.objects.bulk_create(
        (
            ChargingStation(
                identity=f"BENCH-{n:06d}",
                site=sites[n % len(sites)],
                vendor=models[n % len(models)][0],
                model=models[n % len(models)][1],
                connected=True,
                last_message_at=now,
            )
            for n in range(args.stations)
        ),
        batch_size=BATCH,
    )
    connectors = Connector.objects.bulk_create(
        (Connector(station=s, connector_id=c, status="Available") for s in stations for c in (1, 2)),
        batch_size=BATCH,
    )
    events: list[StatusEvent] = []
    sessions: list[ChargingSession] = []
    counts = {"sites": len(sites), "stations": len(stations), "ports": len(connectors), "events": 0, "sessions": 0}

    def flush(final: bool = False):
        if len(events) >= BATCH or (final and events):
            StatusEvent.objects.bulk_create(events, batch_size=BATCH)
            counts["events"] += len(events)
            events.clear()
        if len(sessions) >= BATCH or (final and sessions):
            ChargingSession.objects.bulk_create(sessions, batch_size=BATCH)
            counts["sessions"] += len(sessions)
            sessions.clear()

    with transaction.atomic():
        for connector in connectors:
            t = start
            status = "Available"
            events.append(
                StatusEvent(station_id=connector.station_id, connector=connector, status=status, received_at=t)
            )
            n = 0
            while True:
                # Time until the next car: the day's sessions spread with a daytime bias.
                t += timedelta(hours=rng.expovariate(args.sessions_per_day / 24))
                if t >= now - timedelta(hours=3):
                    break
                if rng.random() < 0.02:
                    fault_for = timedelta(minutes=rng.randint(10, 600))
                    code = rng.choice(["GroundFailure", "InternalError", "OverCurrentFailure", "OtherError"])
                    events.append(
                        StatusEvent(
                            station_id=connector.station_id,
                            connector=connector,
                            status="Faulted",
                            error_code=code,
                            received_at=t,
                        )
                    )
                    t += fault_for
                    events.append(
                        StatusEvent(
                            station_id=connector.station_id, connector=connector, status="Available", received_at=t
                        )
                    )
                    continue
                charge = timedelta(minutes=rng.randint(20, 180))
                steps = [
                    ("Preparing", timedelta(0)),
                    ("Charging", timedelta(minutes=2)),
                    ("SuspendedEV", timedelta(minutes=2) + charge),
                    ("Finishing", timedelta(minutes=2) + charge + timedelta(minutes=rng.randint(0, 40))),
                    ("Available", timedelta(minutes=4) + charge + timedelta(minutes=rng.randint(40, 60))),
                ]
                for name, offset in steps:
                    events.append(
                        StatusEvent(
                            station_id=connector.station_id, connector=connector, status=name, received_at=t + offset
                        )
                    )
                energy = int(charge.total_seconds() / 3600 * rng.uniform(6_000, 40_000))
                sessions.append(
                    ChargingSession(
                        station_id=connector.station_id,
                        connector=connector,
                        id_tag="BENCH",
                        id_tag_status="Accepted",
                        meter_start=0,
                        meter_stop=energy,
                        energy_wh=energy,
                        start_at=t + timedelta(minutes=2),
                        stop_at=t + timedelta(minutes=2) + charge,
                        start_fingerprint=f"{connector.pk}-{n}",
                    )
                )
                n += 1
                t += steps[-1][1]
                flush()
        flush(final=True)
        # Some ports charging now, some faulted now.
        for connector in connectors[::7]:
            events.append(
                StatusEvent(
                    station_id=connector.station_id,
                    connector=connector,
                    status="Charging",
                    received_at=now - timedelta(minutes=30),
                )
            )
        faulted = connectors[3::97]
        for connector in faulted:
            events.append(
                StatusEvent(
                    station_id=connector.station_id,
                    connector=connector,
                    status="Faulted",
                    error_code="GroundFailure",
                    received_at=now - timedelta(hours=2),
                )
            )
        flush(final=True)
        Connector.objects.filter(pk__in=[c.pk for c in connectors[::7]]).update(status="Charging")
        Connector.objects.filter(pk__in=[c.pk for c in faulted]).update(status="Faulted", error_code="GroundFailure")
        incidents = Incident.objects.bulk_create(
            Incident(
                station_id=c.station_id,
                connector=c,
                kind=IncidentKind.FAULT,
                error_code="GroundFailure",
                opened_at=now - timedelta(hours=2),
            )
            for c in faulted
        )
        WorkOrder.objects.bulk_create(
            WorkOrder(
                kind=WorkOrderKind.CORRECTIVE,
                station_id=i.station_id,
                connector=i.connector,
                incident=i,
                title="Replace the RCD",
                status=WorkOrderStatus.NEW,
                sla_due_at=now + timedelta(hours=rng.randint(-5, 20)),
            )
            for i in incidents
        )
        counts["incidents"] = len(incidents)
    return counts


def existing_network() -> dict[str, int]:
    from stations.models import ChargingSession, ChargingStation, Connector, Site, StatusEvent

    return {
        "sites": Site.objects.count(),
        "stations": ChargingStation.objects.count(),
        "ports": Connector.objects.filter(connector_id__gt=0).count(),
        "events": StatusEvent.objects.count(),
        "sessions": ChargingSession.objects.count(),
    }


def time_pages(pages: list[tuple[str, str]], requests: int, profile: bool = False) -> list[tuple]:
    from django.contrib.auth import get_user_model
    from django.contrib.auth.models import Group
    from django.db import connection
    from django.test import Client

    from config import roles

    roles.ensure_roles()
    user, _ = get_user_model().objects.get_or_create(username="bench-operator")
    user.groups.add(Group.objects.get(name=roles.OPERATOR))
    client = Client()
    client.force_login(user)
    rows = []
    for label, url in pages:
        queries: list[str] = []

        def count(execute, sql, params, many, context, queries=queries):
            queries.append(sql)
            return execute(sql, params, many, context)

        # Counted by a wrapper: the request's start empties Django's own query log.
        with connection.execute_wrapper(count):
            response = client.get(url)  # warm-up
        if response.status_code != 200:
            raise SystemExit(f"{url} answered {response.status_code}")
        if profile:
            import cProfile
            import pstats

            profiler = cProfile.Profile()
            profiler.runcall(client.get, url)
            print(f"--- {label}")
            pstats.Stats(profiler).sort_stats("cumulative").print_stats(
                r"(stations|config|workorders)/(?!.*templatetags/portal)", 18
            )
        times = []
        for _ in range(requests):
            began = time.perf_counter()
            client.get(url)
            times.append((time.perf_counter() - began) * 1000)
        # The queries of a request as the timed ones ran.
        queries.clear()
        with connection.execute_wrapper(count):
            client.get(url)
        rows.append((label, url, statistics.median(times), min(times), max(times), len(queries)))
        harness.log(f"{label}: median {statistics.median(times):.0f} ms")
    return rows


def main():
    args = parse_args()
    with harness.Environment("dashbench", db=args.db, pg_url=args.pg_url, redis=args.redis, keep=args.keep) as env:
        harness.log(f"database {env.db_label}; migrating")
        env.manage("migrate", "--noinput")
        env.django_setup()
        from django.utils import timezone

        now = timezone.now()
        began = time.perf_counter()
        counts = existing_network() if args.reuse else build_network(args, now)
        built = time.perf_counter() - began
        harness.log(f"network {'found' if args.reuse else 'written'} in {built:.1f} s: {counts}")

        from stations.models import ChargingStation, Site
        from stations.uptime.rollup import uptime_rollup_days, uptime_rollup_today

        began = time.perf_counter()
        today = now.astimezone(UTC).date()
        uptime_rollup_days(first=today - timedelta(days=args.days + 1), last=today - timedelta(days=1), now=now)
        rolled = time.perf_counter() - began
        harness.log(f"uptime and usage rolled up in {rolled:.1f} s ({args.days + 1} days)")
        # As the beat entry leaves it: today as far as now, the pages read the minutes since.
        began = time.perf_counter()
        uptime_rollup_today()
        rolled_today = time.perf_counter() - began
        harness.log(f"today rolled up so far in {rolled_today:.1f} s")

        site = Site.objects.order_by("pk").first()
        station = ChargingStation.objects.order_by("pk").first()
        pages = [
            ("dashboard", "/dashboard/"),
            ("dashboard live fragment", "/dashboard/live/"),
            ("analytics, 30 days", "/analytics/?period=30d"),
            ("analytics, 7 days", "/analytics/?period=7d"),
            ("analytics, one site, 30 days", f"/analytics/?period=30d&site={site.pk}"),
            ("site page", f"/stations/sites/{site.pk}/"),
            ("station page", f"/stations/{station.identity}/"),
        ]
        rows = time_pages(pages, args.requests, args.profile)
        print()
        print(
            f"Dashboard benchmark: {counts['stations']:,} stations, {counts['ports']:,} ports, "
            f"{counts['sites']:,} sites, {counts['events']:,} status events, {counts['sessions']:,} sessions "
            f"over {args.days} days; {env.db_label}; {args.requests} requests per page; code {harness.code_version()}"
        )
        for line in harness.table(
            [("page", 42), ("median ms", 10), ("min ms", 8), ("max ms", 8), ("queries", 8)],
            [(label, f"{med:.0f}", f"{lo:.0f}", f"{hi:.0f}", queries) for label, _, med, lo, hi, queries in rows],
        ):
            print(line)
        print(
            f"  (network written in {built:.0f} s; uptime and usage rolled up in {rolled:.0f} s for "
            f"{args.days + 1} days, today so far in {rolled_today:.1f} s)"
        )


if __name__ == "__main__":
    main()
