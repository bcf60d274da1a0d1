"""1,000 simultaneous faults across the simulated network, processed end to end.

    VAR_DIR=/tmp/faultbench .venv/bin/python -m config.embedded exec .venv/bin/python benchmarks/faults_end_to_end.py
    .venv/bin/python benchmarks/faults_end_to_end.py --db postgres --redis redis://127.0.0.1:6379/0

One run:

1. prepares a database (`--db env`: DATABASE_URL if set, else a fresh SQLite in a temporary
   VAR_DIR; `--db postgres`: drops and creates the database of `--pg-url`, and drops it at the
   end), migrates (which loads the shipped playbook), registers `--chargers` stations over a
   few sites and creates `--technicians` technicians with every skill, on shift all day;
2. starts one server (python -m config.serve) and `--workers` Celery workers (`--concurrency` processes each),
   on a Celery queue and channel-layer prefix of this run's own, so a shared Redis is safe.
   Server and workers get REMEDIATION_GRACE_S, REMEDIATION_WAIT_S and
   REMEDIATION_COMMAND_TIMEOUT_S from `--grace-s`, `--wait-s` and `--command-timeout-s`.
   There is no beat: this process sends `workorders.tasks.remediation_sweep` every
   `--sweep-interval` s (with the same expiry rule as the beat schedule), so timing is not
   bound to the beat interval;
3. connects the fleet (stations.simulator's SimulatedCharger, sessions and random faults
   off) in a child process, and waits until every charger is connected and has reported;
4. at one instant every charger reports connector 1 Faulted:
      soft reset  InternalError; answers the Reset, reboots (`--reboot-s`) and reports
                  Available: resolved remotely;
      stuck       CX011 (remotely fixable: trigger, soft reset) that a soft reset does not
                  clear: a truck roll after its remote steps;
      no remote   CX026, cut cable, not remotely fixable: straight to a truck roll;
      driver      CX009 (`--driver-share` of the fleet), the driver's: closed, no truck;
5. measures from that instant until every incident has its final decision (closed, or
   dispatched with a work order) and prints the time to the last decision, decisions/s,
   per-incident time to decision (p50/p95/p99), the delay from each incident's remediation
   window closing to its truck-roll decision (p50/p99/max), outcomes per fault group, remote commands
   sent and their outcomes, and every error seen (charger CALLERRORs and timeouts, error
   lines in the server and worker logs, incidents left without a decision).

Per-incident time to decision: from the fault instant to `closed_at` for a closed incident,
or to its work order's `created_at` for a dispatched one (both written by the deciding
process). `--deadline` bounds the fault phase; every process started is stopped at the end.
`--py-spy PATH` records the workers (and their pool processes) or the server
(`--profile server`) during the fault phase and prints where the time went.
"""

import argparse
import asyncio
import json
import os
import queue
import statistics
import subprocess
import sys
import threading
import time
from collections import Counter
from pathlib import Path

from harness import (
    Environment,
    PySpy,
    Sampler,
    format_profile,
    log,
    percentile,
    server_argv,
    wait_listening,
    worker_argv,
)

PASSWORD = "fault-bench-secret-01"
PREFIX = "FLT-"
GROUPS = ("soft_reset", "stuck", "no_remote", "driver")
SITES = 10
SKILLS = ["ac", "dc", "hv", "mechanical", "network"]


