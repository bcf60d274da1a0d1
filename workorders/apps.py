from django.apps import AppConfig


class WorkordersConfig(AppConfig):
    name = "workorders"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from stations.services import command_access, demo, events

        from . import listeners
        from .alerts import listeners as alert_listeners
        from .alerts import tasks as alert_tasks  # noqa: F401  (the worker learns its tasks here)
        from .demo import demo_technicians_seed

        events.on_status_event(listeners.status_event)
        events.on_status_event(alert_listeners.status_event)
        events.on_session_stopped(listeners.session_stopped)
        command_access.register_station_work_rule(listeners.station_in_technicians_work)
        demo.register_demo_seeder(demo_technicians_seed)
