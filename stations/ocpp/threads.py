"""Database work of the OCPP server, off its event loop, for every protocol version.

Runs in a thread pool of its own (OCPP_DB_THREADS), not on Channels' single
shared sync thread, so one slow query never stalls every other charger on
the server, and not through asgiref's sync_to_async, whose per-call context
copying costs more than the queries of a routine frame. Django keeps a
database connection per thread, so each pool thread holds one.
"""

import asyncio
import functools
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from django.conf import settings
from django.db import close_old_connections

_pool: ThreadPoolExecutor | None = None


def _executor() -> ThreadPoolExecutor:
    global _pool
    if _pool is None:
        _pool = ThreadPoolExecutor(max_workers=settings.OCPP_DB_THREADS, thread_name_prefix="ocpp-db")
    return _pool


async def db(fn: Callable[..., Any], /, **kwargs: Any) -> Any:
    """Run a service function in the pool."""
    return await asyncio.get_running_loop().run_in_executor(_executor(), functools.partial(_in_thread, fn, kwargs))


# How often a pool thread looks at its connection's age and health. Django's
# close_old_connections() also re-arms the health check, which on PostgreSQL is
# one more round trip ("SELECT 1") before the next query: per frame, that would
# be a query more than most frames need.
CONNECTION_CHECK_INTERVAL_S = 5.0
_checked = threading.local()


def _in_thread(fn: Callable[..., Any], kwargs: dict) -> Any:
    now = time.monotonic()
    if now - getattr(_checked, "at", 0.0) >= CONNECTION_CHECK_INTERVAL_S:
        close_old_connections()
        _checked.at = now
    try:
        return fn(**kwargs)
    except Exception:
        _checked.at = 0.0  # a failed query may have broken the connection: look at it next time
        raise
