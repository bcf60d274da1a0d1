"""Pricing throughput: finished sessions priced through session_price, on PostgreSQL.

    .venv/bin/python benchmarks/billing_pricing.py --sessions 100000

One run:

1. drops and creates the database of `--pg-url` (default
   postgres://postgres@127.0.0.1:5432/evops_billbench), migrates, and creates `--stations`
   stations (two connectors each) over ten sites in several time zones, a network tariff with
   time-of-use periods and idle fees, a station tariff on every tenth station, and `--accounts`
   prepaid accounts with one tag each;
2. writes `--sessions` finished sessions of 20 to 120 minutes from 60 days ago on, one after another
   on each connector, each with `--readings` energy register readings and the SessionBilling row
   its start opened (account and tariff version), with PostgreSQL's COPY; prints the time this took;
3. prices every session with billing.services.sessions.session_price (the stop's code path:
   readings and idle time read back, the pure price, the breakdown stored, the ledger posting
   written), in `--workers` processes, and prints sessions/s and the latency per session;
4. checks that every session is priced and the ledger balances, and drops the database
   (unless `--keep`).
"""

import argparse
import multiprocessing
import os
import random
import statistics
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

ZONES = ["Europe/Amsterdam", "Europe/Berlin", "Europe/London", "America/New_York", "Asia/Tokyo"]


def parse_args():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sessions", type=int, default=20_000)
    parser.add_argument("--readings", type=int, default=10, help="energy readings per session")
    parser.add_argument("--stations", type=int, default=200)
    parser.add_argument("--accounts", type=int, default=2_000)
    parser.add_argument("--workers", type=int, default=os.cpu_count() or 1, help="pricing processes")
    parser.add_argument("--pg-url", default="postgres://postgres@127.0.0.1:5432/evops_billbench")
    parser.add_argument("--keep", action="store_true", help="keep the database afterwards")
    parser.add_argument("--seed", type=int, default=7)
    return parser.parse_args()


