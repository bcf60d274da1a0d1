"""Live chat between a driver at a charger and an agent: presence, the ticket a
chat becomes, and the pushes that carry its messages.

Presence lives in Redis, shared by every server process: a sorted set per
audience whose members are socket names scored by the moment they stop
counting. A socket renews its member while open and removes it when it
closes; a process that dies leaves members that simply expire.

Messages reach sockets through channel-layer groups, pushed after commit by
the `on_message_added` listener, whatever wrote them (the chat, the console's
reply form, mail in). Drivers' sockets join only the public group of their
ticket, which carries driver messages and public replies: internal notes and
system rows go to the agents' group alone.
"""

import logging
import time
from functools import lru_cache

import redis
import redis.asyncio
from asgiref.sync import async_to_sync
from channels.layers import get_channel_layer
from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.validators import validate_email

from support.models import ChargerPage, MessageKind, Ticket, TicketChannel, TicketMessage, TicketStatus

from .tickets import TicketRefused, driver_find_or_create, ticket_create

logger = logging.getLogger(__name__)

PRESENCE_GROUP = "support.presence"
PUBLIC_KINDS = (MessageKind.DRIVER, MessageKind.REPLY)


def public_group(ticket_id: int) -> str:
    return f"support.ticket.{ticket_id}.public"


def agents_group(ticket_id: int) -> str:
    return f"support.ticket.{ticket_id}.agents"


# --- presence -----------------------------------------------------------------------


def _agents_key() -> str:
    return f"{settings.CHANNEL_PREFIX}:support:agents-online"


def _drivers_key(ticket_id: int) -> str:
    return f"{settings.CHANNEL_PREFIX}:support:chat-drivers:{ticket_id}"


@lru_cache(maxsize=1)
def _sync_redis() -> redis.Redis:
    return redis.Redis.from_url(settings.REDIS_URL, socket_timeout=5)


_async_clients: dict = {}


def _async_redis() -> redis.asyncio.Redis:
    import asyncio

    # One client per event loop: a client's connections belong to the loop that made them.
    loop = asyncio.get_running_loop()
    client = _async_clients.get(id(loop))
    if client is None:
        client = _async_clients[id(loop)] = redis.asyncio.Redis.from_url(settings.REDIS_URL, socket_timeout=5)
    return client


async def presence_renew(*, agent: bool, member: str, ticket_id: int | None = None) -> None:
    key = _agents_key() if agent else _drivers_key(ticket_id)
    client = _async_redis()
    await client.zadd(key, {member: time.time() + settings.SUPPORT_PRESENCE_TTL_S})
    await client.expire(key, settings.SUPPORT_PRESENCE_TTL_S * 4)


async def presence_leave(*, agent: bool, member: str, ticket_id: int | None = None) -> None:
    key = _agents_key() if agent else _drivers_key(ticket_id)
    await _async_redis().zrem(key, member)


async def agents_online() -> int:
    client = _async_redis()
    await client.zremrangebyscore(_agents_key(), "-inf", time.time())
    return await client.zcard(_agents_key())


def driver_is_online(ticket_id: int) -> bool:
    try:
        return _sync_redis().zcount(_drivers_key(ticket_id), time.time(), "+inf") > 0
    except redis.RedisError:
        return False  # unknown: mail it rather than lose it


# --- a chat becomes a ticket ----------------------------------------------------------


def chat_ticket_start(*, page: ChargerPage, body: str, name: str = "", email: str = "") -> Ticket:
    """The driver's first chat message: a ticket about the page's charger."""
    name, email = name.strip()[:200], email.strip()[:254]
    if email:
        try:
            validate_email(email)
        except ValidationError:
            raise TicketRefused("enter a valid email address, or none") from None
    body = body.strip()
    if len(body) > settings.SUPPORT_CHAT_MESSAGE_MAX:
        raise TicketRefused(f"a message is at most {settings.SUPPORT_CHAT_MESSAGE_MAX} characters")
    first_line = body.splitlines()[0] if body else ""
    return ticket_create(
        channel=TicketChannel.CHAT,
        subject=f"Chat at {page.station.identity}: {first_line}"[:200],
        body=body,
        requester=driver_find_or_create(name=name, email=email),
        station=page.station,
    )


def message_payload(message: TicketMessage) -> dict:
    """What a chat socket sends its browser about one message."""
    if message.kind == MessageKind.REPLY:
        who = (message.author.get_short_name() if message.author else "") or "Support"
    elif message.kind == MessageKind.DRIVER:
        who = "Driver"
    else:
        who = MessageKind(message.kind).label
    return {
        "id": message.pk,
        "kind": message.kind,
        "author": who,
        "body": message.body,
        "at": message.created_at.isoformat(),
    }


def message_added(message_id: int) -> None:
    """Listener: push a new message to the sockets of its ticket."""
    message = TicketMessage.objects.select_related("author").filter(pk=message_id).first()
    layer = get_channel_layer()
    if message is None or layer is None:
        return
    event = {"type": "chat.message", "message": message_payload(message)}
    group = public_group(message.ticket_id) if message.kind in PUBLIC_KINDS else agents_group(message.ticket_id)
    try:
        async_to_sync(layer.group_send)(group, event)
    except Exception:  # a missed push shows on the next load; it must not fail the write's other listeners
        logger.warning("chat push failed", exc_info=True)


def ticket_moved(ticket_id: int, from_status: str, to_status: str) -> None:
    """Listener: the driver's chat learns that their request was resolved or closed."""
    layer = get_channel_layer()
    if layer is None:
        return
    event = {"type": "chat.status", "status": to_status, "label": TicketStatus(to_status).label}
    try:
        async_to_sync(layer.group_send)(public_group(ticket_id), event)
    except Exception:
        logger.warning("chat push failed", exc_info=True)
