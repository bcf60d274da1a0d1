"""Server time and queries of the station list, the station page and the stations API on a large network.

    .venv/bin/python benchmarks/pages.py                          # fresh SQLite, 10,000 stations
    .venv/bin/python benchmarks/pages.py --db postgres            # PostgreSQL (--pg-url)

One run:

1. prepares a database through harness.Environment (`--db env|sqlite|postgres`), migrates;
2. writes a network with bulk_create: `--stations` stations on `--stations / 20` sites, two
   ports each (about 1 in 40 faulted, 1 in 7 charging), `--events` status events per port and
   `--sessions` finished sessions per station over the last days;
3. requests each page `--repeat` times as an operator through Django's test client (the whole
   view: middleware, selectors, templates; no network) after one request to warm up, and prints
   the median and p95 server time, the median CPU time of this process (Python's share: the
   database's is not in it, and it grows less than wall time on a busy machine) and the queries
   of one request. The live fragments are the ones the pages fetch again after a push (the
   list's rows, the station's live panel). `--explain` prints each query's plan (PostgreSQL).

The machine's load average is printed before and after: on a shared machine the times are only
as quiet as it was.
"""

from __future__ import annotations

import argparse
import os
import random
import statistics
import sys
import time
from datetime import datetime, timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import harness  # noqa: E402

BATCH = 5000
PAGE_SIZE = 50  # the station list's (StationListView.paginate_by)
STATUSES = ["Available", "Preparing", "Charging", "SuspendedEV", "Finishing", "Available"]


def parse_args():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--stations", type=int, default=10_000)
    parser.add_argument("--events", type=int, default=3, help="status events per port")
    parser.add_argument("--sessions", type=int, default=2, help="finished sessions per station")
    parser.add_argument("--repeat", type=int, default=20, help="timed requests per page")
    parser.add_argument("--db", default="env", choices=["env", "sqlite", "postgres"])
    parser.add_argument("--pg-url", default="postgres://postgres@127.0.0.1:5432/evops_pagesbench")
    parser.add_argument("--redis", default="env")
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--keep", action="store_true", help="keep the run's database")
    parser.add_argument("--explain", action="store_true", help="print the plan of each query of each page")
    parser.add_argument("--profile", action="store_true", help="print where one request of each page spends its time")
    return parser.parse_args()


