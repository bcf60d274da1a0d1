from django.urls import path

from . import views

app_name = "workorders"
urlpatterns = [
    path("", views.WorkOrderBoardView.as_view(), name="board"),
    path("my/", views.MyQueueView.as_view(), name="my-queue"),
    path("technicians/", views.TechnicianWorkloadView.as_view(), name="technicians"),
    path("incidents/", views.IncidentBoardView.as_view(), name="incident-board"),
    path("incidents/<int:pk>/", views.IncidentDetailView.as_view(), name="incident-detail"),
    path("<int:pk>/", views.WorkOrderDetailView.as_view(), name="detail"),
    path("<int:pk>/live/", views.WorkOrderLiveView.as_view(), name="live"),
    path("<int:pk>/status/", views.WorkOrderMoveView.as_view(), name="move"),
    path("<int:pk>/fieldwork/", views.WorkOrderFieldworkView.as_view(), name="fieldwork"),
    path("<int:pk>/commands/", views.WorkOrderCommandView.as_view(), name="command"),
    path("<int:pk>/photos/", views.WorkOrderPhotoView.as_view(), name="photo-add"),
    path("<int:pk>/photos/<int:photo_id>/", views.WorkOrderPhotoFileView.as_view(), name="photo"),
    path("<int:pk>/dispatch/", views.DispatchView.as_view(), name="dispatch"),
]
