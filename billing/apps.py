from django.apps import AppConfig


class BillingConfig(AppConfig):
    name = "billing"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from stations.services import authorisation, events, session_extras

        from . import listeners, selectors
        from .services import accounts

        authorisation.register_authoriser(accounts.authorise)
        events.on_session_started(listeners.session_started)
        events.on_session_stopped(listeners.session_stopped)
        session_extras.register_session_pricer(selectors.session_money)
