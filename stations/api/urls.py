from django.urls import re_path
from rest_framework.routers import DefaultRouter

from . import uptime, views

router = DefaultRouter()
router.register("stations", views.StationViewSet, basename="station")
router.register("connectors", views.ConnectorViewSet, basename="connector")
router.register("sessions", views.SessionViewSet, basename="session")
router.register("frames", views.FrameViewSet, basename="frame")
router.register("commands", views.CommandViewSet, basename="command")
router.register("uptime/exclusions", uptime.ExclusionViewSet, basename="uptime-exclusion")

urlpatterns = [
    re_path(r"^uptime/$", uptime.UptimeView.as_view(), name="uptime"),
    re_path(
        rf"^stations/(?P<identity>{views.IDENTITY_IN_PATH})/commands/$",
        views.StationCommandView.as_view(),
        name="station-command",
    ),
    *router.urls,
]
