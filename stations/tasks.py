"""Periodic station upkeep, scheduled in settings.CELERY_BEAT_SCHEDULE."""

from celery import shared_task

from stations.models import ChargingStation
from stations.services import commands, frame_log, liveness


@shared_task(acks_late=True)
def mark_silent_stations_offline() -> int:
    return len(liveness.stations_mark_silent_offline())


@shared_task(acks_late=True)
def prune_frame_log() -> int:
    return frame_log.frames_prune()


@shared_task(acks_late=True)
def expire_unanswered_commands() -> int:
    return commands.commands_expire()


@shared_task(acks_late=True)
def send_station_command(station_id: int, action: str, payload: dict, requested_via: str, timeout_s: float = 30) -> str:
    """Send a command from a worker and wait for its outcome; returns the final status."""
    station = ChargingStation.objects.filter(pk=station_id).first()
    if station is None:
        return "gone"
    command = commands.command_send(
        station=station, action=action, payload=payload, requested_via=requested_via, timeout_s=timeout_s
    )
    return command.status
