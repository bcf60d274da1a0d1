"""Uptime at network scale, on PostgreSQL: daily roll-ups from the status history, then reports.

    .venv/bin/python benchmarks/uptime.py --ports 10000 --days 90

One run:

1. drops and creates the database of `--pg-url` (default
   postgres://postgres@127.0.0.1:5432/evops_uptimebench), migrates, and creates `--ports` / 2
   stations with connectors 0, 1 and 2 over `--sites` sites and a few vendor models;
2. writes `--days` of status history ending at today's midnight (UTC) with PostgreSQL's COPY: about
   `--events-per-day` events per port and day (charging cycles Available → Preparing → Charging →
   Finishing → Available, a fault now and then that lasts 10 minutes to 3 hours, a station offline
   sweep and reconnect now and then, connector 0 reporting now and then) and prints rows and time;
3. rolls up every day (stations.uptime.rollup, the nightly task's code: uptime and usage per port,
   usage per site and local hour, all-busy periods per site) and prints the time per day and in
   all, then today so far (the 5-minute beat entry's code);
4. times the quarterly report (the last 90 days, or all days if fewer) for every port, per station
   and for the network from the roll-ups (target < 2 s), every port's live computation over a
   day, and the operations dashboard's history-wide figures (roll-ups plus the minutes since);
5. drops the database (unless `--keep`).
"""

import argparse
import io
import os
import random
import statistics
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from benchmarks.harness import Environment  # noqa: E402

CYCLE = ["Preparing", "Charging", "Finishing", "Available"]


def parse_args():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--ports", type=int, default=10_000)
    parser.add_argument("--days", type=int, default=90)
    parser.add_argument("--events-per-day", type=int, default=20)
    parser.add_argument("--sites", type=int, default=100)
    parser.add_argument("--pg-url", default="postgres://postgres@127.0.0.1:5432/evops_uptimebench")
    parser.add_argument("--keep", action="store_true", help="keep the database afterwards")
    parser.add_argument(
        "--reuse",
        action="store_true",
        help="the history already in the database of --pg-url (one kept with --keep): roll up and time, "
        "write nothing else, drop nothing",
    )
    parser.add_argument("--seed", type=int, default=7)
    return parser.parse_args()


def setup_django(args) -> None:
    os.environ.update(
        DATABASE_URL=args.pg_url,
        DJANGO_SETTINGS_MODULE="config.settings",
        VAR_DIR=tempfile.mkdtemp(prefix="uptimebench-"),
        ALLOW_INSECURE_SECRET_KEY="1",
        LOG_LEVEL="WARNING",
    )
    import django

    django.setup()


