from django.apps import AppConfig


class BillingConfig(AppConfig):
    name = "billing"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from stations.services import authorisation, events

        from . import listeners
        from .services import accounts

        authorisation.register_authoriser(accounts.authorise)
        events.on_session_started(listeners.session_started)
        events.on_session_stopped(listeners.session_stopped)
