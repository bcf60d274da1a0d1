#!/usr/bin/env python
"""OCPP 1.6J load benchmark: many chargers against one (or a few) server processes.

    python benchmarks/ocpp_load.py --chargers 1000 --duration 120
    python benchmarks/ocpp_load.py --chargers 1000 --db postgres --redis redis://127.0.0.1:6379/0
    python benchmarks/ocpp_load.py --chargers 1000 --reconnect-storm
    python benchmarks/ocpp_load.py --find-max --heartbeat 10 --meter-interval 5
    python benchmarks/ocpp_load.py --url ws://127.0.0.1:8000/ocpp/ --chargers 100   # a running server
    python benchmarks/ocpp_load.py --chargers 1000 --compare-reference                 # against ocpp_reference.py
    python benchmarks/ocpp_load.py --chargers 2000 --saturation --compare-reference     # highest CALLs/s of each

Without --url it prepares a database (migrate, register BENCH-000001.. with one
known password, one accepted id tag), starts uvicorn the way production does,
opens the chargers at a fixed connection rate, holds them for --duration
seconds of steady traffic, and prints latency per CALL, errors, the server's
CPU and memory, and whether every frame reached the frame log. With
--compare-reference the same workload then runs against the reference
server (the ocpp library on plain websockets, benchmarks/ocpp_reference.py)
and the two are printed side by side; --saturation steps up the offered
CALL rate of the fleet instead of holding it. See benchmarks/README.md.

The chargers are small asyncio clients (one websocket each) spread over
--client-processes worker processes; they send only valid OCPP 1.6 payloads
and keep at most one CALL outstanding each.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import math
import multiprocessing as mp
import os
import queue
import random
import signal
import subprocess
import sys
import tempfile
import time
from collections import Counter, defaultdict
from datetime import UTC, datetime
from pathlib import Path

from harness import (
    DEFAULT_PG_URL,
    Environment,
    PostgresProcesses,
    PySpy,
    Sampler,
    code_version,
    format_profile,
    kill_tree,
    latency_table,
    listening_pids,
    log,
    percentiles,
    port_open,
    read_jsonl,
    server_argv,
    stop_tree,
    table,
    tree_rss_mb,
    wait_listening,
)

from stations.simulator.transport import Backoff, CallErrored, CallTimeout, Observer, OcppConnection, OcppLink

SETUP, RAMP, STEADY, DRAIN, STORM, STOP = range(6)
PHASES = {SETUP: "setup", RAMP: "ramp", STEADY: "steady", DRAIN: "drain", STORM: "storm", STOP: "stop"}

# CALLs at least this slow are kept with their time, to line them up with CPU samples.
SLOW_MS = 100.0
ID_TAG = "BENCH-TAG-1"
VENDOR, MODEL = "BenchVendor", "BenchModel-1"


# --------------------------------------------------------------------------
# OCPP payloads
# --------------------------------------------------------------------------


def iso_now(at: float | None = None) -> str:
    moment = datetime.fromtimestamp(at if at is not None else time.time(), UTC)
    return moment.isoformat(timespec="milliseconds").replace("+00:00", "Z")


def boot_payload(identity: str) -> dict:
    return {
        "chargePointVendor": VENDOR,
        "chargePointModel": MODEL,
        "chargePointSerialNumber": identity[-25:],
        "firmwareVersion": "1.4.2-bench",
        "meterType": "BenchMeter",
    }


def status_payload(status: str) -> dict:
    return {"connectorId": 1, "errorCode": "NoError", "status": status, "timestamp": iso_now()}


def start_payload(meter_start: int) -> dict:
    return {"connectorId": 1, "idTag": ID_TAG, "meterStart": meter_start, "timestamp": iso_now()}


def meter_payload(transaction_id: int, energy_wh: int, power_w: float, soc: int) -> dict:
    current = power_w / 230.0
    periodic = "Sample.Periodic"
    return {
        "connectorId": 1,
        "transactionId": transaction_id,
        "meterValue": [
            {
                "timestamp": iso_now(),
                "sampledValue": [
                    {"value": str(energy_wh), "context": periodic, "measurand": "Energy.Active.Import.Register",
                     "location": "Outlet", "unit": "Wh"},
                    {"value": f"{power_w:.1f}", "context": periodic, "measurand": "Power.Active.Import", "unit": "W"},
                    {"value": f"{current:.2f}", "context": periodic, "measurand": "Current.Import", "phase": "L1",
                     "unit": "A"},
                    {"value": f"{random.uniform(226, 234):.1f}", "context": periodic, "measurand": "Voltage",
                     "phase": "L1-N", "unit": "V"},
                    {"value": str(soc), "context": periodic, "measurand": "SoC", "location": "EV",
                     "unit": "Percent"},
                ],
            }
        ],
    }  # fmt: skip


def check_payloads() -> list[str]:
    """Validate one sample of every payload against the OCPP 1.6 JSON schemas."""
    try:
        import ocpp
        from jsonschema import Draft4Validator
    except ImportError:
        return ["schemas not checked: the ocpp or jsonschema package is missing"]
    schema_dir = Path(ocpp.__file__).parent / "v16" / "schemas"
    samples = {
        "BootNotification": boot_payload("BENCH-000001"),
        "StatusNotification": status_payload("Available"),
        "StartTransaction": start_payload(1000),
        "MeterValues": meter_payload(1, 1500, 7200.0, 40),
        "Heartbeat": {},
    }
    problems = []
    for action, payload in samples.items():
        schema = json.loads((schema_dir / f"{action}.json").read_text(encoding="utf-8-sig"))
        for error in Draft4Validator(schema).iter_errors(payload):
            problems.append(f"{action}: {error.message}")
    return problems


# --------------------------------------------------------------------------
# Client side: one worker process holds many chargers
# --------------------------------------------------------------------------


class Shared:
    """Counters and the phase, shared by the orchestrator and the workers."""

    def __init__(self, ctx):
        self.phase = ctx.Value("i", SETUP)
        self.start_at = ctx.Value("d", 0.0)
        self.ready = ctx.Value("i", 0)  # chargers done with boot, status (and start) in the ramp
        self.storm_booted = ctx.Value("i", 0)  # chargers accepted again after the restart
        self.held = ctx.Value("i", 0)  # open websockets now
        self.inflight = ctx.Value("i", 0)  # CALLs waiting for an answer now
        self.answered = ctx.Value("i", 0)  # CALLs answered so far
        self.failed = ctx.Value("i", 0)  # CALLERRORs, timeouts and CALLs lost by a disconnect so far
        # Saturation: 2k-1 while step k warms up, 2k while it is measured (0: no steps), the intervals
        # every charger uses in it, and its answers at or above the p99 limit (so the orchestrator can
        # tell whether p99 stayed under it without the latencies).
        self.step = ctx.Value("i", 0)
        self.heartbeat_s = ctx.Value("d", 0.0)
        self.meter_s = ctx.Value("d", 0.0)
        self.slow_limit_ms = ctx.Value("d", 0.0)
        self.step_answered = ctx.Value("i", 0)
        self.step_slow = ctx.Value("i", 0)


def _add(value, delta: int = 1) -> None:
    with value.get_lock():
        value.value += delta


class Stats:
    def __init__(self):
        self.latency: dict[str, list[float]] = defaultdict(list)  # "phase|action" -> ms
        self.sent: Counter = Counter()  # "phase|action"
        self.answered: Counter = Counter()
        self.callerrors: Counter = Counter()  # "phase|action|code"
        self.timeouts: Counter = Counter()  # "phase|action"
        self.lost: Counter = Counter()  # CALLs whose connection closed before the answer: "phase|action"
        self.conn_attempts: Counter = Counter()  # phase
        self.conn_ok: Counter = Counter()
        self.conn_failed: Counter = Counter()  # "phase|reason"
        self.handshake: dict[str, list[float]] = defaultdict(list)  # phase -> ms
        self.disconnects: Counter = Counter()  # "phase|close code"
        self.boot_status: Counter = Counter()  # "phase|status"
        self.boot_accepted_at: list[float] = []  # wall times, first boot of each charger
        self.ready_at: list[float] = []  # wall times, boot + status (+ start) answered
        self.storm_booted_at: list[float] = []  # wall times, first accepted boot after the restart
        self.intervals: Counter = Counter()  # heartbeat interval the server handed out
        self.slow: list[list] = []  # [wall time, action, ms] of CALLs slower than SLOW_MS
        self.server_calls = 0
        self.unmatched = 0
        self.bad_frames = 0
        self.transactions = 0

    def as_dict(self) -> dict:
        return {name: (dict(value) if isinstance(value, dict) else value) for name, value in vars(self).items()}


class BenchObserver(Observer):
    """Counts what the transport reports into the worker's Stats, keyed by the phase it happened in."""

    def __init__(self, worker: Worker):
        self.w = worker

    def _key(self, action: str) -> str:
        return f"{self.w.label}|{action}"

    def connecting(self) -> None:
        self.w.stats.conn_attempts[self.w.label] += 1

    def connected(self, handshake_ms: float) -> None:
        phase = self.w.label
        self.w.stats.handshake[phase].append(round(handshake_ms, 3))
        self.w.stats.conn_ok[phase] += 1

    def connect_failed(self, reason: str) -> None:
        self.w.stats.conn_failed[f"{self.w.label}|{reason}"] += 1

    def disconnected(self, close_code: int | None) -> None:
        if self.w.phase < STOP:
            self.w.stats.disconnects[f"{self.w.label}|{close_code or 1006}"] += 1

    def call_sent(self, action: str) -> None:
        self.w.stats.sent[self._key(action)] += 1
        _add(self.w.shared.inflight)

    def call_answered(self, action: str, ms: float) -> None:
        w, key = self.w, self._key(action)
        _add(w.shared.inflight, -1)
        w.stats.latency[key].append(round(ms, 3))
        if ms >= SLOW_MS:
            w.stats.slow.append([time.time(), action, round(ms, 3)])
        w.stats.answered[key] += 1
        _add(w.shared.answered)
        if w.measuring_step:
            _add(w.shared.step_answered)
            if ms >= w.slow_limit_ms:
                _add(w.shared.step_slow)

    def call_errored(self, action: str, ms: float, code: str, description: str) -> None:
        self.call_answered(action, ms)  # an answer all the same, as fast or slow as a CALLRESULT
        self.w.stats.callerrors[f"{self._key(action)}|{code}"] += 1
        _add(self.w.shared.failed)

    def call_timed_out(self, action: str) -> None:
        _add(self.w.shared.inflight, -1)
        self.w.stats.timeouts[self._key(action)] += 1
        _add(self.w.shared.failed)

    def call_lost(self, action: str) -> None:
        _add(self.w.shared.inflight, -1)
        self.w.stats.lost[self._key(action)] += 1
        _add(self.w.shared.failed)

    def server_call(self, action: object) -> None:
        self.w.stats.server_calls += 1

    def frame_dropped(self, why: str, raw: str | bytes) -> None:
        if why == "unreadable":
            self.w.stats.bad_frames += 1
        else:
            self.w.stats.unmatched += 1


