"""Routes of the alert pages, under /workorders/alerts/ in the workorders namespace."""

from django.urls import path

from . import views

urlpatterns = [
    path("", views.AlertListView.as_view(), name="alert-list"),
    path("live/", views.AlertListLiveView.as_view(), name="alert-list-live"),
    path("badge/", views.AlertBadgeView.as_view(), name="alert-badge"),
    path("<int:pk>/acknowledge/", views.AlertAcknowledgeView.as_view(), name="alert-acknowledge"),
    path("rules/", views.RuleListView.as_view(), name="alert-rules"),
    path("rules/new/", views.RuleFormView.as_view(), name="alert-rule-create"),
    path("rules/<int:pk>/", views.RuleFormView.as_view(), name="alert-rule-edit"),
    path("rules/<int:pk>/delete/", views.RuleDeleteView.as_view(), name="alert-rule-delete"),
    path("endpoints/", views.EndpointListView.as_view(), name="alert-endpoints"),
    path("endpoints/<int:pk>/resume/", views.EndpointResumeView.as_view(), name="alert-endpoint-resume"),
]
