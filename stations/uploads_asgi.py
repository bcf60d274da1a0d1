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

from config.request_limits import LimitedBody, declared_length, refuse
from stations.ocpp.threads import db
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
            declared = declared_length(scope["headers"])
        except ValueError:
            return await refuse(send, HTTPStatus.BAD_REQUEST, "unreadable Content-Length")
        try:
            upload_id = diagnostics.upload_token_check(token=token)
            await db(diagnostics.upload_grant_check, upload_id=upload_id)
            diagnostics.upload_size_check(length=declared)
        except diagnostics.UploadRefused as exc:
            logger.info("diagnostics upload refused before its body: %s", exc)
            return await refuse(send, exc.status, str(exc))
        limit = diagnostics.max_upload_bytes()
        if declared is not None:
            limit = min(limit, declared)
        await LimitedBody(self.app, receive, send, limit).run(scope)


def is_upload_path(path: str) -> bool:
    return diagnostics.upload_token_in_path(path) is not None
