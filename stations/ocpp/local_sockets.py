"""The chargers this server process holds, reached through one channel-layer reader.

Commands, and the notice that a newer connection took a charger over, reach a
charger's socket through the channel layer from any process. A receive loop
per socket would keep thousands of tasks polling the layer; instead each
process reads one channel of its own and hands every message to its sockets of
the station the message names.

The layer forgets a group member after its group expiry (a day) while chargers
stay connected for weeks, so this process renews its membership of every
station it holds well before that.
"""

import asyncio
import logging
from typing import Protocol

from channels.layers import get_channel_layer

from stations.services.commands import station_group

logger = logging.getLogger(__name__)

MEMBERSHIP_RENEW_S = 3600


class StationSocket(Protocol):
    async def layer_message(self, message: dict) -> None: ...


class LocalSockets:
    def __init__(self) -> None:
        self._by_station: dict[int, set[StationSocket]] = {}
        self._loop: asyncio.AbstractEventLoop | None = None
        self._channel = ""
        self._tasks: list[asyncio.Task] = []

    def _start(self) -> str:
        """The process's channel, and its reader, for the running loop."""
        loop = asyncio.get_running_loop()
        if self._loop is not loop:
            self._loop = loop
            self._by_station = {}
            layer = get_channel_layer()
            # Shaped as the layer's own new_channel(): a process-local channel read by
            # the same receive loop as the process's other consumers.
            self._channel = f"specific.{layer.client_prefix}!ocpp-sockets"
            self._tasks = [loop.create_task(self._read(layer)), loop.create_task(self._renew(layer))]
        return self._channel

    async def join(self, station_id: int, socket: StationSocket) -> None:
        channel = self._start()
        sockets = self._by_station.setdefault(station_id, set())
        sockets.add(socket)
        if len(sockets) == 1:
            await get_channel_layer().group_add(station_group(station_id), channel)

    async def leave(self, station_id: int, socket: StationSocket) -> None:
        sockets = self._by_station.get(station_id)
        if sockets is None:
            return
        sockets.discard(socket)
        if not sockets:
            del self._by_station[station_id]
            await get_channel_layer().group_discard(station_group(station_id), self._channel)

    async def _read(self, layer) -> None:
        while True:
            try:
                message = await layer.receive(self._channel)
            except asyncio.CancelledError:
                raise
            except Exception:
                logger.exception("channel layer unreachable; retrying")
                await asyncio.sleep(1)
                continue
            for socket in list(self._by_station.get(message.get("station_id"), ())):
                try:
                    await socket.layer_message(message)
                except Exception:
                    logger.exception("%s for station %s failed", message.get("type"), message.get("station_id"))

    async def _renew(self, layer) -> None:
        while True:
            await asyncio.sleep(MEMBERSHIP_RENEW_S)
            for station_id in list(self._by_station):
                try:
                    await layer.group_add(station_group(station_id), self._channel)
                except Exception:
                    logger.exception("could not renew station %s's group membership", station_id)


local_sockets = LocalSockets()
