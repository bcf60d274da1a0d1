from django.apps import AppConfig


class SupportConfig(AppConfig):
    name = "support"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from anymail.signals import inbound

        from stations.services import demo, events, station_links

        from . import tasks
        from .services import charger_pages, email_in, troubleshooting

        events.on_status_event(tasks.status_event_recorded)
        station_links.register_public_url(charger_pages.station_public_urls)
        demo.register_demo_seeder(charger_pages.demo_charger_pages_seed)
        demo.register_demo_seeder(troubleshooting.desk_defaults_demo_seed)
        inbound.connect(email_in.anymail_inbound_received, dispatch_uid="support-email-in")
        self._tell_drivers()
        self._raise_alerts()

    @staticmethod
    def _raise_alerts() -> None:
        from workorders.alerts.models import AlertKind
        from workorders.alerts.registry import register_condition_source

        from .services import alert_source

        register_condition_source(AlertKind.TICKET_SLA, alert_source.tickets_breaching_sla)

    @staticmethod
    def _tell_drivers() -> None:
        from workorders.services import events as workorder_events

        from . import tasks
        from .services import chat, notifications, one_fault, tickets

        # Linked to the charger's open incident first, so the acknowledgement knows of it.
        tickets.on_ticket_created(one_fault.ticket_created)
        tickets.on_ticket_created(notifications.ticket_created)
        tickets.on_message_added(chat.message_added)
        tickets.on_message_added(notifications.message_added)
        tickets.on_ticket_moved(notifications.ticket_moved)
        tickets.on_ticket_moved(chat.ticket_moved)
        workorder_events.on_incident_fixed(tasks.incident_fixed_heard)
