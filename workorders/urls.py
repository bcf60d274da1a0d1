from django.urls import include, path

from .alerts import urls as alert_urls
from .views import dispatch, incidents, technician

app_name = "workorders"
urlpatterns = [
    # Dispatchers and operators
    path("", dispatch.WorkOrderBoardView.as_view(), name="board"),
    path("live/", dispatch.WorkOrderBoardLiveView.as_view(), name="board-live"),
    path("new/", dispatch.WorkOrderCreateView.as_view(), name="create"),
    path("technicians/", dispatch.TechnicianWorkloadView.as_view(), name="technicians"),
    path("<int:pk>/dispatch/", dispatch.DispatchView.as_view(), name="dispatch"),
    # Incidents
    path("incidents/", incidents.IncidentBoardView.as_view(), name="incident-board"),
    path("incidents/live/", incidents.IncidentBoardLiveView.as_view(), name="incident-board-live"),
    path("incidents/<int:pk>/", incidents.IncidentDetailView.as_view(), name="incident-detail"),
    path(
        "incidents/<int:pk>/<str:action>/",
        incidents.IncidentActionView.as_view(),
        name="incident-action",
    ),
    path("alerts/", include(alert_urls.urlpatterns)),
    # Technicians (and whoever else may open their work orders)
    path("my/", technician.MyQueueView.as_view(), name="my-queue"),
    path("my/live/", technician.MyQueueLiveView.as_view(), name="my-queue-live"),
    path("<int:pk>/", technician.WorkOrderDetailView.as_view(), name="detail"),
    path("<int:pk>/live/", technician.WorkOrderLiveView.as_view(), name="live"),
    path("<int:pk>/status/", technician.WorkOrderMoveView.as_view(), name="move"),
    path("<int:pk>/fieldwork/", technician.WorkOrderFieldworkView.as_view(), name="fieldwork"),
    path("<int:pk>/commands/", technician.WorkOrderCommandView.as_view(), name="command"),
    path("<int:pk>/photos/", technician.WorkOrderPhotoView.as_view(), name="photo-add"),
    path("<int:pk>/photos/<int:photo_id>/", technician.WorkOrderPhotoFileView.as_view(), name="photo"),
]
