from channels.auth import AuthMiddlewareStack
from django.urls import path, re_path

from config.security import SameOriginValidator
from stations.live_consumer import LiveStationsConsumer
from stations.ocpp.consumer import OcppConsumer

websocket_urlpatterns = [
    # Chargers are configured with and without a trailing slash.
    re_path(r"^ocpp/(?P<identity>[^/]+)/?$", OcppConsumer.as_asgi()),
    # Chargers send no browser Origin; only the portal's own socket checks it.
    path("ws/live/stations/", SameOriginValidator(AuthMiddlewareStack(LiveStationsConsumer.as_asgi()))),
]
