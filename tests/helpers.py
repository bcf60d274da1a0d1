import asyncio
import time

from django.db import connections


def eventually(check, timeout: float = 5.0):
    """Poll until check() returns a truthy value (the server writes some rows in batches)."""
    deadline = time.monotonic() + timeout
    while True:
        value = check()
        if value or time.monotonic() > deadline:
            return value
        time.sleep(0.05)


async def orm(fn):
    """Run an ORM read from async test code, closing the thread's connection after."""

    def call():
        try:
            return fn()
        finally:
            connections.close_all()

    return await asyncio.to_thread(call)