def build(args, first_day: datetime) -> tuple[int, float]:
    from django.core.management import call_command
    from django.db import connection

    from stations.models import ChargingStation, Connector, Site

    rng = random.Random(args.seed)
    call_command("migrate", verbosity=0)
    sites = Site.objects.bulk_create([Site(name=f"Bench site {i}") for i in range(args.sites)])
    models = [("Acme", "X1"), ("Acme", "X2"), ("Volt", "DC150"), ("Volt", "DC350")]
    stations = ChargingStation.objects.bulk_create(
        [
            ChargingStation(
                identity=f"UB-{i:06d}", site=sites[i % len(sites)], vendor=models[i % 4][0], model=models[i % 4][1]
            )
            for i in range(args.ports // 2)
        ]  # fmt: skip
    )
    connectors = Connector.objects.bulk_create(
        [Connector(station=s, connector_id=n, status="Available") for s in stations for n in (0, 1, 2)]
    )
    by_station: dict[int, list] = {}
    for c in connectors:
        by_station.setdefault(c.station_id, []).append(c)

    started = time.monotonic()
    rows = 0
    day_s = 86400
    per_port = args.events_per_day
    raw = connection.connection
    with raw.cursor() as cursor:
        # A benchmark's own database: skip the foreign-key triggers while loading (superuser only).
        cursor.execute("SET session_replication_role = replica")
    columns = "(station_id, connector_id, status, error_code, vendor_error_code, vendor_id, info, source, received_at)"
    with raw.cursor() as cursor:
        for day in range(args.days):
            base = first_day + timedelta(days=day)
            buffer = io.StringIO()
            for station_id, (zero, *ports) in by_station.items():
                lines = []
                if day == 0:
                    lines.append((base, zero.pk, "Available", "charger"))
                if rng.random() < 0.01:  # the station falls silent and comes back
                    gone = rng.uniform(0, day_s - 7200)
                    back = gone + rng.uniform(300, 7200)
                    for c in (zero, *ports):
                        lines.append((base + timedelta(seconds=gone), c.pk, "Offline", "offline"))
                        lines.append((base + timedelta(seconds=back), c.pk, "Available", "reconnect"))
                for port in ports:
                    if day == 0:
                        lines.append((base, port.pk, "Available", "charger"))
                    moments = sorted(rng.uniform(1, day_s - 1) for _ in range(per_port))
                    step = 0
                    i = 0
                    while i < len(moments):
                        if rng.random() < 0.02 and i + 1 < len(moments):
                            lines.append((base + timedelta(seconds=moments[i]), port.pk, "Faulted", "charger"))
                            end = min(moments[i] + rng.uniform(600, 10800), day_s - 0.5)
                            lines.append((base + timedelta(seconds=end), port.pk, "Available", "charger"))
                            i += 2
                            step = 0
                            continue
                        lines.append((base + timedelta(seconds=moments[i]), port.pk, CYCLE[step % 4], "charger"))
                        step += 1
                        i += 1
                for when, connector_id, status, source in lines:
                    error = "InternalError" if status == "Faulted" else "NoError"
                    buffer.write(
                        f"{station_id}\t{connector_id}\t{status}\t{error}\t\t\t\t{source}\t{when.isoformat()}\n"
                    )
                rows += len(lines)
            buffer.seek(0)
            with cursor.copy(f"COPY stations_statusevent {columns} FROM STDIN") as copy:
                while chunk := buffer.read(1 << 20):
                    copy.write(chunk)
            raw.commit()
        cursor.execute("SET session_replication_role = DEFAULT")
        cursor.execute("ANALYZE stations_statusevent")
    raw.commit()
    return rows, time.monotonic() - started


def existing(args) -> tuple[datetime, int]:
    """The first day and the number of status events of a history already written."""
    from django.core.management import call_command
    from django.db.models import Min

    from stations.models import Connector, StatusEvent

    call_command("migrate", verbosity=0)
    first = StatusEvent.objects.aggregate(first=Min("received_at"))["first"]
    args.ports = Connector.objects.filter(connector_id__gt=0).count()
    return first.replace(hour=0, minute=0, second=0, microsecond=0), StatusEvent.objects.count()


def main() -> None:
    args = parse_args()
    if args.reuse:
        args.keep = True
    else:
        Environment._pg_execute(args.pg_url, "DROP DATABASE IF EXISTS {name} WITH (FORCE)", "CREATE DATABASE {name}")
    try:
        setup_django(args)
        from stations.uptime import rollup
        from stations.uptime.selectors import port_windows_live, uptime_report

        today = datetime.now(UTC).replace(hour=0, minute=0, second=0, microsecond=0)
        if args.reuse:
            first_day, rows = existing(args)
            args.days = (today - first_day).days
            print(f"history: {args.ports} ports, {args.days} days, {rows:,} status events already written")
        else:
            first_day = today - timedelta(days=args.days)
            rows, took = build(args, first_day)
            print(f"history: {args.ports} ports, {args.days} days, {rows:,} status events written in {took:.1f} s "
                  f"({rows / took:,.0f} rows/s)")  # fmt: skip

        per_day = []
        started = time.monotonic()
        for day in range(args.days):
            t = time.monotonic()
            rollup.uptime_rollup_day(day=(first_day + timedelta(days=day)).date())
            per_day.append(time.monotonic() - t)
        total = time.monotonic() - started
        print(f"roll-ups: {args.days} days in {total:.1f} s; per day median {statistics.median(per_day):.2f} s, "
              f"max {max(per_day):.2f} s")  # fmt: skip
        t = time.monotonic()
        rollup.uptime_rollup_today()
        print(f"today so far rolled up in {time.monotonic() - t:.2f} s")

        span = min(args.days, 90)
        start, end = today - timedelta(days=span), today
        for group_by in ("port", "station", "network"):
            t = time.monotonic()
            report = uptime_report(start=start, end=end, group_by=group_by, now=today)
            took = time.monotonic() - t
            below = sum(row.below_target for row in report)
            print(f"report of {span} days from roll-ups per {group_by}: {len(report)} rows in {took:.2f} s "
                  f"({below} below target)")  # fmt: skip
        network = uptime_report(start=start, end=end, group_by="network", now=today)[0]
        print(f"network uptime {network.uptime_percent:.3f} %, {network.ports_below_target} ports below target")

        t = time.monotonic()
        port_windows_live(start=today - timedelta(days=1), end=today)
        print(f"live computation of one day for every port: {time.monotonic() - t:.2f} s")

        from django.utils import timezone

        from config.dashboard import history_figures

        for _ in range(2):  # the second without first-use costs
            t = time.monotonic()
            history_figures(now=timezone.now())
            took = time.monotonic() - t
        print(f"dashboard's history-wide figures (month's uptime, weeks, usage): {took:.2f} s")
    finally:
        if not args.keep:
            from django.db import connections

            connections.close_all()
            Environment._pg_execute(args.pg_url, "DROP DATABASE IF EXISTS {name} WITH (FORCE)")


if __name__ == "__main__":
    main()
