from django.contrib import admin
from django.contrib.auth import views as auth_views
from django.urls import include, path
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerSplitView

from config.api_root import ApiRootView
from config.dashboard import DashboardView, NetworkLiveView
from config.views import home
from stations import views as station_views
from stations import views_usage
from stations.uptime import views as uptime_views
from support.urls import public_urlpatterns as charger_public_urls
from workorders.views import kpis as kpi_views

urlpatterns = [
    path("", home, name="home"),
    path("login/", auth_views.LoginView.as_view(), name="login"),
    path("logout/", auth_views.LogoutView.as_view(), name="logout"),
    path("admin/", admin.site.urls),
    path("dashboard/", DashboardView.as_view(), name="dashboard"),
    path("dashboard/live/", NetworkLiveView.as_view(), name="dashboard-live"),
    path("analytics/", views_usage.AnalyticsView.as_view(), name="analytics"),
    # Before the stations' routes, whose <identity>/ would take "sites".
    path("stations/sites/<int:pk>/", views_usage.SiteDetailView.as_view(), name="site-detail"),
    path("stations/uptime/exclusions/", uptime_views.UptimeExclusionsView.as_view(), name="uptime-exclusions"),
    path("stations/", include("stations.urls")),
    path("workorders/", include("workorders.urls")),
    path("billing/", include("billing.urls")),
    path("support/", include("support.urls")),
    # A charger's public page: short, it is printed under the charger's QR code.
    path("c/", include(charger_public_urls)),
    path("kpis/", kpi_views.kpi_page, name="kpis"),
    path("uploads/diagnostics/<str:token>/", station_views.diagnostics_upload, name="diagnostics-upload"),
    # Before the apps' routes: the one root lists every app's endpoints.
    path("api/", ApiRootView.as_view(), name="api-root-all"),
    path("api/", include("stations.api.urls")),
    path("api/", include("workorders.api.urls")),
    path("api/", include("billing.api.urls")),
    path("api/", include("support.api.urls")),
    path("api/schema/", SpectacularAPIView.as_view(), name="api-schema"),
    # The split view serves Swagger UI's start-up script from a URL: the policy allows no inline script.
    path("api/docs/", SpectacularSwaggerSplitView.as_view(url_name="api-schema"), name="api-docs"),
]
