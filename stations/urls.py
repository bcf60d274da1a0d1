from django.urls import path

from . import views

app_name = "stations"
urlpatterns = [
    path("", views.StationListView.as_view(), name="station-list"),
    path("rows/", views.StationListView.as_view(template_name="stations/_station_rows.html"), name="station-rows"),
    path("<str:identity>/", views.StationDetailView.as_view(), name="station-detail"),
    path("<str:identity>/commands/", views.StationCommandView.as_view(), name="station-command"),
    path(
        "<str:identity>/live/",
        views.StationDetailView.as_view(template_name="stations/_station_live.html"),
        name="station-live",
    ),
]