class Charger:
    """A lightweight charger on the simulator's transport: boot, status, maybe a session, then
    heartbeats and meter values on a fixed schedule. It answers no server CALL (NotSupported)."""

    def __init__(self, worker: Worker, index: int, identity: str, url: str, in_session: bool):
        cfg = worker.cfg
        self.w = worker
        self.index = index
        self.identity = identity
        self.in_session = in_session
        self.link = OcppLink(
            url,
            identity,
            cfg["password"],
            observer=worker.observer,
            call_timeout_s=cfg["call_timeout"],
            open_timeout_s=cfg["open_timeout"],
            # Back off like a real charger: doubling, capped, with jitter, so a whole
            # fleet does not come back in lock-step.
            backoff=Backoff(cfg["backoff_min"], cfg["backoff_max"], worker.rng),
            ping_interval=None,  # the server pings every 20 s; the charger answers
            close_timeout=2,
            proxy=None,
            max_queue=4,
        )
        self.connection: OcppConnection | None = None
        self.wake: asyncio.Future | None = None
        self.booted_once = False
        self.storm_booted = False
        self.ready = False
        self.transaction_id: int | None = None
        self.energy_wh = random.randint(100_000, 5_000_000)
        self.power_w = random.choice([3700.0, 7400.0, 11000.0, 22000.0])
        self.soc = random.randint(10, 60)
        self.last_meter = time.time()
        self.heartbeat = cfg["heartbeat"]
        self.next_heartbeat: float | None = None
        self.next_meter: float | None = None
        self.schedule = 0  # the worker's schedule generation these due times follow

    async def pause(self, delay: float) -> None:
        """Sleep; woken early when the phase changes (a closed socket cancels the sleeper)."""
        loop = self.w.loop
        fut = loop.create_future()
        handle = loop.call_later(max(0.0, delay), _resolve, fut)
        self.wake = fut
        try:
            await fut
        finally:
            handle.cancel()
            self.wake = None

    def poke(self) -> None:
        if self.wake is not None:
            _resolve(self.wake)

    async def call(self, action: str, payload: dict) -> dict | None:
        """The CALLRESULT's payload; None after a timeout or CALLERROR (the observer counted it)."""
        try:
            return await self.connection.call(action, payload)
        except (CallTimeout, CallErrored):
            return None

    async def run(self) -> None:
        await self.link.run(self.online, sleep=self.pause)

    async def online(self, connection: OcppConnection) -> None:
        self.connection = connection
        self.link.backoff.reset()
        _add(self.w.shared.held)
        try:
            await self.boot_sequence()
            await self.steady()
            await asyncio.Event().wait()  # hold the connection until it closes
        finally:
            _add(self.w.shared.held, -1)

    async def boot_sequence(self) -> None:
        w = self.w
        while True:
            answer = await self.call("BootNotification", boot_payload(self.identity))
            if answer is None:  # timeout or CALLERROR: retry as a charger would
                await self.pause(min(10.0, w.cfg["call_timeout"]))
                continue
            status = answer.get("status")
            w.stats.boot_status[f"{PHASES[w.phase]}|{status}"] += 1
            if status == "Accepted":
                interval = answer.get("interval") or w.cfg["heartbeat"]
                w.stats.intervals[str(interval)] += 1
                if not w.cfg["heartbeat_from_client"]:
                    self.heartbeat = interval
                break
            await self.pause(max(1, answer.get("interval") or 10))
        now = time.time()
        if not self.booted_once:
            self.booted_once = True
            w.stats.boot_accepted_at.append(now)
        if w.phase == STORM and not self.storm_booted:
            self.storm_booted = True
            w.stats.storm_booted_at.append(now)
            _add(w.shared.storm_booted)
        status = "Charging" if self.transaction_id else ("Preparing" if self.in_session else "Available")
        await self.call("StatusNotification", status_payload(status))
        if self.in_session and self.transaction_id is None:
            self.energy_wh += 1
            answer = await self.call("StartTransaction", start_payload(self.energy_wh))
            if answer and isinstance(answer.get("transactionId"), int):
                self.transaction_id = answer["transactionId"]
                w.stats.transactions += 1
                await self.call("StatusNotification", status_payload("Charging"))
        if not self.ready:
            self.ready = True
            w.stats.ready_at.append(time.time())
            _add(w.shared.ready)

    def heartbeat_s(self) -> float:
        return self.w.heartbeat_override or self.heartbeat

    def meter_s(self) -> float:
        return self.w.meter_override or self.w.cfg["meter_interval"]

    def reschedule(self) -> None:
        """First sends after a (re)start or a change of intervals are spread over the whole
        interval, so the load is smooth rather than a burst."""
        now = self.w.loop.time()
        self.schedule = self.w.schedule
        self.next_heartbeat = now + random.uniform(0, self.heartbeat_s())
        if self.transaction_id is not None:
            self.next_meter = now + random.uniform(0, self.meter_s())

    async def steady(self) -> None:
        w = self.w
        loop = w.loop
        if self.next_heartbeat is None or (self.next_meter is None and self.transaction_id is not None):
            self.reschedule()
        while w.phase < DRAIN:
            if self.schedule != w.schedule:
                self.reschedule()
            due = self.next_heartbeat if self.next_meter is None else min(self.next_heartbeat, self.next_meter)
            delay = due - loop.time()
            if delay > 0:
                await self.pause(delay)
                continue
            if self.next_meter is not None and self.next_meter <= self.next_heartbeat:
                self.next_meter = _next(self.next_meter, self.meter_s(), loop.time())
                await self.call("MeterValues", self.meter_values())
            else:
                self.next_heartbeat = _next(self.next_heartbeat, self.heartbeat_s(), loop.time())
                await self.call("Heartbeat", {})

    def meter_values(self) -> dict:
        now = time.time()
        self.energy_wh += max(1, int(self.power_w * (now - self.last_meter) / 3600.0))
        self.last_meter = now
        self.soc = min(100, self.soc + random.choice([0, 0, 1]))
        return meter_payload(self.transaction_id, self.energy_wh, self.power_w * random.uniform(0.97, 1.0), self.soc)


def _resolve(future: asyncio.Future) -> None:
    if not future.done():
        future.set_result(None)


def step_label(phase: int, step: int) -> str:
    """Counts of a saturation step are filed under w<k> while it warms up and s<k> while it is measured."""
    if phase == STEADY and step > 0:
        return f"{'s' if step % 2 == 0 else 'w'}{(step + 1) // 2}"
    return PHASES[phase]


def _next(previous: float, interval: float, now: float) -> float:
    """The next due time on a fixed schedule; a late charger skips rather than bursts."""
    following = previous + interval
    return following if following > now else now + interval


class Worker:
    def __init__(self, cfg: dict, worker_id: int, shared: Shared):
        self.cfg = cfg
        self.worker_id = worker_id
        self.shared = shared
        self.stats = Stats()
        self.phase = SETUP
        self.label = PHASES[SETUP]  # what this moment's counts are filed under: the phase, or a saturation step
        self.step = 0
        self.measuring_step = False
        self.slow_limit_ms = float("inf")
        self.heartbeat_override = 0.0  # intervals of the saturation step (0: the run's own)
        self.meter_override = 0.0
        self.schedule = 0
        self.loop: asyncio.AbstractEventLoop | None = None
        self.chargers: list[Charger] = []
        self.observer = BenchObserver(self)
        self.rng = random.Random(cfg["seed"] * 1000 + worker_id)

    async def main(self) -> dict:
        self.loop = asyncio.get_running_loop()
        cfg = self.cfg
        rng = random.Random(cfg["seed"])
        session_set = set(rng.sample(range(cfg["chargers"]), round(cfg["chargers"] * cfg["session_share"])))
        urls = cfg["urls"]
        for index in range(self.worker_id, cfg["chargers"], cfg["client_processes"]):
            identity = f"{cfg['prefix']}{index + 1:06d}"
            self.chargers.append(Charger(self, index, identity, urls[index % len(urls)], index in session_set))
        random.seed(cfg["seed"] * 1000 + self.worker_id)
        control = asyncio.ensure_future(self.control())
        while self.shared.start_at.value == 0.0:
            await asyncio.sleep(0.02)
        start_at = self.shared.start_at.value
        tasks = []
        rate = cfg["rate"]
        for charger in self.chargers:
            if self.phase >= STOP:
                break
            delay = start_at + charger.index / rate - time.time()
            if delay > 0:
                await asyncio.sleep(delay)
            tasks.append(asyncio.ensure_future(charger.run()))
        if tasks:
            await asyncio.wait(tasks)
        control.cancel()
        return self.stats.as_dict()

    async def control(self) -> None:
        """Follow the orchestrator's phase; wake or close chargers when it moves on."""
        while True:
            phase = self.shared.phase.value
            step = self.shared.step.value
            if step != self.step:
                self.step = step
                self.measuring_step = step > 0 and step % 2 == 0
                self.slow_limit_ms = self.shared.slow_limit_ms.value or float("inf")
                if step % 2 == 1:  # a new step starts warming up: new intervals, everyone reschedules
                    self.heartbeat_override = self.shared.heartbeat_s.value
                    self.meter_override = self.shared.meter_s.value
                    self.schedule += 1
                    for charger in self.chargers:
                        charger.poke()
            self.label = step_label(phase, step)
            if phase != self.phase:
                self.phase = phase
                if phase >= DRAIN:
                    for charger in self.chargers:
                        charger.poke()
                if phase >= STOP:
                    await asyncio.gather(*(c.link.stop() for c in self.chargers), return_exceptions=True)
                    for charger in self.chargers:
                        charger.poke()  # one waiting to reconnect
                    return
            await asyncio.sleep(0.05)


