#!/usr/bin/env python
"""OCPP 1.6J load benchmark: many chargers against one (or a few) server processes.

    python benchmarks/ocpp_load.py --chargers 1000 --duration 120
    python benchmarks/ocpp_load.py --chargers 1000 --db postgres --redis redis://127.0.0.1:6379/0
    python benchmarks/ocpp_load.py --chargers 1000 --reconnect-storm
    python benchmarks/ocpp_load.py --find-max --heartbeat 10 --meter-interval 5
    python benchmarks/ocpp_load.py --url ws://127.0.0.1:8000/ocpp/ --chargers 100   # a running server

Without --url it prepares a database (migrate, register BENCH-000001.. with one
known password, one accepted id tag), starts uvicorn the way production does,
opens the chargers at a fixed connection rate, holds them for --duration
seconds of steady traffic, and prints latency per CALL, errors, the server's
CPU and memory, and whether every frame reached the frame log. See
benchmarks/README.md.

The chargers are small asyncio clients (one websocket each) spread over
--client-processes worker processes; they send only valid OCPP 1.6 payloads
and keep at most one CALL outstanding each.
"""

from __future__ import annotations

import argparse
import asyncio
import json
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
    PySpy,
    Sampler,
    code_version,
    format_profile,
    latency_table,
    log,
    percentiles,
    port_open,
    postgres_pids,
    read_jsonl,
    server_argv,
    stop_process,
    table,
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
        return f"{PHASES[self.w.phase]}|{action}"

    def connecting(self) -> None:
        self.w.stats.conn_attempts[PHASES[self.w.phase]] += 1

    def connected(self, handshake_ms: float) -> None:
        phase = PHASES[self.w.phase]
        self.w.stats.handshake[phase].append(round(handshake_ms, 3))
        self.w.stats.conn_ok[phase] += 1

    def connect_failed(self, reason: str) -> None:
        self.w.stats.conn_failed[f"{PHASES[self.w.phase]}|{reason}"] += 1

    def disconnected(self, close_code: int | None) -> None:
        if self.w.phase < STOP:
            self.w.stats.disconnects[f"{PHASES[self.w.phase]}|{close_code or 1006}"] += 1

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

    def call_errored(self, action: str, ms: float, code: str, description: str) -> None:
        self.call_answered(action, ms)  # an answer all the same, as fast or slow as a CALLRESULT
        self.w.stats.callerrors[f"{self._key(action)}|{code}"] += 1

    def call_timed_out(self, action: str) -> None:
        _add(self.w.shared.inflight, -1)
        self.w.stats.timeouts[self._key(action)] += 1

    def call_lost(self, action: str) -> None:
        _add(self.w.shared.inflight, -1)
        self.w.stats.lost[self._key(action)] += 1

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

    async def steady(self) -> None:
        w = self.w
        loop = w.loop
        now = loop.time()
        # First sends are spread over the whole interval so the load is smooth.
        if self.next_heartbeat is None:
            self.next_heartbeat = now + random.uniform(0, self.heartbeat)
        if self.next_meter is None and self.transaction_id is not None:
            self.next_meter = now + random.uniform(0, w.cfg["meter_interval"])
        while w.phase < DRAIN:
            due = self.next_heartbeat if self.next_meter is None else min(self.next_heartbeat, self.next_meter)
            delay = due - loop.time()
            if delay > 0:
                await self.pause(delay)
                continue
            if self.next_meter is not None and self.next_meter <= self.next_heartbeat:
                self.next_meter = _next(self.next_meter, w.cfg["meter_interval"], loop.time())
                await self.call("MeterValues", self.meter_values())
            else:
                self.next_heartbeat = _next(self.next_heartbeat, self.heartbeat, loop.time())
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
    """The server processes under test (python -m config.serve), on consecutive ports."""

    def __init__(self, environment: Environment, args, heartbeat: int):
        self.environment = environment
        self.args = args
        self.count = args.server_processes
        self.port = args.port
        self.host = args.host
        self.heartbeat = heartbeat
        self.processes: list[subprocess.Popen] = []
        self.generation = 0

    @property
    def urls(self) -> list[str]:
        return [f"ws://{self.host}:{self.port + i}/ocpp/" for i in range(self.count)]

    @property
    def pids(self) -> list[int]:
        return [p.pid for p in self.processes if p.poll() is None]

    def start(self) -> float:
        """Start every process; returns the wall time they were started."""
        for i in range(self.count):
            if port_open(self.port + i, self.host):
                raise SystemExit(f"port {self.port + i} is already in use")
        args = self.args
        env = dict(self.environment.env, OCPP_HEARTBEAT_INTERVAL_S=str(self.heartbeat), WS_PING="20")
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
            if args.gc_log:
                env["BENCH_GC_LOG"] = str(self.environment.run_dir / f"gc-{i}-{self.generation}.jsonl")
            argv = server_argv(self.port + i, host=self.host, log_level="warning", wrapped=wrapped)
            self.processes.append(self.environment.start(f"server-{i}-{self.generation}", argv, env=dict(env)))
        return started

    def wait_listening(self, timeout: float = 60) -> float:
        for i, process in enumerate(self.processes):
            try:
                wait_listening(self.port + i, process, host=self.host, timeout=timeout)
            except SystemExit:
                raise SystemExit(f"server {i} did not start:\n{self.log_tail(i)}") from None
        return time.time()

    def kill(self) -> None:
        for process in self.processes:
            if process.poll() is None:
                process.send_signal(signal.SIGKILL)
        for process in self.processes:
            process.wait()

    def stop(self) -> None:
        for process in self.processes:
            if process.poll() is None:
                process.terminate()
        for process in self.processes:
            stop_process(process)

    def log_tail(self, i: int, lines: int = 15) -> str:
        return self.environment.tail(f"server-{i}-{self.generation}", lines)

    def gc_pauses(self) -> list[list]:
        """[wall time, generation, ms, collected] of every logged collection, all processes."""
        return read_jsonl(self.environment.run_dir.glob("gc-*.jsonl"))

    def log_problems(self) -> Counter:
        """Count warning and error lines in every server log of this run, by kind."""
        found: Counter = Counter()
        levels = ("WARNING", "ERROR", "CRITICAL")
        for path in self.environment.run_dir.glob("server-*.log"):
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
            super().start(phase, self.servers.pids[0])
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


