"""Round trip of remote commands sent from another process, with many chargers connected.

    python -m config.embedded exec .venv/bin/python benchmarks/command_roundtrip.py --chargers 1000
    DATABASE_URL=postgres://postgres@127.0.0.1:5432/evops_cmdbench REDIS_URL=redis://127.0.0.1:6379/0 \\
        .venv/bin/python benchmarks/command_roundtrip.py --chargers 1000

Starts one server (python -m config.serve) and a simulated fleet (each in its own process),
then sends commands from this process exactly as a view or worker does
(RemoteCommand row, channel layer to the socket holder, CALL, answer, outcome
recorded, reply) and prints the latency from "send" to "outcome known".
Without DATABASE_URL it uses a fresh SQLite database in a temporary folder, and
without REDIS_URL a private embedded Redis (benchmarks/harness.py).
"""

import argparse
import asyncio
import random
import statistics
import subprocess
import sys
import time

from harness import BASE_DIR, Environment, free_port, percentile, server_argv, wait_listening

PASSWORD = "command-bench-secret-01"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--chargers", type=int, default=1000)
    parser.add_argument("--commands", type=int, default=2000)
    parser.add_argument("--concurrency", type=int, default=20, help="commands in flight at once")
    parser.add_argument("--action", default="ClearCache")
    args = parser.parse_args()

    with Environment("cmdbench") as env:
        return roundtrip(args, env)


def roundtrip(args, env: Environment) -> int:
    env.django_setup()
    from django.conf import settings
    from django.core.management import call_command

    from stations.models import ChargingStation, RemoteCommand
    from stations.services import registration

    call_command("migrate", verbosity=0)
    prefix = "CMDB-"
    identities = [f"{prefix}{n:04d}" for n in range(1, args.chargers + 1)]
    registration.stations_register_bulk(entries=[(i, PASSWORD) for i in identities])
    RemoteCommand.objects.filter(station__identity__startswith=prefix).delete()

    port = free_port()
    server = env.start("server", server_argv(port))
    wait_listening(port, server)
    # Quiet chargers: no sessions, no faults; only the commands move.
    env.start(
        "fleet",
        [sys.executable, str(BASE_DIR / "manage.py"), "simulate", "--count", str(args.chargers), "--prefix", prefix,
         "--password", PASSWORD, "--url", f"ws://127.0.0.1:{port}/ocpp/", "--session-probability", "0",
         "--fault-probability", "0", "--mean-fault-interval", "0", "--first-fault", "0", "--ramp-up", "10"],
        stdout=subprocess.DEVNULL,
    )  # fmt: skip
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        connected = ChargingStation.objects.filter(identity__startswith=prefix, connected=True).count()
        if connected == args.chargers:
            break
        time.sleep(1)
    print(f"{connected}/{args.chargers} chargers connected", flush=True)
    stations = list(ChargingStation.objects.filter(identity__startswith=prefix, connected=True))
    latencies, outcomes, wall = asyncio.run(send_all(stations, args))
    env.stop("fleet")

    print(f"\n=== {args.commands} x {args.action} from another process, {args.concurrency} in flight, "
          f"{len(stations)} chargers connected, db {settings.DATABASES['default']['ENGINE'].rsplit('.', 1)[-1]}, "
          f"redis {settings.REDIS_URL.split('://')[0]}")  # fmt: skip
    print(f"outcomes: {dict(outcomes)}")
    print(f"throughput: {len(latencies) / wall:.0f} commands/s over {wall:.1f} s")
    print(
        f"round trip ms: p50 {percentile(latencies, 50):.1f}  p95 {percentile(latencies, 95):.1f}  "
        f"p99 {percentile(latencies, 99):.1f}  max {max(latencies):.1f}  mean {statistics.mean(latencies):.1f}"
    )
    return 0


async def send_all(stations, args) -> tuple[list[float], dict, float]:
    from collections import Counter

    from asgiref.sync import sync_to_async

    from stations.services import commands

    create = sync_to_async(commands.command_create, thread_sensitive=False)
    reload = sync_to_async(lambda c: (c.refresh_from_db(), c.status)[1], thread_sensitive=False)
    gate = asyncio.Semaphore(args.concurrency)
    latencies: list[float] = []
    outcomes: Counter = Counter()

    async def one():
        async with gate:
            station = random.choice(stations)  # noqa: S311
            started = time.perf_counter()
            command = await create(station=station, action=args.action, requested_via="benchmark", timeout_s=10)
            status = await commands.dispatch(command, wait=True)
            latencies.append((time.perf_counter() - started) * 1000)
            outcomes[status or await reload(command)] += 1

    began = time.perf_counter()
    await asyncio.gather(*(one() for _ in range(args.commands)))
    return latencies, outcomes, time.perf_counter() - began


if __name__ == "__main__":
    sys.exit(main())