def worker_main(cfg: dict, worker_id: int, shared: Shared, results) -> None:
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # the orchestrator decides when to stop
    try:
        import uvloop

        run = uvloop.run
    except ImportError:
        run = asyncio.run
    try:
        stats = run(Worker(cfg, worker_id, shared).main())
        results.put((worker_id, stats, None))
    except BaseException as exc:  # report, never hang the orchestrator
        results.put((worker_id, None, f"{type(exc).__name__}: {exc}"))


# --------------------------------------------------------------------------
# Orchestrator: database, server processes, sampling, report
# --------------------------------------------------------------------------


def prepare(environment: Environment, prefix: str, password: str, chargers: int) -> None:
    """Migrate, register the bench chargers with one password, and one accepted id tag."""
    started = time.time()
    environment.manage("migrate", "--noinput", "-v", "0")
    stations_file = environment.run_dir / "stations.txt"
    stations_file.write_text("".join(f"{prefix}{i:06d} {password}\n" for i in range(1, chargers + 1)))
    out = environment.manage("register_station", "--from-file", str(stations_file))
    environment.manage(
        "shell", "-c", f"from stations.models import IdTag; IdTag.objects.get_or_create(id_tag={ID_TAG!r})"
    )
    log(f"database ready in {time.time() - started:.1f} s ({out.strip()})")


def count_frames(environment: Environment, prefix: str, since: float) -> dict | None:
    code = (
        "import json, datetime\n"
        "from django.db.models import Count\n"
        "from stations.models import FrameLog, ChargingSession, MeterSample\n"
        f"since = datetime.datetime.fromtimestamp({since!r}, datetime.UTC)\n"
        f"frames = FrameLog.objects.filter(created_at__gte=since, station__identity__startswith={prefix!r})\n"
        "by = dict(frames.values_list('direction').annotate(n=Count('id')).values_list('direction', 'n'))\n"
        "print(json.dumps({'frames': sum(by.values()), 'by_direction': by,"
        " 'sessions': ChargingSession.objects.filter(created_at__gte=since).count(),"
        " 'meter_samples': MeterSample.objects.filter(timestamp__gte=since).count()}))\n"
    )
    try:
        return json.loads(environment.manage("shell", "-c", code, timeout=120).strip().splitlines()[-1])
    except (SystemExit, subprocess.TimeoutExpired, ValueError, IndexError) as exc:
        log(f"could not count frames: {exc}")
        return None


class Servers:
    """The server processes under test on consecutive ports: the project (python -m config.serve, each
    possibly a supervisor of --workers server processes) or the reference (benchmarks/ocpp_reference.py)."""

    def __init__(self, environment: Environment, args, heartbeat: int, kind: str = "project"):
        self.environment = environment
        self.args = args
        self.kind = kind
        self.count = args.server_processes
        self.port = args.port
        self.host = args.host
        self.heartbeat = heartbeat
        self.workers = args.workers if kind == "project" else 1
        self.processes: list[subprocess.Popen] = []
        self.generation = 0
        self.name = "server" if kind == "project" else "reference"

    @property
    def urls(self) -> list[str]:
        return [f"ws://{self.host}:{self.port + i}/ocpp/" for i in range(self.count)]

    @property
    def pids(self) -> list[int]:
        """The processes started here; the sampler adds their children (a supervisor's workers)."""
        return [p.pid for p in self.processes if p.poll() is None]

    def argv(self, i: int, wrapped: bool) -> list[str]:
        port = self.port + i
        if self.kind == "reference":
            return [sys.executable, str(Path(__file__).with_name("ocpp_reference.py")), "--host", self.host,
                    "--port", str(port), "--heartbeat", str(self.heartbeat)]  # fmt: skip
        argv = server_argv(port, host=self.host, log_level="warning", wrapped=wrapped)
        if self.workers > 1:
            argv += ["--workers", str(self.workers)]
        return argv

    def start(self) -> float:
        """Start every process; returns the wall time they were started."""
        for i in range(self.count):
            if port_open(self.port + i, self.host):
                raise SystemExit(f"port {self.port + i} is already in use")
        args = self.args
        # WEB_CONCURRENCY too: config.serve's default process count must not come from the caller's environment.
        env = dict(self.environment.env, OCPP_HEARTBEAT_INTERVAL_S=str(self.heartbeat), WS_PING="20",
                   WEB_CONCURRENCY=str(self.workers))  # fmt: skip
        wrapped = False
        if self.kind == "project":
            if args.gc_freeze:
                env["BENCH_GC_FREEZE"] = "1"
            if args.gc_threshold:
                env["BENCH_GC_THRESHOLD"] = args.gc_threshold
            if args.uvicorn_option:
                env["BENCH_UVICORN_OPTIONS"] = json.dumps(dict(_option(o) for o in args.uvicorn_option))
            wrapped = bool(args.gc_log or args.gc_freeze or args.gc_threshold or args.uvicorn_option)
        self.generation += 1
        started = time.time()
        self.processes = []
        for i in range(self.count):
            if args.gc_log and self.kind == "project":
                env["BENCH_GC_LOG"] = str(self.environment.run_dir / f"gc-{i}-{self.generation}.jsonl")
            name = f"{self.name}-{i}-{self.generation}"
            self.processes.append(self.environment.start(name, self.argv(i, wrapped), env=dict(env)))
        return started

    def wait_listening(self, timeout: float = 60) -> float:
        for i, process in enumerate(self.processes):
            try:
                wait_listening(self.port + i, process, host=self.host, timeout=timeout)
            except SystemExit:
                raise SystemExit(f"server {i} did not start:\n{self.log_tail(i)}") from None
        return time.time()

    def kill(self) -> None:
        """SIGKILL every server process and its children (a supervisor's workers would keep the port)."""
        kill_tree(self.processes)

    def stop(self) -> None:
        for process in self.processes:
            if process.poll() is None:
                process.terminate()
        for process in self.processes:
            stop_tree(process)

    def log_tail(self, i: int, lines: int = 15) -> str:
        return self.environment.tail(f"{self.name}-{i}-{self.generation}", lines)

    def gc_pauses(self) -> list[list]:
        """[wall time, generation, ms, collected] of every logged collection, all processes."""
        return read_jsonl(self.environment.run_dir.glob("gc-*.jsonl"))

    def log_problems(self) -> Counter:
        """Count warning and error lines in every server log of this run, by kind."""
        found: Counter = Counter()
        levels = ("WARNING", "ERROR", "CRITICAL")
        for path in self.environment.run_dir.glob(f"{self.name}-*.log"):
            for line in path.read_text(errors="replace").splitlines():
                parts = line.split(maxsplit=4)
                if len(parts) >= 5 and parts[2] in levels:  # the project's format: date time LEVEL logger message
                    found[f"{parts[2]} {parts[3]}: {parts[4][:90]}"] += 1
                elif line.split(":", 1)[0] in levels:  # uvicorn's own format: "ERROR:    message"
                    found[line[:100]] += 1
                elif line.startswith(("AttributeError", "RuntimeError", "ValueError", "KeyError", "TypeError")):
                    found[line[:120]] += 1
        return found


def _option(text: str) -> tuple[str, object]:
    """NAME=VALUE of --uvicorn-option, the value read as JSON when it is JSON (numbers, true, null)."""
    name, _, value = text.partition("=")
    try:
        return name, json.loads(value)
    except ValueError:
        return name, value


class Profiler(PySpy):
    """py-spy on the (first) server process during the phases --profile-phases names."""

    def __init__(self, args, run_dir: Path, servers: Servers | None):
        super().__init__(args.py_spy if servers else None, run_dir, rate=args.profile_rate, extra=args.py_spy_arg)
        self.phases = set(args.profile_phases.split(","))
        self.servers = servers

    def start(self, phase: str) -> None:  # type: ignore[override]
        if self.servers and phase in self.phases:
            label = phase if self.servers.kind == "project" else f"{self.servers.kind}-{phase}"
            super().start(label, self.servers.pids[0], subprocesses=self.servers.workers > 1)
        else:
            self.stop()


def merge(parts: list[dict]) -> dict:
    merged: dict = {}
    for part in parts:
        for name, value in part.items():
            if isinstance(value, dict):
                target = merged.setdefault(name, {})
                for key, item in value.items():
                    if isinstance(item, list):
                        target.setdefault(key, []).extend(item)
                    else:
                        target[key] = target.get(key, 0) + item
            elif isinstance(value, list):
                merged.setdefault(name, []).extend(value)
            else:
                merged[name] = merged.get(name, 0) + value
    return merged


def by_phase(counter: dict, phase: str) -> dict:
    out: dict = {}
    for key, value in counter.items():
        head, _, rest = key.partition("|")
        if head == phase:
            out[rest] = out.get(rest, 0) + value
    return out


