"""Database work of the OCPP server, off its event loop, for every protocol version.

Runs in the thread pool (`thread_sensitive=False`), not on Channels' single
shared sync thread, so one slow query never stalls every other charger on the
server.
"""

from collections.abc import Callable
from typing import Any

from asgiref.sync import sync_to_async
from django.db import close_old_connections


async def db(fn: Callable[..., Any], /, **kwargs: Any) -> Any:
    """Run a service function in the thread pool."""
    return await sync_to_async(_in_thread, thread_sensitive=False)(fn, kwargs)


def _in_thread(fn: Callable[..., Any], kwargs: dict) -> Any:
    close_old_connections()
    return fn(**kwargs)
