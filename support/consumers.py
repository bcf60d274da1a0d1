"""Chat sockets: a driver on a charger's public page, an agent beside the ticket.

They only route: frames are bounded and parsed here, every write goes through
the ticket services, and messages come back to every socket of the ticket
through the channel layer (support.services.chat.message_added), so a message
shows the same way whoever wrote it and wherever.
"""

import asyncio
import contextlib
import json
import time
from urllib.parse import parse_qs

from channels.db import database_sync_to_async
from channels.generic.websocket import AsyncJsonWebsocketConsumer
from django.conf import settings

from support.models import ChargerPage, MessageKind, Ticket, TicketChannel, TicketMessage, TicketStatus
from support.services import chat, links
from support.services.tickets import TicketRefused, ticket_message_add

HISTORY = 100


class _ChatSocket(AsyncJsonWebsocketConsumer):
    """Bounded frames, a per-connection rate, and presence renewed while open."""

    agent = False
    _heartbeat: asyncio.Task | None = None

    async def receive(self, text_data=None, bytes_data=None, **kwargs):
        # Refused before parsing: a message is at most MAX characters, JSON quoting at most doubles it.
        if text_data is None:
            await self.close(code=1003)  # text only
            return
        if len(text_data) > settings.SUPPORT_CHAT_MESSAGE_MAX * 2 + 1000:
            await self.close(code=1009)
            return
        try:
            content = json.loads(text_data)
        except ValueError:
            await self.error("that was not a message")
            return
        if not isinstance(content, dict) or content.get("type") != "message":
            await self.error("that was not a message")
            return
        body = content.get("body")
        if not isinstance(body, str) or not body.strip():
            await self.error("the message is empty")
            return
        if len(body.strip()) > settings.SUPPORT_CHAT_MESSAGE_MAX:
            await self.error(f"a message is at most {settings.SUPPORT_CHAT_MESSAGE_MAX} characters")
            return
        if not self._take_token():
            await self.error("you are sending faster than we can read; wait a moment")
            return
        await self.message(body.strip(), content)

    def _take_token(self) -> bool:
        """Token bucket: a burst of SUPPORT_CHAT_BURST, then one per SUPPORT_CHAT_REFILL_S."""
        now = time.monotonic()
        burst, refill = settings.SUPPORT_CHAT_BURST, settings.SUPPORT_CHAT_REFILL_S
        tokens = getattr(self, "_tokens", float(burst))
        tokens = min(float(burst), tokens + (now - getattr(self, "_tokens_at", now)) / refill)
        self._tokens_at = now
        if tokens < 1:
            self._tokens = tokens
            return False
        self._tokens = tokens - 1
        return True

    async def error(self, text: str) -> None:
        await self.send_json({"type": "error", "error": text})

    async def message(self, body: str, content: dict) -> None:
        raise NotImplementedError

    def start_heartbeat(self, ticket_id: int | None) -> None:
        if self._heartbeat is None:
            self._heartbeat = asyncio.create_task(self._beat(ticket_id))

    async def _beat(self, ticket_id: int | None) -> None:
        while True:
            await chat.presence_renew(agent=self.agent, member=self.channel_name, ticket_id=ticket_id)
            await self.beat()
            await asyncio.sleep(settings.SUPPORT_PRESENCE_TTL_S / 3)

    async def beat(self) -> None:
        pass

    async def stop_heartbeat(self) -> None:
        if self._heartbeat is not None:
            self._heartbeat.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._heartbeat
            self._heartbeat = None

    async def chat_message(self, event: dict) -> None:
        await self.send_json({"type": "message", "message": event["message"]})


class DriverChatConsumer(_ChatSocket):
    """Anyone holding a charger's public page. The first message opens a ticket about
    that charger; a reload resumes it with the ticket's signed token."""

    page: ChargerPage | None = None
    ticket_id: int | None = None
    _online: bool | None = None

    async def connect(self) -> None:
        self.page = await database_sync_to_async(_charger_page)(self.scope["url_route"]["kwargs"]["code"])
        if self.page is None:
            await self.close()
            return
        token = (parse_qs(self.scope.get("query_string", b"").decode("latin-1")).get("ticket") or [""])[0]
        ticket = await database_sync_to_async(_resumable)(token, self.page) if token else None
        await self.accept()
        await self.channel_layer.group_add(chat.PRESENCE_GROUP, self.channel_name)
        await self._send_presence()
        if ticket is not None:
            await self._join(ticket)

    async def disconnect(self, code: int) -> None:
        await self.stop_heartbeat()
        await self.channel_layer.group_discard(chat.PRESENCE_GROUP, self.channel_name)
        if self.ticket_id is not None:
            await self._leave()

    async def _join(self, ticket: Ticket) -> None:
        self.ticket_id = ticket.pk
        await self.channel_layer.group_add(chat.public_group(ticket.pk), self.channel_name)
        await chat.presence_renew(agent=False, member=self.channel_name, ticket_id=ticket.pk)
        self.start_heartbeat(ticket.pk)
        await self.channel_layer.group_send(chat.agents_group(ticket.pk), {"type": "chat.driver", "online": True})
        history = await database_sync_to_async(_history)(ticket.pk, public_only=True)
        await self.send_json(
            {
                "type": "ticket",
                "reference": ticket.reference,
                "token": links.follow_token(ticket),
                "follow_url": links.follow_path(ticket),
                "messages": history,
            }
        )

    async def _leave(self) -> None:
        ticket_id, self.ticket_id = self.ticket_id, None
        await self.channel_layer.group_discard(chat.public_group(ticket_id), self.channel_name)
        await chat.presence_leave(agent=False, member=self.channel_name, ticket_id=ticket_id)
        await self.channel_layer.group_send(chat.agents_group(ticket_id), {"type": "chat.driver", "online": False})

    async def message(self, body: str, content: dict) -> None:
        if self.ticket_id is None:
            name, email = content.get("name"), content.get("email")
            try:
                ticket = await database_sync_to_async(chat.chat_ticket_start)(
                    page=self.page,
                    body=body,
                    name=name if isinstance(name, str) else "",
                    email=email if isinstance(email, str) else "",
                )
            except TicketRefused as refused:
                await self.error(str(refused))
                return
            await self._join(ticket)
            return
        try:
            await database_sync_to_async(_driver_says)(self.ticket_id, body)
        except TicketRefused as refused:
            if await database_sync_to_async(_is_closed)(self.ticket_id):
                # The agent closed it meanwhile: the next message starts a new conversation.
                await self.stop_heartbeat()
                await self._leave()
                await self.send_json({"type": "closed"})
            await self.error(str(refused))

    async def chat_message(self, event: dict) -> None:
        # The public group carries nothing else; checked again so a note never reaches a driver.
        if event["message"]["kind"] in chat.PUBLIC_KINDS:
            await super().chat_message(event)

    async def chat_status(self, event: dict) -> None:
        await self.send_json({"type": "status", "status": event["status"], "label": event["label"]})
        if event["status"] == TicketStatus.CLOSED and self.ticket_id is not None:
            # Closed for good: the next message starts a new conversation.
            await self.stop_heartbeat()
            await self._leave()
            await self.send_json({"type": "closed"})

    async def presence_changed(self, event: dict) -> None:
        await self._send_presence()

    async def beat(self) -> None:
        await self._send_presence(only_changes=True)

    async def _send_presence(self, only_changes: bool = False) -> None:
        online = await chat.agents_online() > 0
        if only_changes and online == self._online:
            return
        self._online = online
        await self.send_json({"type": "presence", "agents_online": online})