def plan_faults(count: int, driver_share: float) -> dict[str, str]:
    """identity -> fault group: a few driver faults, the rest in three equal parts, interleaved."""
    drivers = max(1, round(count * driver_share)) if driver_share > 0 else 0
    plan = {}
    for n in range(count):
        identity = f"{PREFIX}{n + 1:05d}"
        if drivers and n % max(1, count // drivers) == 0 and sum(g == "driver" for g in plan.values()) < drivers:
            plan[identity] = "driver"
        else:
            plan[identity] = GROUPS[n % 3]
    return plan


# --------------------------------------------------------------------------
# The fleet, in a child process: connect, report, fault at one instant, answer
# --------------------------------------------------------------------------


def fleet_main(args) -> int:
    """Child process: read commands on stdin ("fault", "stop"), write JSON lines on stdout."""
    import logging

    from stations import simulator as sim

    logging.basicConfig(level=logging.WARNING, format="%(asctime)s %(levelname)s fleet %(message)s")
    # code, and what ends it: held until a reset or a repair, so none clears before remediation looks.
    faults = {
        "soft_reset": ("InternalError", sim.Clear.SOFT_RESET),
        "stuck": ("CX011", sim.Clear.HARD_RESET),  # remotely fixable in the playbook, but a soft reset does not
        "no_remote": ("CX026", sim.Clear.HARD_RESET),
        "driver": ("CX009", sim.Clear.HARD_RESET),
    }
    plan = json.loads(Path(args.plan).read_text())
    config = sim.SimConfig(
        password=PASSWORD,
        session_probability=0.0,
        fault_probability=0.0,
        mean_fault_interval_s=0.0,
        first_fault_s=0.0,
        mean_idle_s=1e9,
        reboot_s=args.reboot_s,
        ramp_up_s=args.ramp_up_s,
        call_timeout_s=60.0,
        seed=1,
    )

    def emit(**message) -> None:
        print(json.dumps(message), flush=True)

    async def raise_fault(charger, code, clears) -> float:
        # The simulator's own fault path: the connector turns Faulted and reports it.
        await charger.raise_fault(code, 1, clears)
        return time.time()

    async def run() -> None:
        stats = sim.Stats()
        chargers = [sim.SimulatedCharger(identity, args.url, config, stats) for identity in plan]
        spread = [i * config.ramp_up_s / max(1, len(chargers)) for i in range(len(chargers))]
        tasks = [asyncio.create_task(c.run(start_delay=d)) for c, d in zip(chargers, spread, strict=True)]
        loop = asyncio.get_running_loop()
        commands: asyncio.Queue = asyncio.Queue()

        def read_stdin() -> None:
            for line in sys.stdin:
                loop.call_soon_threadsafe(commands.put_nowait, line.strip())
            loop.call_soon_threadsafe(commands.put_nowait, "stop")

        threading.Thread(target=read_stdin, daemon=True).start()
        try:
            while (command := await commands.get()) != "stop":
                if command == "fault":
                    at = time.time()
                    acked = await asyncio.gather(*(raise_fault(c, *faults[plan[c.identity]]) for c in chargers))
                    emit(event="faulted", at=at, all_reported=max(acked), sent=stats.sent)
                elif command == "stats":
                    emit(event="stats", summary=stats.summary())
        finally:
            await asyncio.gather(*(c.shutdown(timeout=2) for c in chargers), return_exceptions=True)
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
            emit(
                event="stopped",
                sent=stats.sent,
                answered=stats.answered,
                callerrors=stats.errors,
                timeouts=stats.timeouts,
                server_calls=stats.server_calls,
                connects=stats.connects,
                boots=stats.boots,
                last_errors=list(stats.last_errors)[-10:],
                summary=stats.summary(),
            )

    asyncio.run(run())
    return 0


# --------------------------------------------------------------------------
# Orchestrator
# --------------------------------------------------------------------------


class Run:
    """The run's environment (harness.Environment) plus the fleet child and its messages."""

    def __init__(self, args):
        self.args = args
        self.env = Environment(
            "faultbench", db=args.db, pg_url=args.pg_url, redis=args.redis, keep=args.keep,
            REMEDIATION_GRACE_S=str(args.grace_s),
            REMEDIATION_WAIT_S=str(args.wait_s),
            REMEDIATION_COMMAND_TIMEOUT_S=str(args.command_timeout_s),
            REMEDIATION_SWEEP_INTERVAL_S="1",
            # Heartbeats are not what is measured; keep them out of the way.
            OCPP_HEARTBEAT_INTERVAL_S="600",
        )  # fmt: skip
        self.fleet_lines: queue.Queue = queue.Queue()
        self.profiler = PySpy(args.py_spy, self.env.run_dir, rate=50, extra=args.py_spy_arg)

    def prepare(self, plan: dict[str, str]) -> None:
        self.env.django_setup()
        from decimal import Decimal

        from django.contrib.auth import get_user_model
        from django.core.management import call_command

        from stations.models import Site
        from stations.services import registration
        from workorders.models import ErrorCode, Technician

        started = time.monotonic()
        call_command("migrate", verbosity=0)
        if not ErrorCode.objects.filter(code__in=["InternalError", "CX011", "CX026", "CX009"]).count() == 4:
            raise SystemExit("the playbook lacks the codes this benchmark uses")
        identities = list(plan)
        for s in range(SITES):
            chunk = identities[s::SITES]
            registration.stations_register_bulk(entries=[(i, PASSWORD) for i in chunk], site_name=f"Fault site {s}")
            Site.objects.filter(name=f"Fault site {s}").update(
                latitude=Decimal("52.0") + Decimal(s) / 10, longitude=Decimal("4.5") + Decimal(s) / 10
            )
        User = get_user_model()
        for t in range(self.args.technicians):
            user = User.objects.create_user(username=f"faultbench-tech-{t}")
            Technician.objects.create(
                user=user,
                skills=SKILLS,
                home_latitude=Decimal("52.0") + Decimal(t % SITES) / 10,
                home_longitude=Decimal("4.5") + Decimal(t % SITES) / 10,
                work_start="00:00",
                work_end="23:59",
            )
        log(f"database ready in {time.monotonic() - started:.1f} s: {len(identities)} stations, "
            f"{self.args.technicians} technicians, db {self.env.db_label}, redis {self.env.redis_label}")  # fmt: skip

    def start_server_and_workers(self) -> None:
        args = self.args
        server = self.env.start("server", server_argv(args.port))
        for w in range(args.workers):
            argv = worker_argv(self.env.queue, str(w), pool=args.pool, concurrency=args.concurrency)
            self.env.start(f"worker{w}", argv)
        try:
            wait_listening(args.port, server)
        except SystemExit:
            raise SystemExit(f"the server did not start:\n{self.env.tail('server')}") from None
        log(f"server on port {args.port}, {args.workers} worker(s) x {args.concurrency} ({args.pool})")

    def start_fleet(self, plan_path: Path) -> None:
        args = self.args
        argv = [sys.executable, str(Path(__file__).resolve()), "--fleet-child", "--plan", str(plan_path),
                "--url", f"ws://127.0.0.1:{args.port}/ocpp/", "--reboot-s", str(args.reboot_s),
                "--ramp-up-s", str(args.ramp_up_s)]  # fmt: skip
        fleet = self.env.start("fleet", argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)

        def read() -> None:
            for line in fleet.stdout:
                try:
                    self.fleet_lines.put(json.loads(line))
                except ValueError:
                    pass

        threading.Thread(target=read, daemon=True).start()

    def fleet_send(self, command: str) -> None:
        fleet = self.env.processes["fleet"]
        fleet.stdin.write(command + "\n")
        fleet.stdin.flush()

    def fleet_event(self, name: str, timeout: float) -> dict:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                message = self.fleet_lines.get(timeout=0.5)
            except queue.Empty:
                if self.env.processes["fleet"].poll() is not None:
                    raise SystemExit(f"the fleet exited:\n{self.env.tail('fleet')}") from None
                continue
            if message.get("event") == name:
                return message
        raise SystemExit(f"no {name!r} from the fleet within {timeout} s")

    def profile_start(self) -> None:
        target = self.env.processes["server" if self.args.profile == "server" else "worker0"]
        self.profiler.start("fault phase", target.pid, subprocesses=True)

    def profile_stop(self) -> dict | None:
        self.profiler.stop()
        return self.profiler.summaries(self.args.profile_top).get("fault phase")

    def stop_all(self) -> None:
        self.profiler.stop()
        fleet = self.env.processes.get("fleet")
        if fleet and fleet.poll() is None:
            try:
                self.fleet_send("stop")
                fleet.wait(20)
            except (OSError, subprocess.TimeoutExpired):
                fleet.kill()
        self.env.stop_all()

    def cpu_sampler(self) -> Sampler:
        """This run's processes (server, workers and their pools, fleet, this one, an embedded Redis)
        against the machine, which may be shared."""

        def groups() -> dict:
            named: dict[str, tuple[list[int], bool]] = {"this process": ([os.getpid()], False)}
            for name, process in self.env.processes.items():
                group = "workers" if name.startswith("worker") else name
                named.setdefault(group, ([], True))[0].append(process.pid)
            if self.env.redis_process:
                named["redis"] = ([self.env.redis_process.pid], False)
            return named

        return Sampler(groups, track_others=True)


# --------------------------------------------------------------------------
# Measuring
# --------------------------------------------------------------------------


def wait_connected(count: int, timeout: float) -> float:
    from stations.models import ChargingStation, Connector

    started = time.monotonic()
    deadline = started + timeout
    while time.monotonic() < deadline:
        connected = ChargingStation.objects.filter(identity__startswith=PREFIX, connected=True).count()
        reported = Connector.objects.filter(
            station__identity__startswith=PREFIX, connector_id=1, status="Available"
        ).count()
        if connected == count and reported == count:
            return time.monotonic() - started
        time.sleep(1)
    raise SystemExit(f"only {connected}/{count} chargers connected, {reported} reported, after {timeout} s")


def cpu_line(sampler: Sampler) -> str:
    """The machine's CPU, this run's share of it by process group, and the busiest other processes."""
    summary = sampler.summary()
    if not summary:
        return "no samples"
    ours = {k[: -len("_cpu")]: v["avg"] for k, v in summary.items() if k.endswith("_cpu") and k[:-4] not in (
        "machine", "other")}  # fmt: skip
    parts = ", ".join(f"{name} {value:.0f}%" for name, value in sorted(ours.items(), key=lambda kv: -kv[1]))
    return (
        f"machine {summary['machine_cpu']['avg']:.0f}% of {os.cpu_count() * 100}% (this run's processes "
        f"{sum(ours.values()):.0f}%: {parts}; other processes: {sampler.others_summary()})"
    )


class Sweeper(threading.Thread):
    """Sends the remediation sweep every interval, as the beat schedule would (same expiry rule)."""

    def __init__(self, interval: float):
        super().__init__(daemon=True)
        self.interval = interval
        self.stopped = threading.Event()
        self.sent = 0

    def run(self) -> None:
        from config.celery import app

        while not self.stopped.wait(self.interval):
            app.send_task("workorders.tasks.remediation_sweep", expires=self.interval * 0.9)
            self.sent += 1


def progress(since) -> dict:
    from django.db.models import Count, Q

    from workorders.models import Incident

    return Incident.objects.filter(station__identity__startswith=PREFIX, opened_at__gte=since).aggregate(
        opened=Count("pk"),
        closed=Count("pk", filter=Q(status="closed")),
        dispatched=Count("pk", filter=Q(status="dispatched")),
        remediating=Count("pk", filter=Q(status="remediating")),
    )


def queued_tasks() -> int | None:
    """Tasks waiting in this run's Celery queue (kombu keeps one Redis list per priority step)."""
    import redis
    from django.conf import settings

    queue_name = settings.CELERY_TASK_DEFAULT_QUEUE
    try:
        client = redis.Redis.from_url(settings.REDIS_URL, socket_timeout=2)
        return sum(client.llen(key) for key in [queue_name, *(f"{queue_name}\x06\x16{p}" for p in (3, 6, 9))])
    except redis.RedisError:
        return None


def collect(since, plan: dict[str, str], args) -> dict:
    """Per-incident outcome and time to decision, commands sent and their outcomes."""
    from django.db.models import Count, Min

    from stations.models import RemoteCommand
    from workorders.models import Incident, WorkOrder

    rows = list(
        Incident.objects.filter(station__identity__startswith=PREFIX, opened_at__gte=since)
        .annotate(order_at=Min("work_orders__created_at"))
        .values_list("station__identity", "status", "resolution", "opened_at", "closed_at", "order_at")
    )
    outcomes: Counter = Counter()
    by_group: dict[str, Counter] = {g: Counter() for g in GROUPS}
    to_decision, to_open = [], []
    group_times: dict[str, list[float]] = {}
    undecided = 0
    for identity, status, resolution, opened_at, closed_at, order_at in rows:
        if status == "closed":
            outcome, decided = resolution, closed_at
        elif status == "dispatched" and order_at is not None:
            outcome, decided = "dispatched", order_at
        else:
            outcome, decided = f"undecided ({status})", None
            undecided += 1
        outcomes[outcome] += 1
        by_group[plan.get(identity, "?")][outcome] += 1
        to_open.append((opened_at - since).total_seconds())
        if decided is not None:
            to_decision.append((decided - since).total_seconds())
            group_times.setdefault(plan.get(identity, "?"), []).append(to_decision[-1])
    after_window = windows_closed(since, args)
    commands = RemoteCommand.objects.filter(station__identity__startswith=PREFIX, created_at__gte=since)
    by_command = Counter(
        {f"{a} {s}": n for a, s, n in commands.values_list("action", "status").annotate(n=Count("pk"))}
    )
    orders = WorkOrder.objects.filter(station__identity__startswith=PREFIX, created_at__gte=since)
    return {
        "incidents": len(rows),
        "undecided": undecided,
        "outcomes": dict(outcomes),
        "by_group": {g: dict(c) for g, c in by_group.items() if c},
        "group_times": group_times,
        "to_decision": to_decision,
        "to_open": to_open,
        "after_window": after_window,
        "commands": dict(by_command),
        "work_orders": orders.count(),
        "work_orders_unassigned": orders.filter(technician__isnull=True).count(),
    }


def windows_closed(since, args) -> dict[str, list[float]]:
    """Per incident decided at a check (a truck roll, or closed as not the equipment's), seconds
    from its remediation window closing to the decision, by outcome.

    The window closes when its last wait is over: `--grace-s` after the incident opened when no
    remote step ran, else `--wait-s` after the last step was sent, or when the charger's answer
    to that step came (or its timeout passed), whichever is later, since no step is judged
    before its answer. Incidents the charger closed itself by reporting recovery have no window
    to wait for and are not counted here."""
    from datetime import timedelta

    from django.db.models import Max, Min

    from workorders.models import Incident, IncidentStep

    incidents = Incident.objects.filter(station__identity__startswith=PREFIX, opened_at__gte=since)
    decided = {
        pk: (outcome, opened_at, closed_at or order_at)
        for pk, outcome, opened_at, closed_at, order_at in incidents.filter(status__in=["dispatched", "closed"])
        .exclude(resolution__in=["remote", "self_cleared"])
        .annotate(order_at=Min("work_orders__created_at"))
        .values_list("pk", "status", "opened_at", "closed_at", "order_at")
    }
    last_wait = dict(
        IncidentStep.objects.filter(incident_id__in=decided, kind="wait")
        .values("incident_id")
        .annotate(at=Max("at"))
        .values_list("incident_id", "at")
    )
    answered: dict[int, object] = {}
    for incident_id, sent_at, created_at, completed_at, timeout_s in IncidentStep.objects.filter(
        incident_id__in=last_wait, kind="command", command__isnull=False
    ).values_list(
        "incident_id", "command__sent_at", "command__created_at", "command__completed_at", "command__timeout_s"
    ):
        ended = completed_at or (sent_at or created_at) + timedelta(seconds=timeout_s)
        answered[incident_id] = max(answered.get(incident_id, ended), ended)
    delays: dict[str, list[float]] = {}
    for pk, (outcome, opened_at, decided_at) in decided.items():
        if decided_at is None:
            continue
        if pk in last_wait:
            closes = last_wait[pk] + timedelta(seconds=args.wait_s)
            closes = max(closes, answered.get(pk, closes))
        else:
            closes = opened_at + timedelta(seconds=args.grace_s)
        delays.setdefault(outcome, []).append((decided_at - closes).total_seconds())
    return delays


def report(
    args, run: Run, result: dict, timings: dict, fleet_stats: dict, sweeper: Sweeper, cpu: Sampler, profile
) -> dict:
    decisions = result["to_decision"]
    last = max(decisions) if decisions else float("nan")
    n = len(decisions)
    print()
    print(f"=== {args.chargers} simultaneous faults, db {run.env.db_label}, redis {run.env.redis_label}, "
          f"{args.workers} worker(s) x {args.concurrency} {args.pool}, wait {args.wait_s} s, "
          f"grace {args.grace_s} s, sweep every {args.sweep_interval} s")  # fmt: skip
    print(f"fleet connected in {timings['connect_s']:.1f} s; every fault reported (StatusNotification answered) "
          f"{timings['reported_s']:.2f} s after the fault instant")  # fmt: skip
    opened = result["to_open"] or [float("nan")]
    print(f"incidents: {result['incidents']} opened (all opened by {max(opened):.2f} s, "
          f"p50 {percentile(opened, 50):.2f} s), {n} decided, {result['undecided']} undecided")  # fmt: skip
    if result["undecided"]:
        print(f"time to last decision: NOT REACHED, {result['undecided']} of {result['incidents']} incidents "
              f"undecided after {timings['observed_all_decided_s']:.0f} s (--deadline)")  # fmt: skip
    if decisions:
        label = "time to last decision" if not result["undecided"] else "last decision so far"
        print(f"{label}: {last:.2f} s   decisions/s: {n / last:.1f}")
        print(f"time to decision per incident: p50 {percentile(decisions, 50):.2f} s  "
              f"p95 {percentile(decisions, 95):.2f} s  p99 {percentile(decisions, 99):.2f} s  "
              f"mean {statistics.mean(decisions):.2f} s")  # fmt: skip
    after = [d for values in result["after_window"].values() for d in values]
    if after:
        print(f"decision after its window closed, per incident ({len(after)} truck rolls and not-equipment "
              f"closes): p50 {percentile(after, 50):.2f} s  p99 {percentile(after, 99):.2f} s  "
              f"max {max(after):.2f} s")  # fmt: skip
        for outcome, values in sorted(result["after_window"].items()):
            print(f"  {outcome:<10} {len(values)}: p50 {percentile(values, 50):.2f} s  "
                  f"p99 {percentile(values, 99):.2f} s  max {max(values):.2f} s")  # fmt: skip
    labels = {"remote": "remote", "dispatched": "dispatched", "not_equipment": "not_equipment",
              "self_cleared": "self_cleared"}  # fmt: skip
    outcomes = result["outcomes"]
    print("outcomes: " + ", ".join(f"{labels.get(k, k)} {v}" for k, v in sorted(outcomes.items())))
    for group, counts in result["by_group"].items():
        times = result["group_times"].get(group)
        timing = f"  (decided: p50 {percentile(times, 50):.1f} s, max {max(times):.1f} s)" if times else ""
        print(f"  {group:<10} " + ", ".join(f"{k} {v}" for k, v in sorted(counts.items())) + timing)
    sent = sum(result["commands"].values())
    print(f"commands sent: {sent} (" + ", ".join(f"{k} {v}" for k, v in sorted(result["commands"].items())) + ")")
    print(f"work orders: {result['work_orders']} ({result['work_orders_unassigned']} without a technician); "
          f"sweeps sent: {sweeper.sent}")  # fmt: skip
    print(f"chargers: {fleet_stats.get('summary', '?')}")
    print(f"CPU during the fault phase: {cpu_line(cpu)}")
    errors = run.env.log_errors()
    charger_errors = fleet_stats.get("callerrors", 0) + fleet_stats.get("timeouts", 0)
    failed_commands = sum(v for k, v in result["commands"].items() if not k.endswith(" accepted"))
    print(f"errors: {charger_errors} charger CALLERRORs/timeouts, {failed_commands} commands not accepted, "
          f"{result['undecided']} incidents undecided, log error lines: "
          f"{ {name: len(lines) for name, lines in errors.items()} or 'none'}")  # fmt: skip
    for name, lines in errors.items():
        for line in lines:
            print(f"  {name}: {line}")
    for line in fleet_stats.get("last_errors", [])[:5]:
        print(f"  charger: {line}")
    if profile:
        sections = [("inside the project's code, inclusive % of the project's samples", "project"),
                    ("innermost project frame -> the call it was in", "project_leaves"),
                    ("all samples, self %", "self")]  # fmt: skip
        print("\n".join(["", *format_profile(f"profile of the {args.profile}", profile, sections)]))
    return {
        "chargers": args.chargers,
        "db": run.env.db_label,
        "redis": run.env.redis_label,
        "workers": args.workers,
        "concurrency": args.concurrency,
        "time_to_last_decision_s": last,
        "decisions_per_s": n / last if decisions else None,
        "p50_s": percentile(decisions, 50) if decisions else None,
        "p95_s": percentile(decisions, 95) if decisions else None,
        "p99_s": percentile(decisions, 99) if decisions else None,
        "after_window_s": {
            "p50": percentile(after, 50) if after else None,
            "p99": percentile(after, 99) if after else None,
            "max": max(after) if after else None,
            "count": len(after),
        },
        "outcomes": outcomes,
        "by_group": result["by_group"],
        "commands": result["commands"],
        "undecided": result["undecided"],
        "log_errors": errors,
        "fleet": fleet_stats,
        "timings": timings,
        "cpu": cpu_line(cpu),
        "profile": profile,
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--chargers", "-n", type=int, default=1000)
    parser.add_argument("--driver-share", type=float, default=0.02, help="share of CX009 (driver) faults")
    parser.add_argument("--technicians", type=int, default=8)
    parser.add_argument("--workers", type=int, default=1, help="Celery worker processes (each with its pool)")
    parser.add_argument("--concurrency", type=int, default=4, help="pool size of each worker")
    parser.add_argument("--pool", default="prefork", choices=["prefork", "threads", "solo"])
    parser.add_argument("--grace-s", type=int, default=0)
    parser.add_argument("--wait-s", type=int, default=2, help="REMEDIATION_WAIT_S")
    parser.add_argument("--command-timeout-s", type=int, default=10)
    parser.add_argument("--sweep-interval", type=float, default=0.5)
    parser.add_argument("--reboot-s", type=float, default=0.5, help="how long a reset keeps a charger away")
    parser.add_argument("--ramp-up-s", type=float, default=20.0, help="spread the fleet's connections over")
    parser.add_argument("--port", type=int, default=8950)
    parser.add_argument("--db", default="env", choices=["env", "sqlite", "postgres"])
    parser.add_argument("--pg-url", default="postgres://postgres@127.0.0.1:5432/evops_faultbench")
    parser.add_argument("--redis", default="env", help="env (REDIS_URL, else embedded), embedded, or a URL")
    parser.add_argument("--connect-timeout", type=float, default=300)
    parser.add_argument("--deadline", type=float, default=600, help="seconds the fault phase may take at most")
    parser.add_argument("--py-spy", default="", help="path of py-spy: profile during the fault phase")
    parser.add_argument("--profile", default="workers", choices=["workers", "server"])
    parser.add_argument("--profile-top", type=int, default=25)
    parser.add_argument(
        "--py-spy-arg", action="append", default=[], help="passed to py-spy record, e.g. --py-spy-arg=--idle"
    )
    parser.add_argument("--json", default="", help="write the report to this file")
    parser.add_argument("--keep", action="store_true", help="keep the run folder (logs) and the database")
    # The fleet's own process.
    parser.add_argument("--fleet-child", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--plan", help=argparse.SUPPRESS)
    parser.add_argument("--url", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.fleet_child:
        return fleet_main(args)

    run = Run(args)
    sweeper = Sweeper(args.sweep_interval)
    cpu = run.cpu_sampler()
    try:
        run.env.__enter__()
        plan = plan_faults(args.chargers, args.driver_share)
        plan_path = run.env.run_dir / "plan.json"
        plan_path.write_text(json.dumps(plan))
        log(f"fault plan: {dict(Counter(plan.values()))}")
        run.prepare(plan)
        run.start_server_and_workers()
        run.start_fleet(plan_path)
        connect_s = wait_connected(args.chargers, args.connect_timeout)
        log(f"{args.chargers} chargers connected and reported in {connect_s:.1f} s")
        time.sleep(3)  # let the last reports' tasks drain

        from datetime import UTC, datetime

        run.profile_start()
        sweeper.start()
        cpu.start()
        run.fleet_send("fault")
        faulted = run.fleet_event("faulted", timeout=120)
        since = datetime.fromtimestamp(faulted["at"], UTC)
        timings = {"connect_s": connect_s, "reported_s": faulted["all_reported"] - faulted["at"]}
        log(f"faults reported by every charger in {timings['reported_s']:.2f} s; waiting for every decision")
        deadline = time.monotonic() + args.deadline
        last_print = 0.0
        while True:
            state = progress(since)
            done = state["closed"] + state["dispatched"]
            if state["opened"] >= args.chargers and done >= state["opened"]:
                break
            if time.monotonic() > deadline:
                log(f"deadline of {args.deadline} s reached: {state}")
                break
            if time.monotonic() - last_print > 5:
                log(f"{time.time() - faulted['at']:.0f} s: {state}, {queued_tasks()} tasks queued")
                last_print = time.monotonic()
            time.sleep(0.25)
        timings["observed_all_decided_s"] = time.time() - faulted["at"]
        sweeper.stopped.set()
        cpu.stop()
        profile = run.profile_stop()
        time.sleep(1)
        result = collect(since, plan, args)
        run.fleet_send("stop")
        fleet_stats = run.fleet_event("stopped", timeout=60)
        run.stop_all()
        summary = report(args, run, result, timings, fleet_stats, sweeper, cpu, profile)
        if args.json:
            Path(args.json).write_text(json.dumps(summary, indent=2, default=str))
    finally:
        sweeper.stopped.set()
        cpu.stop()
        run.stop_all()
        run.env.cleanup()
    return 0


if __name__ == "__main__":
    sys.exit(main())
