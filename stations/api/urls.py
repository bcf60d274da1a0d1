from django.urls import path
from rest_framework.routers import DefaultRouter

from . import views

router = DefaultRouter()
router.register("stations", views.StationViewSet, basename="station")
router.register("connectors", views.ConnectorViewSet, basename="connector")
router.register("sessions", views.SessionViewSet, basename="session")
router.register("frames", views.FrameViewSet, basename="frame")
router.register("commands", views.CommandViewSet, basename="command")

urlpatterns = [
    path("stations/<str:identity>/commands/", views.StationCommandView.as_view(), name="station-command"),
    *router.urls,
]
