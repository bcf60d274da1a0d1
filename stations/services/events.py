"""Status and session events that other apps react to, without stations knowing them.

Apps register listeners at start-up (AppConfig.ready). A listener runs after
the transaction that wrote the event commits, gets ids only, and should do no
more than enqueue its own task.
"""

from collections.abc import Callable

from django.db import transaction

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
    for listener in _status_listeners:
        transaction.on_commit(lambda listener=listener: listener(event_id))


def session_stopped(session_id: int) -> None:
    for listener in _session_listeners:
        transaction.on_commit(lambda listener=listener: listener(session_id))


def session_started(session_id: int) -> None:
    for listener in _session_start_listeners:
        transaction.on_commit(lambda listener=listener: listener(session_id))
