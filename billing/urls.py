from django.urls import path

from . import webhooks
from .views import reconciliation

app_name = "billing"
urlpatterns = [
    path("webhooks/stripe/", webhooks.stripe_webhook, name="stripe-webhook"),
    path("reconciliation/", reconciliation.reconciliation, name="reconciliation"),
]
