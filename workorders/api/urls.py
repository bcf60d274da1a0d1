from django.urls import path
from rest_framework.routers import SimpleRouter

from workorders.alerts import api as alert_api

from . import views
from .kpis import KpiView

router = SimpleRouter()
router.register("incidents", views.IncidentViewSet, basename="incident")
router.register("workorders", views.WorkOrderViewSet, basename="workorder")
router.register("technicians", views.TechnicianViewSet, basename="technician")
router.register("playbook", views.ErrorCodeViewSet, basename="errorcode")
router.register("alert-rules", alert_api.AlertRuleViewSet, basename="alertrule")
router.register("alerts", alert_api.AlertViewSet, basename="alert")
router.register("alert-endpoints", alert_api.AlertEndpointViewSet, basename="alertendpoint")
router.register("alert-deliveries", alert_api.AlertDeliveryViewSet, basename="alertdelivery")

urlpatterns = router.urls
urlpatterns += [path("kpis/", KpiView.as_view(), name="api-kpis")]
