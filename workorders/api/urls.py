from django.urls import path
from rest_framework.routers import SimpleRouter

from . import views
from .kpis import KpiView

router = SimpleRouter()
router.register("incidents", views.IncidentViewSet, basename="incident")
router.register("workorders", views.WorkOrderViewSet, basename="workorder")
router.register("technicians", views.TechnicianViewSet, basename="technician")
router.register("playbook", views.ErrorCodeViewSet, basename="errorcode")

urlpatterns = router.urls
urlpatterns += [path("kpis/", KpiView.as_view(), name="api-kpis")]
