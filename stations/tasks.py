"""Periodic station upkeep, scheduled in settings.CELERY_BEAT_SCHEDULE."""

from celery import shared_task

from stations.services import frame_log, liveness


@shared_task(acks_late=True)
def mark_silent_stations_offline() -> int:
    return len(liveness.stations_mark_silent_offline())


@shared_task(acks_late=True)
def prune_frame_log() -> int:
    return frame_log.frames_prune()
