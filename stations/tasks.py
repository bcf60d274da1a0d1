"""Periodic station upkeep, scheduled in settings.CELERY_BEAT_SCHEDULE."""

from datetime import date, timedelta

from celery import shared_task
from django.conf import settings
from django.db import OperationalError
from django.utils import timezone

from stations.models import ChargingStation
from stations.services import commands, events, frame_log, liveness
from stations.uptime import exclusions, rollup


@shared_task(acks_late=True)
def status_events_fan_out(event_ids: list[int]) -> int:
    """Status events the OCPP server committed, handed over in one batch: each listener enqueues its own work."""
    events.status_events_fan_out(event_ids)
    return len(event_ids)


def status_events_hand_over(event_ids: list[int]) -> None:
    status_events_fan_out.delay(event_ids)


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


@shared_task(acks_late=True, autoretry_for=(OperationalError,), retry_backoff=30, retry_jitter=True, max_retries=5)
def uptime_rollup_recent() -> int:
    """Nightly: collect proposed exclusions, then roll up the last finished days."""
    now = timezone.now()
    last = now.date() - timedelta(days=1)
    first = last - timedelta(days=settings.UPTIME_ROLLUP_RECENT_DAYS - 1)
    exclusions.uptime_proposals_collect(start=now - timedelta(days=settings.UPTIME_ROLLUP_RECENT_DAYS + 1), end=now)
    done = rollup.uptime_rollup_days(first=first, last=last, now=now)
    return sum(count or 0 for count in done.values())


@shared_task(acks_late=True, autoretry_for=(OperationalError,), retry_backoff=30, retry_jitter=True, max_retries=5)
def uptime_rollup_today() -> int:
    """Every few minutes: roll today up as far as now, so the dashboard and the analytics compute
    only the minutes since from the history."""
    return rollup.uptime_rollup_today()


@shared_task(acks_late=True, autoretry_for=(OperationalError,), retry_backoff=30, retry_jitter=True, max_retries=5)
def uptime_recompute_days(first: str, last: str) -> int:
    """Recompute the roll-ups of days whose history or exclusions changed (ISO dates, inclusive)."""
    done = rollup.uptime_rollup_days(first=date.fromisoformat(first), last=date.fromisoformat(last))
    return sum(count or 0 for count in done.values())