def pg_recreate(url: str, *, drop_only: bool = False) -> None:
    import psycopg

    parts = urlsplit(url)
    name = parts.path.lstrip("/")
    if not name.replace("_", "").isalnum():
        raise SystemExit(f"refusing odd database name {name!r}")
    with psycopg.connect(urlunsplit(parts._replace(path="/postgres")), autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        if not drop_only:
            conn.execute(f'CREATE DATABASE "{name}"')


def setup_django(args) -> None:
    os.environ.update(
        DATABASE_URL=args.pg_url,
        DJANGO_SETTINGS_MODULE="config.settings",
        VAR_DIR=tempfile.mkdtemp(prefix="billbench-"),
        ALLOW_INSECURE_SECRET_KEY="1",
        LOG_LEVEL="WARNING",
    )
    import django

    django.setup()


def build(args) -> tuple[list[int], float]:
    from django.core.management import call_command
    from django.db import connection

    from billing.models import Account, AccountTag, Funding
    from billing.services import tariffs
    from stations.models import ChargingStation, Connector, IdTag, Site

    rng = random.Random(args.seed)
    call_command("migrate", verbosity=0)
    started = time.monotonic()
    sites = [Site.objects.create(name=f"Bench site {i}", time_zone=ZONES[i % len(ZONES)]) for i in range(10)]
    stations = ChargingStation.objects.bulk_create(
        [ChargingStation(identity=f"BB-{i:05d}", site=sites[i % len(sites)]) for i in range(args.stations)]
    )
    connectors = Connector.objects.bulk_create(
        [Connector(station=s, connector_id=n, status="Available") for s in stations for n in (1, 2)]
    )
    night = {"days": list(range(7)), "start": "22:00", "end": "06:00", "price_per_kwh": "0.29"}
    peak = {"days": [0, 1, 2, 3, 4], "start": "17:00", "end": "20:00", "price_per_kwh": "0.59"}
    network = tariffs.tariff_create(
        name="Network", currency="EUR", is_default=True, price_per_kwh=Decimal("0.45"),
        idle_price_per_minute=Decimal("0.10"), idle_grace_minutes=30, session_fee=Decimal("0.50"),
        tax_rate=Decimal("0.19"), periods=[night, peak],
    )  # fmt: skip
    fast = tariffs.tariff_create(
        name="Fast", currency="EUR", price_per_kwh=Decimal("0.69"), price_per_minute=Decimal("0.01"),
        tax_rate=Decimal("0.19"), minimum_price=Decimal("2"), stations=stations[::10],
    )  # fmt: skip
    network.refresh_from_db()
    fast.refresh_from_db()
    fast_stations = {s.pk for s in stations[::10]}
    tags = IdTag.objects.bulk_create([IdTag(id_tag=f"BBT{i:07d}") for i in range(args.accounts)])
    accounts = Account.objects.bulk_create(
        [Account(name=f"Driver {i}", funding=Funding.PREPAID, balance=Decimal("1000000")) for i in range(args.accounts)]
    )
    AccountTag.objects.bulk_create([AccountTag(account=a, id_tag=t) for a, t in zip(accounts, tags, strict=True)])

    now = datetime.now(UTC).replace(microsecond=0)
    raw = connection.connection
    with raw.cursor() as cursor:
        cursor.execute("SELECT COALESCE(MAX(id), 0) FROM stations_chargingsession")
        first_id = cursor.fetchone()[0] + 1
        ids = list(range(first_id, first_id + args.sessions))
        session_rows, sample_rows, billing_rows = [], [], []
        free_from: dict[int, datetime] = {}
        for session_id in ids:
            connector = connectors[rng.randrange(len(connectors))]
            account_index = rng.randrange(len(accounts))
            # One session after another on each connector, as on a real one.
            start = free_from.get(connector.pk, now - timedelta(days=60)) + timedelta(seconds=rng.randrange(4 * 3600))
            minutes = rng.randint(20, 120)
            stop = start + timedelta(minutes=minutes)
            free_from[connector.pk] = stop + timedelta(minutes=1)
            wh = rng.randint(2_000, 60_000)
            session_rows.append(
                (session_id, connector.station_id, connector.pk, tags[account_index].id_tag, "Accepted", "", 0, wh,
                 start, stop, "EVDisconnected", wh, "[]", f"bench-{session_id}", stop, stop)
            )  # fmt: skip
            # Readings evenly spaced in time; energy front-loaded (a battery tapering), the last
            # tenth of the session drawing nothing (idle at the end).
            for r in range(1, args.readings + 1):
                fraction = r / (args.readings + 1)
                at = start + (stop - start) * fraction
                value = min(wh, round(wh * min(1.0, fraction / 0.9) ** 0.8))
                sample_rows.append(
                    (connector.station_id, connector.pk, session_id, at, "Energy.Active.Import.Register", "", "Wh",
                     "Sample.Periodic", "", "Raw", str(value), value)
                )  # fmt: skip
            version = fast.current_version_id if connector.station_id in fast_stations else network.current_version_id
            billing_rows.append((session_id, accounts[account_index].pk, version, "running", "EUR", "[]"))
        with cursor.copy(
            "COPY stations_chargingsession (id, station_id, connector_id, id_tag, id_tag_status, stop_id_tag,"
            " meter_start, meter_stop, start_at, stop_at, stop_reason, energy_wh, meter_flags, start_fingerprint,"
            " created_at, updated_at) FROM STDIN"
        ) as copy:
            for row in session_rows:
                copy.write_row(row)
        with cursor.copy(
            "COPY stations_metersample (station_id, connector_id, session_id, timestamp, measurand, phase, unit,"
            " context, location, value_format, value, numeric_value) FROM STDIN"
        ) as copy:
            for row in sample_rows:
                copy.write_row(row)
        with cursor.copy(
            "COPY billing_sessionbilling (session_id, account_id, tariff_version_id, status, currency, lines,"
            " review_note) FROM STDIN"
        ) as copy:
            for row in billing_rows:
                copy.write_row((*row, ""))
        cursor.execute("SELECT setval(pg_get_serial_sequence('stations_chargingsession', 'id'), %s)", [ids[-1]])
        cursor.execute("ANALYZE")
    raw.commit()
    return ids, time.monotonic() - started


def _price_chunk(ids: list[int]) -> list[float]:
    from billing.services.sessions import session_price

    latencies = []
    for session_id in ids:
        started = time.perf_counter()
        session_price(session_id=session_id)
        latencies.append(time.perf_counter() - started)
    return latencies


def _reset_connections() -> None:
    from django.db import connections

    connections.close_all()


def price_all(ids: list[int], workers: int) -> tuple[float, list[float]]:
    from django.db import connections

    connections.close_all()  # each process opens its own
    chunks = [ids[i :: workers * 8] for i in range(workers * 8)]
    started = time.monotonic()
    if workers == 1:
        latencies = _price_chunk(ids)
    else:
        with multiprocessing.get_context("fork").Pool(workers, initializer=_reset_connections) as pool:
            latencies = [x for part in pool.map(_price_chunk, chunks) for x in part]
    return time.monotonic() - started, latencies


def check(ids: list[int]) -> None:
    from django.db.models import Sum

    from billing.models import LedgerEntry, SessionBilling

    priced = SessionBilling.objects.filter(session_id__in=ids, status=SessionBilling.Status.PRICED).count()
    balance = LedgerEntry.objects.aggregate(total=Sum("amount"))["total"]
    revenue = SessionBilling.objects.aggregate(total=Sum("total"))["total"]
    print(f"priced: {priced} of {len(ids)}; ledger sum {balance} (must be 0); billed {revenue} EUR")
    if priced != len(ids) or balance != 0:
        raise SystemExit("check failed")


def main() -> None:
    args = parse_args()
    pg_recreate(args.pg_url)
    try:
        setup_django(args)
        ids, build_s = build(args)
        readings = len(ids) * args.readings
        rate = len(ids) / build_s
        print(f"built {len(ids)} sessions with {readings} readings in {build_s:.1f} s ({rate:,.0f} sessions/s)")
        elapsed, latencies = price_all(ids, args.workers)
        latencies.sort()
        p = lambda q: latencies[min(len(latencies) - 1, int(q * len(latencies)))] * 1000  # noqa: E731
        print(
            f"priced {len(ids)} sessions in {elapsed:.1f} s with {args.workers} process(es): "
            f"{len(ids) / elapsed:,.0f} sessions/s; per session p50 {p(0.5):.1f} ms, p95 {p(0.95):.1f} ms, "
            f"p99 {p(0.99):.1f} ms, mean {statistics.fmean(latencies) * 1000:.1f} ms"
        )
        check(ids)
    finally:
        from django.db import connections

        connections.close_all()
        if not args.keep:
            pg_recreate(args.pg_url, drop_only=True)


if __name__ == "__main__":
    main()