def run_once(
    args,
    environment: Environment | None,
    chargers: int,
    duration: float,
    storm: bool,
    *,
    target: str = "project",
    steps: list[float] | None = None,
) -> dict:
    """One complete run against the project or the reference server: server up, chargers in, steady
    traffic (or, with `steps`, one saturation step after another), optional storm, report."""
    ctx = mp.get_context("spawn")
    shared = Shared(ctx)
    client_processes = args.client_processes or (2 if chargers > 2000 else 1)
    client_processes = max(1, min(client_processes, chargers))
    servers = None
    if args.url:
        urls = [args.url if args.url.endswith("/") else args.url + "/"]
    else:
        servers = Servers(environment, args, args.heartbeat, kind=target)
        servers.start()
        servers.wait_listening()
        urls = servers.urls
    idle_rss_mb = tree_rss_mb(servers.pids) if servers else None
    cfg = {
        "chargers": chargers,
        "prefix": args.prefix,
        "password": args.password,
        "urls": urls,
        "rate": args.rate,
        "heartbeat": args.heartbeat,
        "heartbeat_from_client": bool(args.url),
        "meter_interval": args.meter_interval,
        "session_share": args.session_share,
        "call_timeout": args.call_timeout,
        "open_timeout": args.open_timeout,
        "backoff_min": args.backoff_min,
        "backoff_max": args.backoff_max,
        "client_processes": client_processes,
        "seed": args.seed,
    }
    client_pids: list[int] = []
    redis_pids = [environment.redis_process.pid] if environment and environment.redis_process else []
    if environment and not redis_pids:
        redis_pids = listening_pids(environment.env.get("REDIS_URL"))
    pg = PostgresProcesses(environment.env.get("DATABASE_URL") if environment else None)
    sampler = Sampler(
        lambda: {
            "server": (servers.pids if servers else [], True),  # with children; the restarted ones after a storm
            "client": (client_pids, False),
            "redis": (redis_pids, False),
            "postgres": (pg.backends(), False),  # this run's database only
            "pg_shared": (pg.shared(), False),  # PostgreSQL's own processes, working for every database
        },
        phase=lambda: step_label(shared.phase.value, shared.step.value),
        extra=lambda: {"held": shared.held.value},
    )
    profiler = Profiler(args, environment.run_dir if environment else Path(tempfile.gettempdir()), servers)
    results = ctx.Queue()
    workers = [ctx.Process(target=worker_main, args=(cfg, i, shared, results)) for i in range(client_processes)]
    report: dict = {
        "target": target,
        "chargers": chargers,
        "db": environment.db_label if environment else "external",
        "redis": environment.redis_label if environment else "external",
        "server_processes": args.server_processes if servers else None,
        "workers": servers.workers if servers else None,
        "client_processes": client_processes,
        "heartbeat_s": args.heartbeat,
        "meter_interval_s": args.meter_interval,
        "session_share": args.session_share,
        "connection_rate": args.rate,
        "server_gc": {"freeze": args.gc_freeze, "threshold": args.gc_threshold}
        if servers and target == "project"
        else None,
        "code_version": code_version(),
        "started": time.strftime("%Y-%m-%d %H:%M:%S"),
        "idle_server_rss_mb": round(idle_rss_mb, 1) if idle_rss_mb is not None else None,
    }
    run_started = time.time()
    step_rows: list[dict] = []
    cpu_window: dict = {}
    try:
        for worker in workers:
            worker.start()
        client_pids.extend(w.pid for w in workers)
        sampler.start()
        time.sleep(1.5)  # let the workers import and build their chargers
        start_at = time.time() + 0.5
        shared.start_at.value = start_at
        shared.phase.value = RAMP
        profiler.start("ramp")
        log(f"{target}: ramp: {chargers} chargers at {args.rate:g}/s over {client_processes} client process(es)")
        ramp_deadline = start_at + chargers / args.rate + args.ramp_grace
        next_note = time.time() + 15
        while shared.ready.value < chargers and time.time() < ramp_deadline:
            _check_alive(workers, servers)
            time.sleep(0.1)
            if time.time() >= next_note:
                next_note += 15
                log(f"ramp: {time.time() - start_at:.0f} s, {shared.ready.value} ready, {shared.held.value} held")
        ramp_done = time.time()
        log(f"ramp over: {shared.ready.value}/{chargers} ready, {shared.held.value} held, {ramp_done - start_at:.1f} s")
        if args.settle > 0:
            # Let the backlog of the ramp drain before the steady phase is measured.
            time.sleep(args.settle)

        shared.phase.value = STEADY
        profiler.start("steady")
        steady_started = time.time()
        cpu_start = sampler.cpu_seconds()
        answered_before = shared.answered.value
        if steps:
            step_rows = saturation_steps(args, shared, sampler, workers, servers, chargers, steps)
        else:
            next_note = steady_started + 15
            while time.time() < steady_started + duration:
                _check_alive(workers, servers)
                time.sleep(0.2)
                if time.time() >= next_note:
                    next_note += 15
                    rate = (shared.answered.value - answered_before) / (time.time() - steady_started)
                    log(f"steady: {time.time() - steady_started:.0f}/{duration:g} s, held {shared.held.value}, "
                        f"{rate:.1f} CALLs/s")  # fmt: skip
        steady_ended = time.time()
        cpu_window = _cpu_delta(cpu_start, sampler.cpu_seconds(), steady_ended - steady_started)
        held_at_end = shared.held.value
        report["server_rss_end_mb"] = round(tree_rss_mb(servers.pids), 1) if servers else None
        shared.phase.value = DRAIN
        profiler.stop()
        drain_deadline = time.time() + args.call_timeout + 2
        while shared.inflight.value > 0 and time.time() < drain_deadline:
            time.sleep(0.05)
        report["held_at_end"] = held_at_end

        if environment and target == "project" and not args.no_frame_check:
            # The frame log is written in batches; give the last batch time to land.
            time.sleep(max(1.0, args.flush_wait))
            report["persisted"] = count_frames(environment, args.prefix, run_started - 1)

        storm_info = None
        if storm and servers:
            storm_info = reconnect_storm(args, servers, shared, sampler, profiler, chargers)

        shared.phase.value = STOP
        parts, errors = [], []
        deadline = time.time() + 60
        while len(parts) + len(errors) < len(workers) and time.time() < deadline:
            try:
                _, stats, error = results.get(timeout=1)
            except queue.Empty:
                continue
            if stats is not None:
                parts.append(stats)
            else:
                errors.append(error)
        if errors:
            report["client_errors"] = errors
        if storm_info and environment and target == "project" and not args.no_frame_check:
            time.sleep(max(1.0, args.flush_wait))
            report["persisted_after_storm"] = count_frames(environment, args.prefix, run_started - 1)
    finally:
        shared.phase.value = STOP
        profiler.stop()
        try:
            sampler.stop()
            pg.close()
        finally:
            try:
                for worker in workers:
                    if worker.pid is None:
                        continue
                    worker.join(10)
                    if worker.is_alive():
                        worker.kill()
                        worker.join()
            finally:
                if servers:
                    servers.stop()

    stats = merge(parts)
    report.update(
        summarize(stats, sampler, start_at, ramp_done, steady_started, steady_ended, chargers, storm_info, servers)
    )
    report["cpu_steady"] = cpu_window
    answered = report["steady"]["calls_answered"]
    report["cpu_ms_per_call"] = _per_call(cpu_window, answered, target)
    held = report["held_at_end"]
    end_rss = report.get("server_rss_end_mb")
    if end_rss is not None and held:
        report["server_rss_kb_per_charger"] = {
            "total": round(end_rss * 1024 / held, 1),
            "above_idle": round((end_rss - (idle_rss_mb or 0.0)) * 1024 / held, 1),
        }
    if steps:
        report["saturation"] = summarize_steps(stats, step_rows, args.p99_limit, target)
    if profiler.outputs:
        report["profile"] = profiler.summaries(args.profile_top)
    return report


# What a CALL costs: the server's own processes and, for the project, the PostgreSQL backends of the run's
# database and the Redis server (a shared Redis also serves whoever else uses it).
COUNTED = ("server", "postgres", "redis")


def _cpu_delta(before: dict, after: dict, seconds: float) -> dict:
    """CPU seconds per group between two Sampler.cpu_seconds() readings, and the window's length."""
    delta = {name: round(after.get(name, 0.0) - before.get(name, 0.0), 3) for name in after}
    delta["seconds"] = round(seconds, 2)
    return delta


def _per_call(cpu: dict, answered: int, target: str) -> dict:
    """ms of CPU per CALL answered in the window: counted total and each part. The reference uses neither
    PostgreSQL nor Redis, so only its own process counts."""
    if not answered or not cpu:
        return {}
    out = {name: round(1000.0 * cpu.get(name, 0.0) / answered, 3) for name in (*COUNTED, "pg_shared", "client")}
    out["counted"] = round(sum(out[name] for name in (COUNTED if target == "project" else ("server",))), 3)
    return out


def offered_rate(chargers: int, session_share: float, heartbeat_s: float, meter_s: float) -> float:
    """CALLs/s a fleet offers: every charger's heartbeat, and the meter values of those in a transaction."""
    return chargers / heartbeat_s + round(chargers * session_share) / meter_s


def default_steps(args, chargers: int) -> list[float]:
    base = offered_rate(chargers, args.session_share, args.heartbeat, args.meter_interval)
    return [round(base * factor, 1) for factor in (1, 2, 4, 8, 16, 32, 64)]


