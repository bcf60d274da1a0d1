"""Status and session events that other apps react to, without stations knowing them.

Apps register listeners at start-up (AppConfig.ready). A listener runs after
the transaction that wrote the event commits, gets ids only, and should do no
more than enqueue its own task.

Status events come by the thousand when chargers reconnect, and every listener
enqueues a task of its own: in the OCPP server that would be several broker
round trips on the path of each StatusNotification. There the committed ids
are collected and handed to a worker in one task every
STATUS_FAN_OUT_INTERVAL_S, which calls the listeners; elsewhere (workers,
the portal) the listeners run at once.
"""

import asyncio
import logging
from collections.abc import Callable

from django.conf import settings
from django.db import transaction

logger = logging.getLogger(__name__)

_status_listeners: list[Callable[[int], None]] = []
_session_listeners: list[Callable[[int], None]] = []
_session_start_listeners: list[Callable[[int], None]] = []


def on_status_event(listener: Callable[[int], None]) -> None:
    """Call `listener(status_event_id)` for every status event (charger report, offline, reconnect)."""
    if listener not in _status_listeners:
        _status_listeners.append(listener)


def on_session_stopped(listener: Callable[[int], None]) -> None:
    """Call `listener(session_id)` when a charging session stops."""
    if listener not in _session_listeners:
        _session_listeners.append(listener)


def on_session_started(listener: Callable[[int], None]) -> None:
    """Call `listener(session_id)` when a charging session starts (once, not for a retried start)."""
    if listener not in _session_start_listeners:
        _session_start_listeners.append(listener)


def status_event_recorded(event_id: int) -> None:
    transaction.on_commit(lambda: _status_event_committed(event_id))


def status_events_fan_out(event_ids: list[int]) -> None:
    """Tell every status listener of these committed events."""
    for event_id in event_ids:
        for listener in _status_listeners:
            listener(event_id)


_server_loop: asyncio.AbstractEventLoop | None = None
_pending: list[int] = []


def _status_event_committed(event_id: int) -> None:
    loop = _server_loop
    if loop is not None and loop.is_running():
        loop.call_soon_threadsafe(_pending.append, event_id)
        return
    status_events_fan_out([event_id])


def attach_to_server_loop(loop: asyncio.AbstractEventLoop, hand_over: Callable[[list[int]], None]) -> asyncio.Task:
    """In the ASGI server: collect committed status events and `hand_over` them in batches
    (in a thread: handing over talks to the broker)."""
    global _server_loop
    _server_loop = loop
    return loop.create_task(_hand_over_forever(hand_over))


async def _hand_over_forever(hand_over: Callable[[list[int]], None]) -> None:
    while True:
        await asyncio.sleep(settings.STATUS_FAN_OUT_INTERVAL_S)
        await flush_status_events(hand_over)


async def flush_status_events(hand_over: Callable[[list[int]], None]) -> None:
    if not _pending:
        return
    event_ids = list(_pending)
    _pending.clear()
    try:
        await asyncio.get_running_loop().run_in_executor(None, hand_over, event_ids)
    except Exception:
        logger.exception("could not hand %d status events to the workers", len(event_ids))


def session_stopped(session_id: int) -> None:
    for listener in _session_listeners:
        transaction.on_commit(lambda listener=listener: listener(session_id))


def session_started(session_id: int) -> None:
    for listener in _session_start_listeners:
        transaction.on_commit(lambda listener=listener: listener(session_id))
