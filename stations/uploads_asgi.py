"""Judge diagnostics uploads from their headers, before anything reads their body.

Django's ASGI handler reads a whole request body (to memory, then to disk)
before a view runs, so a view cannot refuse a gigabyte sent to a forged
address without taking it first. This wrapper sits in front of Django for
upload addresses only: it refuses a bad token (403), a spent or expired one
(410) or a declared size over the limit (413) at once, closing the
connection unread, and lets an admitted body through to the view only up to
the limit, cutting it off with 413 beyond.
"""

import logging
from http import HTTPStatus

from stations.ocpp.v16 import db
from stations.services import diagnostics

logger = logging.getLogger(__name__)


class DiagnosticsUploadGuard:
    def __init__(self, app):
        self.app = app

    async def __call__(self, scope, receive, send):
        token = diagnostics.upload_token_in_path(scope["path"]) if scope["type"] == "http" else None
        if token is None:
            return await self.app(scope, receive, send)
        try:
            declared = _content_length(scope["headers"])
        except ValueError:
            return await _refuse(send, HTTPStatus.BAD_REQUEST, "unreadable Content-Length")
        try:
            upload_id = diagnostics.upload_token_check(token=token)
            await db(diagnostics.upload_grant_check, upload_id=upload_id)
            diagnostics.upload_size_check(length=declared)
        except diagnostics.UploadRefused as exc:
            logger.info("diagnostics upload refused before its body: %s", exc)
            return await _refuse(send, exc.status, str(exc))
        limit = diagnostics.max_upload_bytes()
        if declared is not None:
            limit = min(limit, declared)
        await _Limited(self.app, receive, send, limit).run(scope)


class _Limited:
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
                logger.info("diagnostics upload cut off after %s bytes", self.received)
                await _refuse(self.send, HTTPStatus.REQUEST_ENTITY_TOO_LARGE, "the file is larger than allowed")
                return {"type": "http.disconnect"}
        return message

    async def _send(self, message) -> None:
        if not self.cut_off:
            await self.send(message)


def _content_length(headers) -> int | None:
    for name, value in headers:
        if name.lower() == b"content-length":
            length = int(value)
            if length < 0:
                raise ValueError("negative Content-Length")
            return length
    return None


async def _refuse(send, status: HTTPStatus, reason: str) -> None:
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