def saturation_steps(args, shared: Shared, sampler: Sampler, workers, servers, chargers: int, steps) -> list[dict]:
    """Raise the offered CALL rate step by step (shorter heartbeat and meter intervals, in the run's ratio),
    measuring each step after a warm-up; stop at the first step where a CALL fails or a charger drops, or
    after --saturation-patience steps in a row whose p99 reached --p99-limit (one slow step on a shared
    machine may be someone else's load). Returns per step its offered rate, intervals, window, CPU seconds
    and the live verdict."""
    ratio = args.meter_interval / args.heartbeat
    sessions = round(chargers * args.session_share)
    shared.slow_limit_ms.value = args.p99_limit
    rows = []
    over_in_a_row = 0
    for k, rate in enumerate(steps, start=1):
        heartbeat_s = (chargers + (sessions / ratio if ratio else 0)) / rate
        meter_s = heartbeat_s * ratio
        shared.heartbeat_s.value, shared.meter_s.value = heartbeat_s, meter_s
        failed_before = shared.failed.value
        shared.step.value = 2 * k - 1
        log(f"saturation step {k}: offering {rate:g} CALLs/s (heartbeat {heartbeat_s:.2f} s, meter values "
            f"{meter_s:.2f} s), {args.saturation_warmup:g} s warm-up, {args.step_duration:g} s measured")  # fmt: skip
        _wait(args.saturation_warmup, workers, servers)
        with shared.step_answered.get_lock():
            shared.step_answered.value = 0
        with shared.step_slow.get_lock():
            shared.step_slow.value = 0
        cpu_start = sampler.cpu_seconds()
        started = time.time()
        answered_before = shared.answered.value
        min_held = shared.held.value
        shared.step.value = 2 * k
        end = started + args.step_duration
        while time.time() < end:
            _wait(min(0.5, max(0.0, end - time.time())), workers, servers)
            min_held = min(min_held, shared.held.value)
        ended = time.time()
        cpu = _cpu_delta(cpu_start, sampler.cpu_seconds(), ended - started)
        answered = shared.answered.value - answered_before
        slow, measured = shared.step_slow.value, shared.step_answered.value
        failed = shared.failed.value - failed_before
        # p99 (nearest rank) stays under the limit while at most n - ceil(0.99 n) answers reach it.
        p99_ok = measured > 0 and slow <= measured - math.ceil(0.99 * measured)
        ok = p99_ok and failed == 0 and min_held == chargers
        rows.append({
            "step": k, "offered_calls_per_s": rate, "heartbeat_s": round(heartbeat_s, 3),
            "meter_interval_s": round(meter_s, 3), "from": started, "to": ended, "cpu": cpu,
            "answered": answered, "chargers": chargers, "min_held": min_held, "failed_live": failed, "ok_live": ok,
        })  # fmt: skip
        verdict = "ok" if ok else "over the limit"
        log(f"saturation step {k}: {answered / (ended - started):.1f} CALLs/s answered, {slow} of {measured} "
            f"at or above {args.p99_limit:g} ms, {failed} failed, min held {min_held}: {verdict}")  # fmt: skip
        over_in_a_row = 0 if ok else over_in_a_row + 1
        if failed or min_held < chargers or over_in_a_row >= args.saturation_patience:
            break
    shared.step.value = 0
    return rows


def _wait(seconds: float, workers, servers) -> None:
    end = time.time() + seconds
    while time.time() < end:
        _check_alive(workers, servers)
        time.sleep(min(0.2, max(0.0, end - time.time())))


def summarize_steps(stats: dict, rows: list[dict], p99_limit: float, target: str) -> dict:
    """Per step: CALLs/s answered, latency, failures and CPU; the highest rate that kept p99 under the limit."""
    out_rows = []
    best = None
    for row in rows:
        k = row["step"]
        label = f"s{k}"
        seconds = row["to"] - row["from"]
        latencies = [x for key, v in stats.get("latency", {}).items() if key.partition("|")[0] == label for x in v]
        lat = percentiles(latencies)
        failures = sum(
            sum(by_phase(stats.get(name, {}), phase).values())
            for name in ("callerrors", "timeouts", "lost")
            for phase in (f"w{k}", label)
        )
        rate = round(row["answered"] / seconds, 1) if seconds else None
        ok = bool(latencies) and lat["p99"] < p99_limit and failures == 0 and row["min_held"] == row["chargers"]
        cpu = row["cpu"]
        out_rows.append({
            "step": k, "offered_calls_per_s": row["offered_calls_per_s"], "heartbeat_s": row["heartbeat_s"],
            "meter_interval_s": row["meter_interval_s"], "calls_per_s": rate, "latency_ms": lat,
            "failures": failures, "min_held": row["min_held"], "ok": ok,
            "cpu_ms_per_call": _per_call(cpu, row["answered"], target),
            "cpu_pct": {name: round(100.0 * cpu.get(name, 0.0) / seconds, 1) for name in
                        (*COUNTED, "client", "other", "machine")} if seconds else {},
        })  # fmt: skip
        if ok and (best is None or rate > best):
            best = rate
    # The last step passed: the server was not saturated, and the best rate is only a lower bound.
    saturated = bool(out_rows) and not out_rows[-1]["ok"]
    return {"p99_limit_ms": p99_limit, "best_calls_per_s": best, "saturated": saturated, "steps": out_rows}


def _check_alive(workers, servers) -> None:
    for worker in workers:
        if not worker.is_alive() and worker.exitcode not in (0, None):
            raise SystemExit(f"client worker exited with {worker.exitcode}")
    if servers:
        for i, process in enumerate(servers.processes):
            if process.poll() is not None:
                raise SystemExit(f"server {i} died (exit {process.returncode}):\n{servers.log_tail(i)}")


def reconnect_storm(
    args, servers: Servers, shared: Shared, sampler: Sampler, profiler: Profiler, chargers: int
) -> dict:
    log(f"reconnect storm: SIGKILL the server with {shared.held.value} chargers connected, then restart it")
    shared.phase.value = STORM
    time.sleep(0.5)  # the workers poll the phase; let them see it before the connections drop
    killed_at = time.time()
    servers.kill()
    restarted_at = servers.start()
    listening_at = servers.wait_listening()
    profiler.start("storm")
    deadline = restarted_at + args.storm_timeout
    while shared.storm_booted.value < chargers and time.time() < deadline:
        for i, process in enumerate(servers.processes):
            if process.poll() is not None:
                raise SystemExit(f"server {i} died during the storm:\n{servers.log_tail(i)}")
        time.sleep(0.1)
    done_at = time.time()
    log(f"storm: {shared.storm_booted.value}/{chargers} accepted again, {done_at - restarted_at:.1f} s after restart")
    # Let the chargers' StatusNotifications after the boot be answered too.
    time.sleep(1)
    settle_deadline = time.time() + args.call_timeout
    while shared.inflight.value > 0 and time.time() < settle_deadline:
        time.sleep(0.1)
    profiler.stop()
    return {"killed_at": killed_at, "restarted_at": restarted_at, "listening_at": listening_at, "done_at": done_at}


def timeline(
    slow: list, samples: list, start: float, end: float, gc_rows: list | None = None, bucket: float = 10.0
) -> list[dict]:
    """Slow CALLs per time slice of the steady phase, beside the CPU samples of that slice."""
    rows = []
    t = start
    while t < end - 0.5:
        upto = min(end, t + bucket)
        calls = [ms for at, _, ms in slow if t <= at - ms / 1000.0 < upto]
        cpu = [s for s in samples if t <= s["t"] < upto]
        pauses = [ms for at, _, ms, _ in (gc_rows or []) if t <= at < upto]

        def avg(name, cpu=cpu):
            return round(sum(s[name] for s in cpu) / len(cpu)) if cpu else None

        rows.append({
            "from_s": round(t - start), "slow_calls": len(calls), "slowest_ms": round(max(calls)) if calls else 0,
            "server_cpu": avg("server_cpu"), "other_cpu": avg("other_cpu"), "machine_cpu": avg("machine_cpu"),
            "gc_max_pause_ms": round(max(pauses)) if pauses else 0,
        })  # fmt: skip
        t = upto
    return rows


def summarize(stats, sampler, start_at, ramp_done, steady_started, steady_ended, chargers, storm_info, servers):
    out: dict = {}
    steady_s = steady_ended - steady_started
    ready_at = stats.get("ready_at", [])
    booted_at = stats.get("boot_accepted_at", [])
    out["connections"] = {
        "attempted": sum(stats.get("conn_attempts", {}).values()),
        "succeeded": sum(stats.get("conn_ok", {}).values()),
        "failed": stats.get("conn_failed", {}),
        "ramp_attempted": stats.get("conn_attempts", {}).get("ramp", 0),
        "ramp_failed": sum(by_phase(stats.get("conn_failed", {}), "ramp").values()),
        "handshake_ms": {p: percentiles(v) for p, v in stats.get("handshake", {}).items()},
    }
    out["ramp"] = {
        "ready": len(ready_at),
        "seconds_to_all_booted": round(max(booted_at) - start_at, 2) if booted_at else None,
        "seconds_to_all_ready": round(max(ready_at) - start_at, 2) if ready_at else None,
        "observed_seconds": round(ramp_done - start_at, 2),
        "latency_ms": {
            action: percentiles(values)
            for key, values in stats.get("latency", {}).items()
            for phase, _, action in [key.partition("|")]
            if phase == "ramp"
        },
    }
    steady_lat = {k.partition("|")[2]: v for k, v in stats.get("latency", {}).items() if k.startswith("steady|")}
    answered = sum(by_phase(stats.get("answered", {}), "steady").values())
    out["steady"] = {
        "seconds": round(steady_s, 1),
        "calls_sent": sum(by_phase(stats.get("sent", {}), "steady").values()),
        "calls_answered": answered,
        "calls_per_s": round(answered / steady_s, 1) if steady_s else None,
        "frames_per_s": round(2 * answered / steady_s, 1) if steady_s else None,
        "latency_ms": {"all": percentiles([x for v in steady_lat.values() for x in v])}
        | {action: percentiles(v) for action, v in sorted(steady_lat.items())},
    }
    out["errors"] = {
        "callerrors": stats.get("callerrors", {}),
        "timeouts": stats.get("timeouts", {}),
        "lost_calls": stats.get("lost", {}),
        "disconnects": stats.get("disconnects", {}),
        "unmatched_answers": stats.get("unmatched", 0),
        "bad_frames": stats.get("bad_frames", 0),
        "server_calls": stats.get("server_calls", 0),
        "boot_status": stats.get("boot_status", {}),
    }
    gc_rows = servers.gc_pauses() if servers else []
    out["steady_timeline"] = timeline(stats.get("slow", []), sampler.samples, steady_started, steady_ended, gc_rows)
    if gc_rows:
        gc_summary = {}
        for gen in (0, 1, 2):
            steady_rows = [r for r in gc_rows if r[1] == gen and steady_started <= r[0] < steady_ended]
            gc_summary[f"gen{gen}_steady"] = {
                "logged": len(steady_rows),
                "total_ms": round(sum(r[2] for r in steady_rows)),
                "max_ms": round(max((r[2] for r in steady_rows), default=0)),
            }
        gen2 = [r for r in gc_rows if r[1] == 2]
        gc_summary["gen2_all_run"] = {"count": len(gen2), "max_ms": round(max((r[2] for r in gen2), default=0)),
                                      "total_ms": round(sum(r[2] for r in gen2))}  # fmt: skip
        out["gc"] = gc_summary
    out["calls_sent_total"] = sum(stats.get("sent", {}).values())
    out["calls_sent_before_storm"] = sum(
        v for k, v in stats.get("sent", {}).items() if not k.startswith(("storm|", "stop|"))
    )
    out["transactions_started"] = stats.get("transactions", 0)
    out["intervals_handed_out"] = stats.get("intervals", {})
    names = ("server_cpu", "client_cpu", "redis_cpu", "postgres_cpu", "pg_shared_cpu", "other_cpu", "machine_cpu",
             "server_rss_mb")  # fmt: skip
    out["resources"] = {phase: sampler.summary(phase, names) for phase in ("ramp", "steady", "storm")}
    if servers:
        out["server_log_problems"] = dict(servers.log_problems())
    if storm_info:
        booted = sorted(stats.get("storm_booted_at", []))
        restart = storm_info["restarted_at"]
        out["storm"] = {
            "chargers_accepted_again": len(booted),
            "server_listening_after_s": round(storm_info["listening_at"] - restart, 2),
            "all_accepted_after_s": round(booted[-1] - restart, 2) if len(booted) == chargers else None,
            "accepted_after_s": percentiles([t - restart for t in booted]) if booted else {},
            "connection_attempts": stats.get("conn_attempts", {}).get("storm", 0),
            "connection_failures": by_phase(stats.get("conn_failed", {}), "storm"),
            "latency_ms": {
                k.partition("|")[2]: percentiles(v) for k, v in stats.get("latency", {}).items()
                if k.startswith("storm|")
            },
        }  # fmt: skip
    return out


