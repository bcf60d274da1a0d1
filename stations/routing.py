from channels.auth import AuthMiddlewareStack
from channels.security.websocket import AllowedHostsOriginValidator
from django.urls import path, re_path

from stations.live_consumer import LiveStationsConsumer
from stations.ocpp.consumer import OcppConsumer

websocket_urlpatterns = [
    # Chargers are configured with and without a trailing slash.
    re_path(r"^ocpp/(?P<identity>[^/]+)/?$", OcppConsumer.as_asgi()),
    path("ws/live/stations/", AllowedHostsOriginValidator(AuthMiddlewareStack(LiveStationsConsumer.as_asgi()))),
]
