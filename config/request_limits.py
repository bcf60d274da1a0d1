"""A size limit on every HTTP request body, enforced before Django reads it.

Django's ASGI handler reads a whole body (to memory, then to disk) before any
view or form limit applies, so a client could make every process spool
gigabytes. In front of it: a declared Content-Length over the limit is
answered 413 at once with the connection closed unread, and a body that keeps
coming past the limit (chunked, or longer than declared) is cut off with 413.
Diagnostics uploads have a larger limit of their own (stations/uploads_asgi.py).
"""

import logging
from http import HTTPStatus

from django.conf import settings

logger = logging.getLogger(__name__)


class BodyTooLarge(ValueError):
    pass


def declared_length(headers) -> int | None:
    """The Content-Length header's value; ValueError when it is not a length."""
    for name, value in headers:
        if name.lower() == b"content-length":
            length = int(value)
            if length < 0:
                raise ValueError("negative Content-Length")
            return length
    return None


class RequestBodyLimit:
    def __init__(self, app, *, exempt=lambda path: False):
        self.app = app
        self.exempt = exempt

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http" or self.exempt(scope["path"]):
            return await self.app(scope, receive, send)
        limit = settings.REQUEST_MAX_BODY_BYTES
        try:
            declared = declared_length(scope["headers"])
        except ValueError:
            return await refuse(send, HTTPStatus.BAD_REQUEST, "unreadable Content-Length")
        if declared is not None and declared > limit:
            return await refuse(send, HTTPStatus.REQUEST_ENTITY_TOO_LARGE, f"request body over {limit} bytes")
        await LimitedBody(self.app, receive, send, limit if declared is None else min(limit, declared)).run(scope)


class LimitedBody:
    """Passes the body on while it stays within `limit` bytes; past that, answers 413
    itself and tells the application the client went away (Django then drops the request)."""

    def __init__(self, app, receive, send, limit: int):
        self.app, self.receive, self.send, self.limit = app, receive, send, limit
        self.received = 0
        self.cut_off = False

    async def run(self, scope) -> None:
        await self.app(scope, self._receive, self._send)

    async def _receive(self):
        if self.cut_off:
            return {"type": "http.disconnect"}
        message = await self.receive()
        if message["type"] == "http.request":
            self.received += len(message.get("body", b""))
            if self.received > self.limit:
                self.cut_off = True
                logger.info("request body cut off after %s bytes", self.received)
                await refuse(self.send, HTTPStatus.REQUEST_ENTITY_TOO_LARGE, "the request body is larger than allowed")
                return {"type": "http.disconnect"}
        return message

    async def _send(self, message) -> None:
        if not self.cut_off:
            await self.send(message)


async def refuse(send, status: HTTPStatus, reason: str) -> None:
    # Connection: close, so the server neither waits for nor drains the body it was not asked for.
    body = reason.encode()
    await send(
        {
            "type": "http.response.start",
            "status": int(status),
            "headers": [
                (b"content-type", b"text/plain; charset=utf-8"),
                (b"content-length", str(len(body)).encode()),
                (b"connection", b"close"),
            ],
        }
    )
    await send({"type": "http.response.body", "body": body})