# --------------------------------------------------------------------------
# Report
# --------------------------------------------------------------------------


def _res(r: dict, name: str) -> str:
    item = r.get(name) or {}
    return f"{item.get('avg', 0):.0f}% avg / {item.get('peak', 0):.0f}% peak" if item else "n/a"


def format_report(r: dict) -> str:
    lines = []
    add = lines.append
    add("")
    target = "reference server (ocpp library, nothing persisted)" if r.get("target") == "reference" else "project"
    workers = f" x {r['workers']} workers" if (r.get("workers") or 1) > 1 else ""
    add(f"=== OCPP 1.6J load, {target}: {r['chargers']} chargers, db {r['db']}, redis {r['redis']}, "
        f"{r['server_processes'] or 'external'} server process(es){workers}, "
        f"{r['client_processes']} client process(es)")  # fmt: skip
    add(f"server code {r.get('code_version')}, started {r.get('started')}")
    if r.get("server_gc") and (r["server_gc"]["freeze"] or r["server_gc"]["threshold"]):
        add(f"server garbage collector tuned for this run: {r['server_gc']}")
    handed = ", ".join(f"{k} s x{v}" for k, v in r.get("intervals_handed_out", {}).items()) or "none"
    add(f"intervals: heartbeat {r['heartbeat_s']} s (server handed out: {handed}), meter values every "
        f"{r['meter_interval_s']} s, session share {r['session_share']:.2f} "
        f"({r['transactions_started']} transactions started)")  # fmt: skip
    c = r["connections"]
    failed = sum(c["failed"].values())
    add(f"connections: attempted {c['attempted']} (ramp {c['ramp_attempted']}), succeeded {c['succeeded']}, "
        f"failed {failed} {c['failed'] or ''}; "
        f"held at end of steady phase {r['held_at_end']}/{r['chargers']}")  # fmt: skip
    ramp = r["ramp"]
    add(f"ramp-up at {r['connection_rate']:g}/s: all booted after {ramp['seconds_to_all_booted']} s, "
        f"all ready (boot+status+start) after {ramp['seconds_to_all_ready']} s; {ramp['ready']} ready")  # fmt: skip
    lines.extend(latency_table(
        {f"handshake ({phase})": p for phase, p in c["handshake_ms"].items()}
        | {f"{action} (ramp)": p for action, p in sorted(ramp["latency_ms"].items())}
    ))  # fmt: skip
    s = r["steady"]
    if r.get("saturation"):
        lines.extend(format_saturation(r["saturation"]))
    else:
        add(f"steady phase {s['seconds']} s: {s['calls_answered']} CALLs answered of {s['calls_sent']} sent = "
            f"{s['calls_per_s']} CALLs/s ({s['frames_per_s']} frames/s)")  # fmt: skip
        lines.extend(latency_table(s["latency_ms"]))
    rows = r.get("steady_timeline") or []
    if rows:
        add(
            f"  calls >= {SLOW_MS:g} ms per 10 s of the steady phase, with CPU % (server/other processes/machine)"
            + (" and the longest GC pause in ms" if r.get("gc") else "")
            + ":"
        )
        add("   " + " ".join(
            f"{row['slow_calls']}({row['server_cpu']}/{row['other_cpu']}/{row['machine_cpu']}"
            + (f" gc {row['gc_max_pause_ms']}" if r.get("gc") else "") + ")"
            for row in rows))  # fmt: skip
    if r.get("gc"):
        add(f"  server garbage collector (collections >= 1 ms, and every gen2): {r['gc']}")
    e = r["errors"]
    add(f"errors: CALLERRORs {sum(e['callerrors'].values())} {e['callerrors'] or ''}, "
        f"timeouts {sum(e['timeouts'].values())} {e['timeouts'] or ''}, "
        f"lost by disconnect {sum(e['lost_calls'].values())}, disconnects {e['disconnects'] or 0}, "
        f"unmatched answers {e['unmatched_answers']}, bad frames {e['bad_frames']}")  # fmt: skip
    for phase in ("ramp", "steady", "storm"):
        res = r["resources"].get(phase)
        if not res:
            continue
        rss = res["server_rss_mb"]
        add(f"{phase:>6}: server CPU {_res(res, 'server_cpu')}, RSS {rss['end']:.0f} MB (peak {rss['peak']:.0f}); "
            f"clients {_res(res, 'client_cpu')}; postgres (this database's backends) {_res(res, 'postgres_cpu')}, "
            f"(its own processes) {_res(res, 'pg_shared_cpu')}; redis {_res(res, 'redis_cpu')}; "
            f"other processes {_res(res, 'other_cpu')}; machine {_res(res, 'machine_cpu')} of "
            f"{100 * (os.cpu_count() or 1)}%")  # fmt: skip
    cpu, per_call = r.get("cpu_steady") or {}, r.get("cpu_ms_per_call") or {}
    if cpu and per_call and not r.get("saturation"):
        parts = f", postgres backends {per_call['postgres']:.2f}, redis {per_call['redis']:.2f}"
        if r.get("target") == "reference":
            parts = ""
        add(f"steady CPU per CALL answered: {per_call['counted']:.2f} ms counted (server processes "
            f"{per_call['server']:.2f}{parts}); "
            f"not counted: PostgreSQL's own processes {per_call['pg_shared']:.2f}, clients {per_call['client']:.2f}; "
            f"other processes used {cpu['other']:.1f} CPU s in the {cpu['seconds']:g} s window")  # fmt: skip
    if r.get("server_rss_kb_per_charger"):
        kb = r["server_rss_kb_per_charger"]
        add(f"server RSS: {r['idle_server_rss_mb']} MB idle, {r['server_rss_end_mb']} MB at the end of the steady "
            f"phase = {kb['total']} KB per held charger ({kb['above_idle']} KB above idle)")  # fmt: skip
    p = r.get("persisted")
    if p:
        expected = 2 * r["calls_sent_before_storm"]
        ratio = p["frames"] / expected if expected else 0
        add(f"frames persisted: {p['frames']} of {expected} expected (2 x CALLs sent) = {100 * ratio:.2f}% "
            f"{p['by_direction']}; sessions {p['sessions']}, meter samples {p['meter_samples']}")  # fmt: skip
    pa = r.get("persisted_after_storm")
    if pa:
        expected = 2 * r["calls_sent_total"]
        add(f"frames persisted after the storm: {pa['frames']} of {expected} = "
            f"{100 * pa['frames'] / max(1, expected):.2f}%")  # fmt: skip
    st = r.get("storm")
    if st:
        add(f"reconnect storm: server listening {st['server_listening_after_s']} s after restart; "
            f"{st['chargers_accepted_again']}/{r['chargers']} accepted again; all after "
            f"{st['all_accepted_after_s']} s; per charger {st['accepted_after_s']}")  # fmt: skip
        add(f"  storm connection attempts {st['connection_attempts']}, failures {st['connection_failures'] or 0}")
        lines.extend(latency_table({f"{action} (storm)": lat for action, lat in sorted(st["latency_ms"].items())}))
    for phase, prof in (r.get("profile") or {}).items():
        sections = [("self time", "self"), ("inclusive", "inclusive")]
        sections.append(("inclusive, project code only", "project_of_all"))
        lines.extend(format_profile(f"py-spy, server during {phase}", prof, sections))
    if r.get("server_log_problems"):
        add(f"server log: {r['server_log_problems']}")
    if r.get("client_errors"):
        add(f"client errors: {r['client_errors']}")
    return "\n".join(lines)