class AgentChatConsumer(_ChatSocket):
    """An agent on a ticket's page: needs login and support.work_ticket."""

    agent = True
    ticket_id: int | None = None

    async def connect(self) -> None:
        user = self.scope.get("user")
        if user is None or not user.is_authenticated:
            await self.close()
            return
        ticket_id = int(self.scope["url_route"]["kwargs"]["ticket_id"])
        if not await database_sync_to_async(_may_chat)(user, ticket_id):
            await self.close()
            return
        self.ticket_id = ticket_id
        await self.accept()
        await self.channel_layer.group_add(chat.public_group(ticket_id), self.channel_name)
        await self.channel_layer.group_add(chat.agents_group(ticket_id), self.channel_name)
        await chat.presence_renew(agent=True, member=self.channel_name)
        self.start_heartbeat(None)
        await self.channel_layer.group_send(chat.PRESENCE_GROUP, {"type": "presence.changed"})
        history = await database_sync_to_async(_history)(ticket_id, public_only=False)
        driver_online = await database_sync_to_async(chat.driver_is_online)(ticket_id)
        await self.send_json({"type": "ticket", "messages": history, "driver_online": driver_online})

    async def disconnect(self, code: int) -> None:
        if self.ticket_id is None:
            return
        await self.stop_heartbeat()
        await self.channel_layer.group_discard(chat.public_group(self.ticket_id), self.channel_name)
        await self.channel_layer.group_discard(chat.agents_group(self.ticket_id), self.channel_name)
        await chat.presence_leave(agent=True, member=self.channel_name)
        await self.channel_layer.group_send(chat.PRESENCE_GROUP, {"type": "presence.changed"})

    async def message(self, body: str, content: dict) -> None:
        try:
            await database_sync_to_async(_agent_replies)(self.ticket_id, self.scope["user"], body)
        except TicketRefused as refused:
            await self.error(str(refused))

    async def chat_status(self, event: dict) -> None:
        await self.send_json({"type": "status", "status": event["status"], "label": event["label"]})

    async def chat_driver(self, event: dict) -> None:
        await self.send_json({"type": "driver", "online": bool(event["online"])})


# --- database side ---------------------------------------------------------------------


def _charger_page(code: str) -> ChargerPage | None:
    if not code or len(code) > 16:
        return None
    return ChargerPage.objects.select_related("station").filter(code=code).first()


def _resumable(token: str, page: ChargerPage) -> Ticket | None:
    """A conversation this browser started here that is still going on."""
    ticket = links.ticket_from_token(token)
    if ticket is None or ticket.station_id != page.station_id:
        return None
    if ticket.status == TicketStatus.CLOSED or ticket.merged_into_id:
        return None
    return ticket


def _history(ticket_id: int, *, public_only: bool) -> list[dict]:
    messages = TicketMessage.objects.filter(ticket_id=ticket_id).select_related("author")
    if public_only:
        messages = messages.filter(kind__in=chat.PUBLIC_KINDS)
    newest = list(messages.order_by("-created_at", "-id")[:HISTORY])
    return [chat.message_payload(message) for message in reversed(newest)]


def _driver_says(ticket_id: int, body: str) -> None:
    ticket = Ticket.objects.get(pk=ticket_id)
    ticket_message_add(ticket=ticket, kind=MessageKind.DRIVER, body=body, channel=TicketChannel.CHAT)


def _agent_replies(ticket_id: int, user, body: str) -> None:
    ticket = Ticket.objects.get(pk=ticket_id)
    ticket_message_add(ticket=ticket, kind=MessageKind.REPLY, body=body, channel=TicketChannel.CHAT, author=user)


def _is_closed(ticket_id: int) -> bool:
    return Ticket.objects.filter(pk=ticket_id, status=TicketStatus.CLOSED).exists()


def _may_chat(user, ticket_id: int) -> bool:
    return user.has_perm("support.work_ticket") and Ticket.objects.filter(pk=ticket_id).exists()
