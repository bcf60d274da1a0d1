from django.apps import AppConfig


class WorkordersConfig(AppConfig):
    name = "workorders"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from stations.services import command_access, demo, events, uptime_sources

        from . import listeners
        from .alerts import listeners as alert_listeners
        from .alerts import tasks as alert_tasks  # noqa: F401  (the worker learns its tasks here)
        from .demo import demo_technicians_seed

        events.on_status_event(listeners.status_event)
        events.on_status_event(alert_listeners.status_event)
        events.on_session_stopped(listeners.session_stopped)
        command_access.register_station_work_rule(listeners.station_in_technicians_work)
        demo.register_demo_seeder(demo_technicians_seed)
        uptime_sources.register_exclusion_source(preventive_visits)


def preventive_visits(start, end):
    """A finished preventive visit's time on site, proposed to stations as scheduled maintenance
    (uptime leaves it out once an operator confirms it)."""
    from stations.models import ExclusionReason, ExclusionSource
    from stations.services.uptime_sources import ExclusionProposal

    from .models import WorkOrder, WorkOrderKind

    visits = WorkOrder.objects.filter(
        kind=WorkOrderKind.PREVENTIVE, on_site_started_at__lt=end, on_site_ended_at__gt=start
    ).only("pk", "title", "station_id", "connector_id", "on_site_started_at", "on_site_ended_at")
    for order in visits:
        if order.on_site_ended_at <= order.on_site_started_at:
            continue
        yield ExclusionProposal(
            key=f"workorder:{order.pk}",
            reason=ExclusionReason.SCHEDULED_MAINTENANCE,
            source=ExclusionSource.WORK_ORDER,
            starts_at=order.on_site_started_at,
            ends_at=order.on_site_ended_at,
            station_id=None if order.connector_id else order.station_id,
            connector_id=order.connector_id,
            notes=f"WO-{order.pk} {order.title}",
        )
