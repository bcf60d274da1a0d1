"""Shared fixtures: named actors, a real OCPP server process, real services.

The suite runs against the database and Redis the environment names
(DATABASE_URL, REDIS_URL) or the embedded default started by `make test`.
An unreachable Redis or database fails the run; nothing is skipped.
"""

import os
import shutil
import socket
import subprocess
import sys
import time
from contextlib import contextmanager
from pathlib import Path

import pytest
import redis
from django.conf import settings
from django.contrib.auth.models import Group
from django.db import connection

from config import roles
from tests.factories import UserFactory

BASE_DIR = Path(__file__).resolve().parent.parent


def pytest_sessionstart(session):
    try:
        redis.Redis.from_url(settings.REDIS_URL, socket_timeout=3).ping()
    except redis.RedisError as exc:
        pytest.exit(f"Redis at {settings.REDIS_URL} is unreachable: {exc}", returncode=3)


@pytest.fixture
def actors(db):
    """operator, dispatcher, technician, support agent, and an outsider with no role."""
    roles.ensure_roles()

    def make(username: str, role: str | None):
        user = UserFactory(username=username, is_staff=role == roles.OPERATOR)
        if role:
            user.groups.add(Group.objects.get(name=role))
        return user

    class Actors:
        operator = make("olga", roles.OPERATOR)
        dispatcher = make("dana", roles.DISPATCHER)
        technician = make("tom", roles.TECHNICIAN)
        support = make("sam", roles.SUPPORT_AGENT)
        outsider = make("oscar", None)

    return Actors


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _database_url() -> str:
    db = connection.settings_dict
    if db["ENGINE"] == "django.db.backends.sqlite3":
        return f"sqlite:///{db['NAME']}"
    user = db.get("USER") or ""
    password = f":{db['PASSWORD']}" if db.get("PASSWORD") else ""
    auth = f"{user}{password}@" if user else ""
    return f"postgres://{auth}{db.get('HOST') or '127.0.0.1'}:{db.get('PORT') or 5432}/{db['NAME']}"


class OcppServer:
    def __init__(self, process: subprocess.Popen, port: int):
        self.process = process
        self.port = port
        self.url = f"ws://127.0.0.1:{port}/ocpp/"
        self.http = f"http://127.0.0.1:{port}"


def process_env(**extra_env: str) -> dict:
    """Environment for a server or worker process on the test database and Redis."""
    return {
        **os.environ,
        # Same password hashers as the test process, so test users can log in.
        "DJANGO_SETTINGS_MODULE": "config.test_settings",
        "CELERY_TASK_ALWAYS_EAGER": "0",
        "DATABASE_URL": _database_url(),
        "REDIS_URL": settings.REDIS_URL,
        "CHANNEL_PREFIX": settings.CHANNEL_PREFIX,
        "FRAME_LOG_FLUSH_INTERVAL_S": "0.05",
        "LAST_SEEN_FLUSH_INTERVAL_S": "0.1",
        "LOG_LEVEL": "WARNING",
        **extra_env,
    }


@contextmanager
def run_server(port: int | None = None, **extra_env: str):
    """Start the project's ASGI server (config.serve) on the test database."""
    port = port or _free_port()
    env = process_env(**extra_env)
    env.setdefault("WS_PING", "20")
    process = subprocess.Popen(
        [sys.executable, "-m", "config.serve", "--host", "127.0.0.1", "--port", str(port), "--log-level", "warning"],
        cwd=BASE_DIR,
        env=env,
    )
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"test server exited with {process.returncode}")
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
            break
        except OSError:
            time.sleep(0.1)
    else:
        process.kill()
        raise RuntimeError("test server did not start")
    try:
        yield OcppServer(process, port)
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()


@pytest.fixture(scope="session")
def ocpp_server(django_db_setup, django_db_blocker):
    with run_server() as server:
        yield server


@pytest.fixture
def live_db(transactional_db):
    """Committed data, visible to the server process."""
    yield transactional_db
    # Let the server write its last batches (frames, last seen, disconnects)
    # before the tables are emptied, so the two never lock each other.
    time.sleep(0.3)


def _stop(process: subprocess.Popen, timeout: float = 15) -> None:
    process.terminate()
    try:
        process.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        process.kill()


@contextmanager
def run_worker(**extra_env: str):
    """A real Celery worker process on the test database and Redis broker, ready when yielded."""
    from config.celery import app as celery_app

    celery_app.control.purge()  # tasks an earlier test left behind are not this test's
    process = subprocess.Popen(
        [sys.executable, "-m", "celery", "-A", "config", "worker", "--pool", "solo", "--loglevel", "WARNING"],
        cwd=BASE_DIR,
        env=process_env(**extra_env),
    )
    try:
        deadline = time.monotonic() + 30
        while not celery_app.control.ping(timeout=0.5):
            if process.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError("the test worker did not start")
        yield process
    finally:
        _stop(process)


@contextmanager
def run_simulator(server: OcppServer, *args: str, **extra_env: str):
    """`manage.py simulate` against a test server, on the test database and Redis (fault requests)."""
    process = subprocess.Popen(
        [sys.executable, "manage.py", "simulate", "--url", server.url, "--ramp-up", "0.5", *args],
        cwd=BASE_DIR,
        env=process_env(**extra_env),
        stdout=subprocess.DEVNULL,
    )
    try:
        yield process
    finally:
        _stop(process)


CHROMIUM = os.environ.get("CHROMIUM_PATH", "/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--no-first-run",
]


@pytest.fixture
def browser():
    """A headless Chromium (Debian's package) driven by Playwright's sync API."""
    from playwright.sync_api import sync_playwright

    assert shutil.which(CHROMIUM) or Path(CHROMIUM).exists(), f"Chromium not found at {CHROMIUM}"
    # Playwright's sync API keeps an event loop in this thread; the ORM calls
    # the test makes between page actions are plain synchronous ones.
    os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = "true"
    try:
        with sync_playwright() as p:
            instance = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)
            yield instance
            instance.close()
    finally:
        os.environ.pop("DJANGO_ALLOW_ASYNC_UNSAFE", None)


@pytest.fixture
def smtp():
    """A real SMTP server on loopback (tests/smtp_server.py); `smtp.configure(settings)` or `**smtp.env()`."""
    from tests.smtp_server import smtp_server

    with smtp_server() as server:
        yield server


@pytest.fixture
def playbook_seeded(db):
    """The shipped playbook. Transactional tests empty every table after themselves,
    the rows the data migration loaded included, so load them again when missing."""
    from workorders.models import ErrorCode
    from workorders.services.playbook import playbook_import_csv

    if not ErrorCode.objects.exists():
        with open(BASE_DIR / "workorders" / "playbook_seed.csv", encoding="utf-8") as seed:
            playbook_import_csv(seed)