def build_network(args, now: datetime) -> dict[str, int]:
    from django.db import transaction

    from stations.models import ChargingSession, ChargingStation, Connector, Site, StatusEvent

    rng = random.Random(args.seed)
    models = [("Acme", "X1"), ("Acme", "X2"), ("Volt", "Fast50"), ("Volt", "Duo22")]
    with transaction.atomic():
        sites = Site.objects.bulk_create(Site(name=f"Bench site {n:04d}") for n in range(max(1, args.stations // 20)))
        stations = ChargingStation.objects.bulk_create(
            (
                ChargingStation(
                    identity=f"BENCH-{n:06d}",
                    site=sites[n % len(sites)],
                    vendor=models[n % len(models)][0],
                    model=models[n % len(models)][1],
                    connected=n % 13 != 0,
                    offline=n % 13 == 0,
                    last_message_at=now - timedelta(seconds=rng.randint(0, 600)),
                )
                for n in range(args.stations)
            ),
            batch_size=BATCH,
        )

        def status_of(i: int) -> tuple[str, str]:
            if i % 40 == 3:
                return "Faulted", "GroundFailure"
            if i % 7 == 0:
                return "Charging", "NoError"
            return "Available", "NoError"

        connectors = Connector.objects.bulk_create(
            (
                Connector(
                    station=s,
                    connector_id=c,
                    status=status_of(2 * i + c)[0],
                    error_code=status_of(2 * i + c)[1],
                    status_since=now - timedelta(hours=1),
                )
                for i, s in enumerate(stations)
                for c in (1, 2)
            ),
            batch_size=BATCH,
        )
        StatusEvent.objects.bulk_create(
            (
                StatusEvent(
                    station_id=c.station_id,
                    connector=c,
                    status=STATUSES[k % len(STATUSES)],
                    received_at=now - timedelta(hours=args.events - k),
                )
                for c in connectors
                for k in range(args.events)
            ),
            batch_size=BATCH,
        )
        ChargingSession.objects.bulk_create(
            (
                ChargingSession(
                    station_id=c.station_id,
                    connector=c,
                    id_tag="BENCH",
                    id_tag_status="Accepted",
                    meter_start=0,
                    meter_stop=12_000,
                    energy_wh=12_000,
                    start_at=now - timedelta(days=k + 1, hours=2),
                    stop_at=now - timedelta(days=k + 1),
                    start_fingerprint=f"bench-{c.pk}-{k}",
                )
                for c in connectors[::2]
                for k in range(args.sessions)
            ),
            batch_size=BATCH,
        )
    return {
        "sites": len(sites),
        "stations": len(stations),
        "ports": len(connectors),
        "events": len(connectors) * args.events,
        "sessions": len(stations) * args.sessions,
    }


def operator_client():
    from django.contrib.auth import get_user_model
    from django.contrib.auth.models import Group
    from django.test import Client

    from config import roles

    roles.ensure_roles()
    user, _ = get_user_model().objects.get_or_create(username="bench-operator")
    user.groups.add(Group.objects.get(name=roles.OPERATOR))
    client = Client()
    client.force_login(user)
    return client


def explain(sql: str, params) -> None:
    from django.db import connection

    if connection.vendor != "postgresql" or not sql.lstrip().upper().startswith("SELECT"):
        return
    with connection.cursor() as cursor:
        cursor.execute(f"EXPLAIN (ANALYZE, BUFFERS) {sql}", params)
        for (line,) in cursor.fetchall():
            print(f"      {line}")


def time_pages(client, pages: list[tuple[str, str]], repeat: int, args) -> list[tuple]:
    from django.db import connection

    rows = []
    for label, url in pages:
        queries: list[tuple[str, object]] = []

        def record(execute, sql, params, many, context, queries=queries):
            queries.append((sql, params))
            return execute(sql, params, many, context)

        response = client.get(url)  # warm-up
        if response.status_code != 200:
            raise SystemExit(f"{url} answered {response.status_code}")
        times, cpu = [], []
        for _ in range(repeat):
            began, began_cpu = time.perf_counter(), time.process_time()
            client.get(url)
            times.append((time.perf_counter() - began) * 1000)
            cpu.append((time.process_time() - began_cpu) * 1000)
        # Counted by a wrapper: the request's start empties Django's own query log.
        with connection.execute_wrapper(record):
            client.get(url)
        if args.profile:
            import cProfile
            import pstats

            profiler = cProfile.Profile()
            profiler.runcall(client.get, url)
            print(f"--- {label} ({url})")
            pstats.Stats(profiler).sort_stats("cumulative").print_stats(25)
        if args.explain:
            print(f"--- {label} ({url})")
            for sql, params in queries:
                print(f"    {sql[:300]}")
                explain(sql, params)
        median, p95 = statistics.median(times), harness.percentile(times, 95)
        rows.append((label, url, median, p95, max(times), statistics.median(cpu), len(queries)))
        harness.log(f"{label}: median {median:.0f} ms, p95 {p95:.0f} ms, {len(queries)} queries")
    return rows


def load() -> str:
    one, five, fifteen = os.getloadavg()
    return f"{one:.2f} {five:.2f} {fifteen:.2f} on {os.cpu_count()} cores"


def main():
    args = parse_args()
    with harness.Environment("pagesbench", db=args.db, pg_url=args.pg_url, redis=args.redis, keep=args.keep) as env:
        harness.log(f"database {env.db_label}; migrating")
        env.manage("migrate", "--noinput")
        env.django_setup()
        from django.db import connection
        from django.utils import timezone

        now = timezone.now()
        began = time.perf_counter()
        counts = build_network(args, now)
        built = time.perf_counter() - began
        if connection.vendor == "postgresql":
            with connection.cursor() as cursor:
                cursor.execute("ANALYZE")
        harness.log(f"network written in {built:.1f} s: {counts}")

        from stations.models import ChargingStation

        pages_total = max(1, -(-counts["stations"] // PAGE_SIZE))
        middle = ChargingStation.objects.order_by("identity")[counts["stations"] // 2]
        pages = [
            ("station list, page 1", "/stations/"),
            (f"station list, page {pages_total // 2}", f"/stations/?page={pages_total // 2}"),
            ("station list, search a site", "/stations/?q=site+0001"),
            ("station list, search a model", "/stations/?q=fast50"),
            ("station list, faulted", "/stations/?status=Faulted"),
            ("station list rows (live)", f"/stations/rows/?page={pages_total // 2}"),
            ("station page", f"/stations/{middle.identity}/"),
            ("station live panel (live)", f"/stations/{middle.identity}/live/"),
            ("API stations, limit 100", "/api/stations/?limit=100"),
            ("API stations, middle", f"/api/stations/?limit=100&offset={counts['stations'] // 2}"),
            ("API stations, faulted", "/api/stations/?limit=100&status=Faulted"),
        ]
        load_before = load()
        rows = time_pages(operator_client(), pages, args.repeat, args)
        load_after = load()
        print()
        print(
            f"Station pages benchmark: {counts['stations']:,} stations, {counts['ports']:,} ports, "
            f"{counts['sites']:,} sites, {counts['events']:,} status events, {counts['sessions']:,} sessions; "
            f"{env.db_label}; {args.repeat} requests per page; code {harness.code_version()}"
        )
        for line in harness.table(
            [("page", 32), ("median ms", 10), ("p95 ms", 8), ("max ms", 8), ("CPU ms", 8), ("queries", 8)],
            [(label, f"{med:.0f}", f"{p95:.0f}", f"{hi:.0f}", f"{c:.0f}", q) for label, _, med, p95, hi, c, q in rows],
        ):
            print(line)
        print(f"  (network written in {built:.1f} s; load average {load_before} before, {load_after} after)")


if __name__ == "__main__":
    main()
