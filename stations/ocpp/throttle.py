"""Throttling of wrong charger passwords, per source address.

Guessing passwords costs a handshake each, so an address that keeps failing
gets its password checks spaced out rather than refused: after a few wrong
passwords, each further handshake from that address waits for its turn (at
most one check per interval). Nothing is locked: a charger that then offers
the right password is let in at its turn. Per process and in memory: each
server process throttles what it sees, which bounds the rate all the same.
"""

import asyncio
import time
from collections import OrderedDict, deque

from django.conf import settings

WINDOW_S = 60.0
# Addresses remembered at most (the least recently failing are forgotten first).
MAX_ADDRESSES = 10_000
# A handshake does not wait longer than this for its turn: the websocket
# opening handshake would time out first, so such a client is refused at once
# and retries later.
MAX_WAIT_S = 5.0


class AuthThrottle:
    def __init__(self) -> None:
        self._failures: OrderedDict[str, deque[float]] = OrderedDict()
        self._next_turn: dict[str, float] = {}

    def _recent_failures(self, address: str, now: float) -> int:
        failures = self._failures.get(address)
        if not failures:
            return 0
        while failures and failures[0] < now - WINDOW_S:
            failures.popleft()
        if not failures:
            del self._failures[address]
            self._next_turn.pop(address, None)
            return 0
        return len(failures)

    async def wait_turn(self, address: str) -> bool:
        """Wait until this address may have a password checked; False when the
        wait would be too long (refuse the handshake; the charger retries)."""
        now = time.monotonic()
        if self._recent_failures(address, now) < settings.OCPP_AUTH_FAILURES_BEFORE_THROTTLE:
            return True
        turn = max(now, self._next_turn.get(address, 0.0))
        if turn - now > MAX_WAIT_S:
            return False
        self._next_turn[address] = turn + settings.OCPP_AUTH_THROTTLE_INTERVAL_S
        if turn > now:
            await asyncio.sleep(turn - now)
        return True

    def failed(self, address: str) -> None:
        failures = self._failures.setdefault(address, deque())
        failures.append(time.monotonic())
        # Bounded memory however many addresses try: one address keeps at most
        # what decides its throttling, and old addresses are forgotten.
        while len(failures) > settings.OCPP_AUTH_FAILURES_BEFORE_THROTTLE + 1:
            failures.popleft()
        self._failures.move_to_end(address)
        while len(self._failures) > MAX_ADDRESSES:
            forgotten, _ = self._failures.popitem(last=False)
            self._next_turn.pop(forgotten, None)


auth_throttle = AuthThrottle()
