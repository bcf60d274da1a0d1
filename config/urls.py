from django.contrib import admin
from django.contrib.auth import views as auth_views
from django.urls import include, path
from django.views.generic import RedirectView
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerView

from stations import views as station_views
from workorders import views_kpis

urlpatterns = [
    path("", RedirectView.as_view(pattern_name="stations:station-list", permanent=False)),
    path("login/", auth_views.LoginView.as_view(), name="login"),
    path("logout/", auth_views.LogoutView.as_view(), name="logout"),
    path("admin/", admin.site.urls),
    path("stations/", include("stations.urls")),
    path("kpis/", views_kpis.kpi_page, name="kpis"),
    path("uploads/diagnostics/<str:token>/", station_views.diagnostics_upload, name="diagnostics-upload"),
    path("api/", include("stations.api.urls")),
    path("api/", include("workorders.api.urls")),
    path("api/schema/", SpectacularAPIView.as_view(), name="api-schema"),
    path("api/docs/", SpectacularSwaggerView.as_view(url_name="api-schema"), name="api-docs"),
]