def format_saturation(result: dict, title: str = "saturation") -> list[str]:
    columns = [("step", 5), ("offered/s", 10), ("hb s", 6), ("mv s", 6), ("CALLs/s", 8), ("p50", 7), ("p95", 7),
               ("p99", 8), ("max", 8), ("failed", 6), ("held", 6), ("ms CPU/CALL", 11), ("server%", 8),
               ("client%", 8), ("other%", 7), ("ok", 4)]  # fmt: skip
    rows = []
    for row in result["steps"]:
        lat, cpu = row["latency_ms"], row.get("cpu_pct") or {}
        rows.append([
            row["step"], row["offered_calls_per_s"], row["heartbeat_s"], row["meter_interval_s"], row["calls_per_s"],
            lat.get("p50"), lat.get("p95"), lat.get("p99"), lat.get("max"), row["failures"], row["min_held"],
            (row.get("cpu_ms_per_call") or {}).get("counted"), cpu.get("server"), cpu.get("client"), cpu.get("other"),
            "yes" if row["ok"] else "no",
        ])  # fmt: skip
    bound = "" if result.get("saturated", True) else " (the last step passed: not saturated, a lower bound)"
    return [
        f"{title}: highest CALLs/s answered with steady p99 < {result['p99_limit_ms']:g} ms and no failures: "
        f"{result['best_calls_per_s']}{bound}",
        *table(columns, rows),
    ]


def compare(args, environment: Environment) -> dict:
    """The same workload against the project, then against the reference server, on the same ports."""
    check = subprocess.run(
        [sys.executable, str(Path(__file__).with_name("ocpp_reference.py")), "--check"],
        capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    if check.returncode != 0:
        raise SystemExit(f"the reference server fails its own check:\n{check.stdout}{check.stderr}")
    log(check.stdout.strip())
    steps = parse_steps(args) if args.saturation else None
    reports = {}
    for target in ("project", "reference"):
        log(f"comparison: running the workload against the {target}")
        reports[target] = run_once(
            args, environment, args.chargers, args.duration, storm=args.reconnect_storm, target=target, steps=steps
        )
        print(format_report(reports[target]), flush=True)
    return reports


def _ratio(a, b) -> str | None:
    if not isinstance(a, int | float) or not isinstance(b, int | float) or not b:
        return None
    return f"{a / b:.2f}"


def _failures(r: dict) -> int:
    e = r["errors"]
    return sum(e["callerrors"].values()) + sum(e["timeouts"].values()) + sum(e["lost_calls"].values())


def _pct(r: dict, name: str, phase: str = "steady"):
    return ((r["resources"].get(phase) or {}).get(name) or {}).get("avg")


def format_comparison(reports: dict) -> str:
    p, ref = reports["project"], reports["reference"]
    lines = ["", f"=== project against the reference OCPP server: {p['chargers']} chargers, heartbeat "
                 f"{p['heartbeat_s']} s, meter values {p['meter_interval_s']} s, db {p['db']}, redis {p['redis']}, "
                 f"project {p['server_processes']} process(es)"
                 + (f" x {p['workers']} workers" if (p.get("workers") or 1) > 1 else "")
                 + f", reference {ref['server_processes']} process(es)"]  # fmt: skip
    columns = [("", 44), ("project", 12), ("reference", 12), ("project/ref", 12)]
    if p.get("saturation"):
        ps, rs = p["saturation"], ref["saturation"]
        pb, rb = _best_step(ps), _best_step(rs)

        def at(step, *keys):
            value = step
            for key in keys:
                value = (value or {}).get(key)
            return value

        rows = [
            (f"highest CALLs/s, p99 < {ps['p99_limit_ms']:g} ms, no failures", ps["best_calls_per_s"],
             rs["best_calls_per_s"]),
            ("  offered CALLs/s at that step", at(pb, "offered_calls_per_s"), at(rb, "offered_calls_per_s")),
            ("  latency p99 ms at that step", at(pb, "latency_ms", "p99"), at(rb, "latency_ms", "p99")),
            ("  server CPU ms per CALL, counted", at(pb, "cpu_ms_per_call", "counted"),
             at(rb, "cpu_ms_per_call", "counted")),
            ("  server processes CPU %", at(pb, "cpu_pct", "server"), at(rb, "cpu_pct", "server")),
            ("  clients CPU %", at(pb, "cpu_pct", "client"), at(rb, "cpu_pct", "client")),
            ("  other processes CPU %", at(pb, "cpu_pct", "other"), at(rb, "cpu_pct", "other")),
        ]  # fmt: skip
        lines.extend(table(columns, [(n, a, b, _ratio(a, b)) for n, a, b in rows]))
        lines.extend(format_saturation(ps, "project"))
        lines.extend(format_saturation(rs, "reference"))
        return "\n".join(lines)

    def lat(r, q):
        return r["steady"]["latency_ms"]["all"].get(q)

    def cpu(r, name):
        return (r.get("cpu_ms_per_call") or {}).get(name)

    def rss_kb(r, key):
        return (r.get("server_rss_kb_per_charger") or {}).get(key)

    def persisted(r):
        if r.get("target") == "reference" or not r.get("persisted"):
            return "n/a"
        expected = 2 * r["calls_sent_before_storm"]
        return f"{100 * r['persisted']['frames'] / expected:.2f}%" if expected else "n/a"

    def storm(r):
        return (r.get("storm") or {}).get("all_accepted_after_s", "never") if r.get("storm") else None

    rows = [
        ("CALLs/s answered (steady)", p["steady"]["calls_per_s"], ref["steady"]["calls_per_s"]),
        ("latency p50 ms (steady)", lat(p, "p50"), lat(ref, "p50")),
        ("latency p95 ms", lat(p, "p95"), lat(ref, "p95")),
        ("latency p99 ms", lat(p, "p99"), lat(ref, "p99")),
        ("latency max ms", lat(p, "max"), lat(ref, "max")),
        ("errors (CALLERROR, timeout, lost; whole run)", _failures(p), _failures(ref)),
        ("failed handshakes (whole run)", sum(p["connections"]["failed"].values()),
         sum(ref["connections"]["failed"].values())),
        ("held at end of steady phase", p["held_at_end"], ref["held_at_end"]),
        ("server CPU ms per CALL, counted", cpu(p, "counted"), cpu(ref, "counted")),
        ("  of it server processes", cpu(p, "server"), cpu(ref, "server")),
        ("  of it PostgreSQL backends", cpu(p, "postgres"), None),
        ("  of it Redis server", cpu(p, "redis"), None),
        ("server processes CPU % avg (steady)", _pct(p, "server_cpu"), _pct(ref, "server_cpu")),
        ("server RSS MB, end of steady phase", p.get("server_rss_end_mb"), ref.get("server_rss_end_mb")),
        ("server RSS MB, idle before the ramp", p.get("idle_server_rss_mb"), ref.get("idle_server_rss_mb")),
        ("RSS KB per held charger", rss_kb(p, "total"), rss_kb(ref, "total")),
        ("RSS KB per held charger, above idle", rss_kb(p, "above_idle"), rss_kb(ref, "above_idle")),
        ("frames persisted", persisted(p), persisted(ref)),
        ("ramp: all ready after s", p["ramp"]["seconds_to_all_ready"], ref["ramp"]["seconds_to_all_ready"]),
        ("reconnect storm: all accepted after s", storm(p), storm(ref)),
        ("clients CPU % avg (steady)", _pct(p, "client_cpu"), _pct(ref, "client_cpu")),
        ("other processes CPU % avg (steady)", _pct(p, "other_cpu"), _pct(ref, "other_cpu")),
        ("machine CPU % avg (steady), of 100 x cores", _pct(p, "machine_cpu"), _pct(ref, "machine_cpu")),
    ]  # fmt: skip
    lines.extend(table(columns, [(n, a, b, _ratio(a, b)) for n, a, b in rows]))
    lines.append("  counted CPU: the server's processes with their children, for the project also the PostgreSQL "
                 "backends of the run's database and the Redis server (a shared Redis serves others too); "
                 "CPU seconds in the steady window / CALLs answered in it")  # fmt: skip
    return "\n".join(lines)


def _best_step(result: dict) -> dict | None:
    ok = [row for row in result["steps"] if row["ok"]]
    return max(ok, key=lambda row: row["calls_per_s"] or 0) if ok else None


def parse_steps(args) -> list[float]:
    if args.saturation_steps:
        return [float(x) for x in args.saturation_steps.split(",") if x.strip()]
    return default_steps(args, args.chargers)


def find_max(args, environment: Environment | None) -> dict:
    steps = [int(x) for x in args.find_max_steps.split(",")]
    rows = []
    best = None
    for n in steps:
        log(f"find-max: trying {n} chargers for {args.step_duration:g} s")
        report = run_once(args, environment, n, args.step_duration, storm=False)
        print(format_report(report), flush=True)
        s = report["steady"]["latency_ms"]["all"]
        errors = report["errors"]
        failed = sum(report["connections"]["failed"].values())
        problems = (
            sum(errors["callerrors"].values()) + sum(errors["timeouts"].values()) + sum(errors["lost_calls"].values())
        )
        ok = (
            s.get("count", 0) > 0
            and s["p99"] < args.p99_limit
            and report["held_at_end"] == n
            and failed == 0
            and problems == 0
        )
        ramp = report["ramp"]["latency_ms"]
        rows.append({
            "chargers": n, "ok": ok, "calls_per_s": report["steady"]["calls_per_s"],
            "p50": s.get("p50"), "p95": s.get("p95"), "p99": s.get("p99"), "max": s.get("max"),
            "ramp_boot_p99": ramp.get("BootNotification", {}).get("p99"),
            "held": report["held_at_end"], "conn_failed": failed, "errors": problems,
            "server_cpu_avg": (report["resources"].get("steady") or {}).get("server_cpu", {}).get("avg"),
            "server_rss_mb": (report["resources"].get("steady") or {}).get("server_rss_mb", {}).get("end"),
        })  # fmt: skip
        if not ok:
            break
        best = n
    return {"p99_limit_ms": args.p99_limit, "largest_ok": best, "steps": rows}


def format_find_max(result: dict) -> str:
    columns = [("N", 6), ("ok", 4), ("CALLs/s", 8), ("p50", 7), ("p95", 7), ("p99", 7), ("max", 8),
               ("boot p99", 9), ("held", 6), ("failed", 6), ("errors", 6), ("CPU%", 6), ("RSS MB", 7)]  # fmt: skip
    keys = ("chargers", "ok", "calls_per_s", "p50", "p95", "p99", "max", "ramp_boot_p99", "held", "conn_failed",
            "errors", "server_cpu_avg", "server_rss_mb")  # fmt: skip
    rows = [[("yes" if row["ok"] else "no") if key == "ok" else row[key] for key in keys] for row in result["steps"]]
    title = f"=== find-max: largest N with steady p99 < {result['p99_limit_ms']:g} ms and no errors: "
    return "\n".join(["", title + str(result["largest_ok"]), *table(columns, rows)])


def parse_args(argv=None):
    parser = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0], formatter_class=argparse.RawTextHelpFormatter
    )
    parser.add_argument("-n", "--chargers", type=int, default=1000, help="number of chargers (default 1000)")
    parser.add_argument("--duration", type=float, default=120, help="steady phase in seconds once all are connected")
    parser.add_argument("--rate", type=float, default=500, help="new connections per second during the ramp")
    parser.add_argument("--heartbeat", type=int, default=60, help="heartbeat interval handed out and used (s)")
    parser.add_argument("--meter-interval", type=float, default=30, help="MeterValues interval in a session (s)")
    parser.add_argument("--session-share", type=float, default=0.3, help="share of chargers in a transaction")
    parser.add_argument("--client-processes", type=int, default=0, help="default 1, or 2 above 2000 chargers")
    parser.add_argument("--server-processes", type=int, default=1, help="server processes on consecutive ports")
    parser.add_argument("--workers", type=int, default=1,
                        help="above 1: start each server as `config.serve --workers N` (a supervisor and N server "
                             "processes sharing its port); CPU and RSS include the children")  # fmt: skip
    parser.add_argument("--compare-reference", action="store_true",
                        help="run the same workload against the project, then against the reference server "
                             "(benchmarks/ocpp_reference.py) on the same ports, and compare")  # fmt: skip
    parser.add_argument("--saturation", action="store_true",
                        help="hold the fleet and raise the offered CALL rate step by step until p99 reaches "
                             "--p99-limit or a CALL fails (with --compare-reference: for both servers)")  # fmt: skip
    parser.add_argument("--saturation-steps",
                        help="offered CALLs/s per step, comma list (default: the rate of --heartbeat and "
                             "--meter-interval times 1, 2, 4, ... 64)")  # fmt: skip
    parser.add_argument("--saturation-warmup", type=float, default=5,
                        help="seconds of each saturation step before it is measured (--step-duration)")  # fmt: skip
    parser.add_argument("--saturation-patience", type=int, default=2,
                        help="stop after this many steps in a row over --p99-limit (default 2); any failed "
                             "CALL or lost charger stops at once")  # fmt: skip
    parser.add_argument("--db", default="env", choices=["env", "sqlite", "postgres"],
                        help="env: DATABASE_URL if set, else a fresh SQLite; "
                             "postgres: (re)create --pg-url's database")  # fmt: skip
    parser.add_argument("--pg-url", default=DEFAULT_PG_URL, help=f"for --db postgres (default {DEFAULT_PG_URL})")
    parser.add_argument("--redis", default="env",
                        help="env (REDIS_URL if set, else embedded), embedded, "
                             "or a redis:// / unix:// URL")  # fmt: skip
    parser.add_argument("--url", help="target a running server (ws://host:port/ocpp/); no setup, no server stats")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8800, help="first server port (default 8800)")
    parser.add_argument("--prefix", default="BENCH-", help="identity prefix (default BENCH-)")
    parser.add_argument("--password", default="bench-password-0123456789", help="password of every bench charger")
    parser.add_argument("--call-timeout", type=float, default=30, help="seconds before a CALL counts as timed out")
    parser.add_argument("--open-timeout", type=float, default=15, help="seconds allowed for the websocket handshake")
    parser.add_argument("--ramp-grace", type=float, default=60, help="seconds the ramp may run past N/rate")
    parser.add_argument("--settle", type=float, default=10, help="seconds between the ramp and the steady phase")
    parser.add_argument("--reconnect-storm", action="store_true", help="after the steady phase SIGKILL and restart")
    parser.add_argument("--storm-timeout", type=float, default=300, help="give up on the storm after this (s)")
    parser.add_argument("--backoff-min", type=float, default=0.5, help="first reconnect delay (s), doubled each time")
    parser.add_argument("--backoff-max", type=float, default=8, help="longest reconnect delay (s) before jitter")
    parser.add_argument("--find-max", action="store_true", help="step N up until steady p99 passes --p99-limit")
    parser.add_argument("--find-max-steps", default="500,1000,2000,4000,6000,8000,10000,12000")
    parser.add_argument("--step-duration", type=float, default=45,
                        help="steady seconds per find-max or saturation step")  # fmt: skip
    parser.add_argument("--p99-limit", type=float, default=200, help="ms (default 200)")
    parser.add_argument("--flush-wait", type=float, default=3, help="seconds to let the frame log flush")
    parser.add_argument("--no-frame-check", action="store_true", help="do not count the frame log")
    parser.add_argument("--server-log-level", default="WARNING", help="LOG_LEVEL of the server (default WARNING)")
    parser.add_argument("--uvicorn-option", action="append", default=[], metavar="NAME=VALUE",
                        help="experiment: set a uvicorn.Config attribute of the server, e.g. backlog=4096 "
                             "(repeatable)")  # fmt: skip
    parser.add_argument("--py-spy", metavar="PATH", help="py-spy binary: profile the server (first process)")
    parser.add_argument("--profile-phases", default="ramp,steady,storm", help="phases to profile (comma list)")
    parser.add_argument("--profile-rate", type=int, default=100, help="py-spy samples per second")
    parser.add_argument("--profile-top", type=int, default=25, help="functions listed per profile")
    parser.add_argument("--py-spy-arg", action="append", default=[], help="extra py-spy record argument")
    parser.add_argument("--gc-log", action="store_true", help="log the server's garbage-collector pauses")
    parser.add_argument("--gc-freeze", action="store_true", help="experiment: gc.freeze() the loaded server app")
    parser.add_argument("--gc-threshold", help="experiment: gc.set_threshold for the server, e.g. 50000,20,100")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--json", help="also write the report as JSON to this file")
    parser.add_argument("--keep", action="store_true", help="keep the temporary directory and database")
    args = parser.parse_args(argv)
    if args.url and args.reconnect_storm:
        parser.error("--reconnect-storm needs a server started by the benchmark (no --url)")
    if not 0 <= args.session_share <= 1:
        parser.error("--session-share must be between 0 and 1")
    if args.rate <= 0 or args.chargers < 1:
        parser.error("--rate and --chargers must be positive")
    if args.workers < 1:
        parser.error("--workers must be at least 1")
    if args.workers > 1 and (args.gc_log or args.gc_freeze or args.gc_threshold or args.uvicorn_option):
        parser.error("--gc-* and --uvicorn-option run one server process through a wrapper: not with --workers")
    if args.compare_reference and args.url:
        parser.error("--compare-reference starts both servers itself (no --url)")
    if args.find_max and (args.compare_reference or args.saturation):
        parser.error("--find-max steps the fleet size; --saturation steps the rate of a fixed fleet: pick one")
    if args.saturation and args.reconnect_storm:
        parser.error("--reconnect-storm is not part of a saturation run")
    if args.saturation_steps:
        try:
            steps = [float(x) for x in args.saturation_steps.split(",") if x.strip()]
        except ValueError:
            parser.error("--saturation-steps: a comma list of CALLs/s")
        if not steps or min(steps) <= 0:
            parser.error("--saturation-steps: a comma list of positive CALLs/s")
    return args


