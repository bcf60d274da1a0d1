"""Admission control for OCPP handshakes.

After a restart every charger of a network reconnects within seconds. Each
handshake costs database work (the password check, marking the station
connected); taking them all at once would queue work for chargers that give
up waiting and retry, each retry adding more, until nothing finishes. So a
handful run at once, a bounded number wait their turn briefly, and the rest
are refused at once with HTTP 503 and Retry-After: a charger that is told
"busy" retries later and gets in, instead of timing out.
"""

import asyncio
import contextlib
from collections.abc import AsyncIterator

from django.conf import settings


class HandshakeGate:
    def __init__(self) -> None:
        self._slots: asyncio.Semaphore | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self.waiting = 0

    def _semaphore(self) -> asyncio.Semaphore:
        loop = asyncio.get_running_loop()
        if self._slots is None or self._loop is not loop:
            self._loop = loop
            self._slots = asyncio.Semaphore(settings.OCPP_MAX_HANDSHAKES)
        return self._slots

    @contextlib.asynccontextmanager
    async def admitted(self) -> AsyncIterator[bool]:
        """Yields True with a slot held, or False: refuse this handshake as busy."""
        slots = self._semaphore()
        if not slots.locked():
            await slots.acquire()  # a free slot: taken without waiting
        elif self.waiting >= settings.OCPP_HANDSHAKE_QUEUE:
            yield False
            return
        else:
            self.waiting += 1
            try:
                # A charger gives up on a handshake after some seconds; work done
                # for it after that is wasted, so a turn not come by then is refused.
                await asyncio.wait_for(slots.acquire(), settings.OCPP_HANDSHAKE_QUEUE_WAIT_S)
            except TimeoutError:
                yield False
                return
            finally:
                self.waiting -= 1
        try:
            yield True
        finally:
            slots.release()


handshake_gate = HandshakeGate()
