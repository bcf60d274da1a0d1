from rest_framework.routers import DefaultRouter

from . import views

router = DefaultRouter()
router.register("stations", views.StationViewSet, basename="station")
router.register("connectors", views.ConnectorViewSet, basename="connector")
router.register("sessions", views.SessionViewSet, basename="session")
router.register("frames", views.FrameViewSet, basename="frame")

urlpatterns = router.urls
