"""Faulting a running simulator's charger on request.

`manage.py simulate_fault SIM-0003 --code CX001` publishes a request on a
Redis channel named after the channel-layer prefix; every running
`manage.py simulate` listens there and faults the charger if it runs it.
Pub/sub needs nothing stored and nothing cleaned up, and the number of
listeners the publish reaches says whether any simulator heard it.
"""

import asyncio
import json
import logging

import redis
import redis.asyncio as aioredis

from .catalogue import Clear
from .charger import SimulatedCharger

logger = logging.getLogger("stations.simulator")


def fault_channel(prefix: str) -> str:
    return f"{prefix}:simulator:faults"


def fault_request(
    redis_url: str, prefix: str, *, identity: str, code: str, connector_id: int, clears: Clear | None = None
) -> int:
    """Ask the running simulators to fault a charger; returns how many simulators heard it."""
    message = {"identity": identity, "code": code, "connector_id": connector_id, "clears": clears and clears.name}
    client = redis.Redis.from_url(redis_url, socket_timeout=5)
    try:
        return int(client.publish(fault_channel(prefix), json.dumps(message)))
    finally:
        client.close()


async def fault_listen(redis_url: str, prefix: str, chargers: dict[str, SimulatedCharger]) -> None:
    """Fault our chargers as requests arrive, until cancelled; survives Redis restarts."""
    while True:
        client = aioredis.Redis.from_url(redis_url)
        try:
            async with client.pubsub() as pubsub:
                await pubsub.subscribe(fault_channel(prefix))
                async for message in pubsub.listen():
                    if message.get("type") == "message":
                        await _handle(message["data"], chargers)
        except (redis.RedisError, OSError) as exc:
            logger.warning("fault requests: Redis unreachable (%s); listening again in 5 s", exc)
            await asyncio.sleep(5)
        finally:
            await client.aclose()


async def _handle(data: bytes, chargers: dict[str, SimulatedCharger]) -> None:
    try:
        request = json.loads(data)
        charger = chargers.get(request["identity"])
        code, connector_id = str(request["code"]), int(request.get("connector_id") or 1)
        clears = Clear[request["clears"]] if request.get("clears") else None
    except (ValueError, TypeError, KeyError) as exc:
        logger.warning("fault request ignored (%r): %.200s", exc, data)
        return
    if charger is None:
        return  # another simulator's charger
    try:
        await charger.raise_fault(code, connector_id, clears)
    except ValueError as exc:
        logger.warning("fault request ignored: %s", exc)