def run_once(args, environment: Environment | None, chargers: int, duration: float, storm: bool) -> dict:
    """One complete run: server up, chargers in, steady traffic, optional storm, report."""
    ctx = mp.get_context("spawn")
    shared = Shared(ctx)
    client_processes = args.client_processes or (2 if chargers > 2000 else 1)
    client_processes = max(1, min(client_processes, chargers))
    servers = None
    if args.url:
        urls = [args.url if args.url.endswith("/") else args.url + "/"]
    else:
        servers = Servers(environment, args, args.heartbeat)
        servers.start()
        servers.wait_listening()
        urls = servers.urls
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
    sampler = Sampler(
        lambda: {
            "server": (servers.pids if servers else [], True),  # the restarted ones after a storm
            "client": (client_pids, False),
            "redis": (redis_pids, False),
            "postgres": (postgres_pids(), False),
        },
        phase=lambda: PHASES[shared.phase.value],
        extra=lambda: {"held": shared.held.value},
    )
    profiler = Profiler(args, environment.run_dir if environment else Path(tempfile.gettempdir()), servers)
    results = ctx.Queue()
    workers = [ctx.Process(target=worker_main, args=(cfg, i, shared, results)) for i in range(client_processes)]
    report: dict = {
        "chargers": chargers,
        "db": environment.db_label if environment else "external",
        "redis": environment.redis_label if environment else "external",
        "server_processes": args.server_processes if servers else None,
        "client_processes": client_processes,
        "heartbeat_s": args.heartbeat,
        "meter_interval_s": args.meter_interval,
        "session_share": args.session_share,
        "connection_rate": args.rate,
        "server_gc": {"freeze": args.gc_freeze, "threshold": args.gc_threshold} if servers else None,
        "code_version": code_version(),
        "started": time.strftime("%Y-%m-%d %H:%M:%S"),
    }
    run_started = time.time()
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
        log(f"ramp: {chargers} chargers at {args.rate:g}/s over {client_processes} client process(es)")
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
        answered_before = shared.answered.value
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
        held_at_end = shared.held.value
        shared.phase.value = DRAIN
        profiler.stop()
        drain_deadline = time.time() + args.call_timeout + 2
        while shared.inflight.value > 0 and time.time() < drain_deadline:
            time.sleep(0.05)
        report["held_at_end"] = held_at_end

        if environment and not args.no_frame_check:
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
        if storm_info and environment and not args.no_frame_check:
            time.sleep(max(1.0, args.flush_wait))
            report["persisted_after_storm"] = count_frames(environment, args.prefix, run_started - 1)
    finally:
        shared.phase.value = STOP
        profiler.stop()
        try:
            sampler.stop()
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
    if profiler.outputs:
        report["profile"] = profiler.summaries(args.profile_top)
    return report


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
    names = ("server_cpu", "client_cpu", "redis_cpu", "postgres_cpu", "other_cpu", "machine_cpu", "server_rss_mb")
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
    add(f"=== OCPP 1.6J load: {r['chargers']} chargers, db {r['db']}, redis {r['redis']}, "
        f"{r['server_processes'] or 'external'} server process(es), "
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
            f"clients {_res(res, 'client_cpu')}; postgres {_res(res, 'postgres_cpu')}; "
            f"redis(embedded) {_res(res, 'redis_cpu')}; other processes {_res(res, 'other_cpu')}; "
            f"machine {_res(res, 'machine_cpu')} of "
            f"{100 * (os.cpu_count() or 1)}%")  # fmt: skip
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
    parser.add_argument("--step-duration", type=float, default=45, help="steady seconds per find-max step")
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
