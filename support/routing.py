"""Support's websockets, added to the project's router in config/asgi.py
(stations' routing imports no other app)."""

from channels.auth import AuthMiddlewareStack
from django.urls import path

from config.security import SameOriginValidator
from support.consumers import AgentChatConsumer, DriverChatConsumer

websocket_urlpatterns = [
    # Both are browser sockets: only pages of this site may open them.
    path("ws/support/chat/<str:code>/", SameOriginValidator(DriverChatConsumer.as_asgi())),
    path(
        "ws/support/tickets/<int:ticket_id>/chat/",
        SameOriginValidator(AuthMiddlewareStack(AgentChatConsumer.as_asgi())),
    ),
]
