"""The OCPP frame log, and batching of writes that must not delay a charger.

Every frame in and out is logged. Writing one row per frame on the path of
the answer would make each charger wait for the database (and on SQLite
serialise every connection behind one writer), so the OCPP server hands
frames to a per-process batch writer that stores them every
FRAME_LOG_FLUSH_INTERVAL_S in one INSERT. Last-seen times are batched the
same way. A crash loses at most one interval of log rows, never a
transaction or status: those are written before the charger is answered.
"""

import asyncio
import logging
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime, timedelta

from django.conf import settings
from django.db import DatabaseError, close_old_connections, connection, transaction
from django.utils import timezone

from stations.models import ChargingStation, FrameLog
from stations.ocpp.protocol import storable

from . import liveness

logger = logging.getLogger(__name__)

# Past this many unwritten rows (the database is down) the oldest are dropped
# rather than letting the server run out of memory.
MAX_PENDING = 200_000


_log_pool: ThreadPoolExecutor | None = None


def _log_thread() -> ThreadPoolExecutor:
    """The batches are written by a thread of their own: however busy the
    chargers' database threads are, the log keeps up (and cannot delay them)."""
    global _log_pool
    if _log_pool is None:
        _log_pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="ocpp-log")
    return _log_pool


class BatchWriter:
    """Collects items in memory and hands them to `flush` in batches, in a thread."""

    def __init__(self, name: str, flush: Callable[[list], None], interval: Callable[[], float]):
        self.name = name
        self._flush = flush
        self._interval = interval
        self._items: list = []
        self._task: asyncio.Task | None = None
        self._loop: asyncio.AbstractEventLoop | None = None

    def add(self, item) -> None:
        self._items.append(item)
        if len(self._items) > MAX_PENDING:
            dropped = len(self._items) - MAX_PENDING
            del self._items[:dropped]
            logger.error("%s: database not keeping up, dropped %d oldest rows", self.name, dropped)
        self._ensure_running()

    def _ensure_running(self) -> None:
        loop = asyncio.get_running_loop()
        if self._task is None or self._task.done() or self._loop is not loop:
            self._loop = loop
            self._task = loop.create_task(self._run())

    async def _run(self) -> None:
        while True:
            await asyncio.sleep(self._interval())
            await self.flush()

    async def flush(self) -> None:
        if not self._items:
            return
        items, self._items = self._items, []
        try:
            await asyncio.get_running_loop().run_in_executor(_log_thread(), self._write, items)
        except Exception:
            logger.exception("%s: could not write %d rows", self.name, len(items))

    def _write(self, items: list) -> None:
        close_old_connections()
        try:
            self._flush(items)
        finally:
            close_old_connections()


# A frame waiting for the log, in the column order of FRAME_COLUMNS: plain tuples,
# because building a model instance per frame on the event loop costs more than
# the rest of a Heartbeat.
FRAME_COLUMNS = ("station_id", "direction", "message_type", "action", "unique_id", "error_code", "raw", "created_at")


def frames_write(rows: list[tuple]) -> None:
    """Write a batch; if the batch fails, write its rows one by one, so a row
    that cannot be stored costs nobody else's frames."""
    try:
        with transaction.atomic():
            _frames_insert(rows)
        return
    except (DatabaseError, ValueError):
        logger.warning("frame log: a batch of %d rows failed; writing them one by one", len(rows))
    frames = [_frame(row) for row in rows]
    alive = set(ChargingStation.objects.filter(pk__in={f.station_id for f in frames}).values_list("pk", flat=True))
    for frame in frames:
        # A station deleted while its frames waited takes its frames with it.
        if frame.station_id is None or frame.station_id in alive:
            _frame_write_one(frame)


def _frames_insert(rows: list[tuple]) -> None:
    if connection.vendor == "postgresql":
        # COPY: the cheapest way into PostgreSQL, for the server and for us.
        columns = ", ".join(FRAME_COLUMNS)
        with (
            connection.wrap_database_errors,
            connection.cursor() as cursor,
            cursor.cursor.copy(f"COPY {FrameLog._meta.db_table} ({columns}) FROM STDIN") as copy,  # noqa: S608
        ):
            for row in rows:
                copy.write_row(row)
        return
    FrameLog.objects.bulk_create([_frame(row) for row in rows], batch_size=500)


def _frame(row: tuple) -> FrameLog:
    return FrameLog(**dict(zip(FRAME_COLUMNS, row, strict=True)))


def _frame_write_one(row: FrameLog) -> None:
    try:
        with transaction.atomic():
            row.save(force_insert=True)
        return
    except (DatabaseError, ValueError):
        logger.exception("frame log: row from station %s refused; storing it in a safe form", row.station_id)
    row.pk = None
    for name in ("raw", "action", "unique_id", "error_code"):
        # Only ASCII remains: every other character becomes an escape the reader can decode.
        setattr(row, name, getattr(row, name).encode("ascii", "backslashreplace").decode("ascii"))
    with transaction.atomic():
        row.save(force_insert=True)


def _seen_write(station_ids: list[int]) -> None:
    liveness.stations_seen(station_ids=sorted(set(station_ids)))


frame_writer = BatchWriter("frame log", frames_write, lambda: settings.FRAME_LOG_FLUSH_INTERVAL_S)
seen_writer = BatchWriter("last seen", _seen_write, lambda: settings.LAST_SEEN_FLUSH_INTERVAL_S)


def frame_record(
    *,
    station_id: int | None,
    direction: str,
    raw: str,
    message_type: int | None = None,
    action: str = "",
    unique_id: str = "",
    error_code: str = "",
    at: datetime | None = None,
) -> None:
    """Queue one frame for the log (from the OCPP server's event loop)."""
    frame_writer.add(
        (
            station_id,
            direction,
            message_type,
            storable(action[:50]),
            storable(unique_id[:64]),
            storable(error_code[:40]),
            storable(raw),
            at or timezone.now(),
        )
    )


async def flush_all() -> None:
    await frame_writer.flush()
    await seen_writer.flush()


def frames_prune(*, now: datetime | None = None, batch: int = 5000) -> int:
    """Delete frames older than the retention setting, in batches so the table stays usable."""
    now = now or timezone.now()
    cutoff = now - timedelta(days=settings.FRAME_LOG_RETENTION_DAYS)
    deleted = 0
    while True:
        ids = list(FrameLog.objects.filter(created_at__lt=cutoff).values_list("pk", flat=True)[:batch])
        if not ids:
            return deleted
        deleted += FrameLog.objects.filter(pk__in=ids).delete()[0]