def main(argv=None) -> int:
    args = parse_args(argv)
    problems = check_payloads()
    if problems:
        raise SystemExit("generated payloads break the OCPP 1.6 schemas:\n" + "\n".join(problems))
    environment = None
    interrupted = False

    def on_signal(signum, frame):
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, on_signal)
    try:
        if not args.url:
            # Up to 10,000 connections and their channel-layer clients: more than Redis's default allows.
            environment = Environment(
                "bench", db=args.db, pg_url=args.pg_url, redis=args.redis, keep=args.keep,
                log_level=args.server_log_level, redis_max_clients=20_000,
            ).__enter__()  # fmt: skip
            biggest = max([int(x) for x in args.find_max_steps.split(",")]) if args.find_max else args.chargers
            log(f"preparing {environment.db_label} + redis {environment.redis_label} for {biggest} chargers "
                f"in {environment.run_dir}")  # fmt: skip
            prepare(environment, args.prefix, args.password, biggest)
        if args.find_max:
            result = find_max(args, environment)
            print(format_find_max(result), flush=True)
        elif args.compare_reference:
            result = compare(args, environment)
            print(format_comparison(result), flush=True)
        elif args.saturation:
            result = run_once(args, environment, args.chargers, args.duration, storm=False, steps=parse_steps(args))
            print(format_report(result), flush=True)
        else:
            result = run_once(args, environment, args.chargers, args.duration, storm=args.reconnect_storm)
            print(format_report(result), flush=True)
        if args.json:
            Path(args.json).write_text(json.dumps(result, indent=2, default=str))
            log(f"JSON report written to {args.json}")
    except KeyboardInterrupt:
        interrupted = True
        log("interrupted; cleaning up")
    finally:
        if environment:
            environment.__exit__(None, None, None)
    return 130 if interrupted else 0


if __name__ == "__main__":
    sys.exit(main())
