"""Pushes to the portal's live pages, sent after the transaction commits.

Pages listen on one group and re-fetch what changed; a push carries ids only,
never data a listener might not be allowed to see.

In the OCPP server the writes that change a station run in database threads
while the event loop serves thousands of sockets. A push from such a thread
must not wait for Redis (nor for the busy loop), so there it only notes the
station id; the loop sends the ids it collected in one message every
LIVE_PUSH_INTERVAL_S. Workers and commands, which have no such loop, send at once.
"""

import asyncio
import logging

from asgiref.sync import async_to_sync
from channels.layers import get_channel_layer
from django.conf import settings
from django.db import transaction

logger = logging.getLogger(__name__)

STATIONS_GROUP = "live.stations"

_server_loop: asyncio.AbstractEventLoop | None = None
_pending: set[int] = set()


def station_changed(station_id: int) -> None:
    transaction.on_commit(lambda: _notify(station_id))


def _notify(station_id: int) -> None:
    loop = _server_loop
    if loop is not None and loop.is_running():
        loop.call_soon_threadsafe(_pending.add, station_id)
        return
    _send_now([station_id])


def _message(station_ids: list[int]) -> dict:
    return {"type": "stations.changed", "station_ids": station_ids}


def _send_now(station_ids: list[int]) -> None:
    layer = get_channel_layer()
    if layer is None:
        return
    try:
        async_to_sync(layer.group_send)(STATIONS_GROUP, _message(station_ids))
    except Exception:  # a page missing one refresh must never fail a charger's message
        logger.warning("live push failed", exc_info=True)


def attach_to_server_loop(loop: asyncio.AbstractEventLoop) -> asyncio.Task:
    """In the ASGI server: collect pushes and send them from the loop in batches."""
    global _server_loop
    _server_loop = loop
    return loop.create_task(_flush_forever())


async def _flush_forever() -> None:
    layer = get_channel_layer()
    while True:
        await asyncio.sleep(settings.LIVE_PUSH_INTERVAL_S)
        if not _pending or layer is None:
            continue
        station_ids = sorted(_pending)
        _pending.clear()
        try:
            await layer.group_send(STATIONS_GROUP, _message(station_ids))
        except Exception:
            logger.warning("live push failed", exc_info=True)
