"""ASGI entry point: portal pages, the REST API, the OCPP endpoint and live pages."""

import asyncio
import logging
import os

from django.core.asgi import get_asgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
django_asgi_app = get_asgi_application()

from channels.routing import ProtocolTypeRouter, URLRouter  # noqa: E402

from config.request_limits import RequestBodyLimit  # noqa: E402
from stations.routing import websocket_urlpatterns  # noqa: E402
from stations.services import events, live  # noqa: E402
from stations.services.frame_log import flush_all  # noqa: E402
from stations.tasks import status_events_hand_over  # noqa: E402
from stations.uploads_asgi import DiagnosticsUploadGuard, is_upload_path  # noqa: E402
from support.routing import websocket_urlpatterns as support_websocket_urlpatterns  # noqa: E402

logger = logging.getLogger(__name__)

http_app = DiagnosticsUploadGuard(RequestBodyLimit(django_asgi_app, exempt=is_upload_path))
router = ProtocolTypeRouter(
    {"http": http_app, "websocket": URLRouter([*websocket_urlpatterns, *support_websocket_urlpatterns])}
)


async def lifespan(scope, receive, send) -> None:
    """Start the batched live pushes; write the batched frame log before the process exits."""
    while True:
        message = await receive()
        if message["type"] == "lifespan.startup":
            live.attach_to_server_loop(asyncio.get_running_loop())
            events.attach_to_server_loop(asyncio.get_running_loop(), status_events_hand_over)
            await send({"type": "lifespan.startup.complete"})
        elif message["type"] == "lifespan.shutdown":
            try:
                await flush_all()
                await events.flush_status_events(status_events_hand_over)
            except Exception:
                logger.exception("could not flush the frame log at shutdown")
            await send({"type": "lifespan.shutdown.complete"})
            return


async def application(scope, receive, send):
    if scope["type"] == "lifespan":
        return await lifespan(scope, receive, send)
    return await router(scope, receive, send)
