"""Uptime exclusions: recorded by operators, proposed by the system and confirmed by operators.

The system proposes from maintenance windows and a site's opening hours (sources.py) and from
whatever other apps register (preventive work orders' time on site); the nightly roll-up task
collects the proposals before it rolls the days up.

Every move is an UptimeExclusionChange row with who, when and why, written in the same
transaction; a confirmed or withdrawn exclusion has its days' roll-ups recomputed after commit.
"""

from datetime import datetime

from django.db import transaction
from django.utils import timezone

from stations.models import (
    ChargingStation,
    Connector,
    ExclusionReason,
    ExclusionSource,
    ExclusionState,
    MaintenanceWindow,
    Site,
    UptimeExclusion,
    UptimeExclusionChange,
)
from stations.services import uptime_sources

from . import sources

TRANSITIONS = {
    ExclusionState.PROPOSED: {ExclusionState.CONFIRMED, ExclusionState.REJECTED},
    ExclusionState.CONFIRMED: {ExclusionState.WITHDRAWN},
    ExclusionState.REJECTED: set(),
    ExclusionState.WITHDRAWN: set(),
}


class ExclusionError(ValueError):
    """The exclusion cannot be recorded or moved as asked; the message says why."""


def _check(*, reason: str, starts_at: datetime, ends_at: datetime, scopes: list) -> None:
    if reason not in ExclusionReason.values:
        raise ExclusionError(f"unknown reason {reason!r}")
    if ends_at <= starts_at:
        raise ExclusionError("the end must come after the start")
    if sum(scope is not None for scope in scopes) != 1:
        raise ExclusionError("name exactly one of site, station or connector")


def _change(*, exclusion: UptimeExclusion, from_state: str, by, via: str, note: str, now: datetime) -> None:
    UptimeExclusionChange.objects.create(
        exclusion=exclusion, from_state=from_state, to_state=exclusion.state, by=by, via=via, note=note, at=now
    )


def uptime_exclusion_record(
    *,
    reason: str,
    starts_at: datetime,
    ends_at: datetime,
    by,
    site: Site | None = None,
    station: ChargingStation | None = None,
    connector: Connector | None = None,
    notes: str = "",
    via: str = "",
    now: datetime | None = None,
) -> UptimeExclusion:
    """An operator's exclusion: it counts at once."""
    now = now or timezone.now()
    _check(reason=reason, starts_at=starts_at, ends_at=ends_at, scopes=[site, station, connector])
    with transaction.atomic():
        exclusion = UptimeExclusion.objects.create(
            site=site,
            station=station,
            connector=connector,
            reason=reason,
            starts_at=starts_at,
            ends_at=ends_at,
            notes=notes,
            state=ExclusionState.CONFIRMED,
            source=ExclusionSource.OPERATOR,
            created_by=by,
            created_at=now,
        )
        _change(exclusion=exclusion, from_state="", by=by, via=via, note=notes, now=now)
        _recompute_on_commit(exclusion)
    return exclusion


def uptime_exclusion_propose(
    *, proposal: uptime_sources.ExclusionProposal, via: str = "", now: datetime | None = None
) -> tuple[UptimeExclusion, bool]:
    """A system proposal, made once per key; returns (exclusion, created)."""
    now = now or timezone.now()
    _check(
        reason=proposal.reason,
        starts_at=proposal.starts_at,
        ends_at=proposal.ends_at,
        scopes=[proposal.site_id, proposal.station_id, proposal.connector_id],
    )
    with transaction.atomic():
        exclusion, created = UptimeExclusion.objects.get_or_create(
            source_key=proposal.key,
            defaults={
                "site_id": proposal.site_id,
                "station_id": proposal.station_id,
                "connector_id": proposal.connector_id,
                "reason": proposal.reason,
                "starts_at": proposal.starts_at,
                "ends_at": proposal.ends_at,
                "notes": proposal.notes,
                "state": ExclusionState.PROPOSED,
                "source": proposal.source,
                "created_at": now,
            },
        )
        if created:
            _change(exclusion=exclusion, from_state="", by=None, via=via, note=proposal.notes, now=now)
    return exclusion, created


def uptime_proposals_collect(*, start: datetime, end: datetime, now: datetime | None = None) -> int:
    """Ask stations' own sources (maintenance windows, opening hours) and every registered one
    (preventive work orders) for proposals overlapping [start, end); returns how many are new."""
    created = 0
    for proposal in [*sources.proposals(start, end), *uptime_sources.exclusion_proposals(start, end)]:
        _, new = uptime_exclusion_propose(proposal=proposal, via="worker: uptime proposals", now=now)
        created += new
    return created


def maintenance_window_schedule(
    *,
    title: str,
    starts_at: datetime,
    ends_at: datetime,
    by,
    site: Site | None = None,
    station: ChargingStation | None = None,
    connector: Connector | None = None,
) -> MaintenanceWindow:
    """Scheduled maintenance: the nightly roll-up proposes its time as an exclusion for an
    operator to confirm (scheduling it is not confirming that the outage was the maintenance)."""
    if not title.strip():
        raise ExclusionError("name the maintenance")
    _check(
        reason=ExclusionReason.SCHEDULED_MAINTENANCE, starts_at=starts_at, ends_at=ends_at,
        scopes=[site, station, connector],
    )  # fmt: skip
    return MaintenanceWindow.objects.create(
        title=title.strip(), starts_at=starts_at, ends_at=ends_at, site=site, station=station, connector=connector,
        created_by=by,
    )  # fmt: skip


def _move(*, exclusion: UptimeExclusion, to: str, by, note: str, via: str, now: datetime | None) -> UptimeExclusion:
    now = now or timezone.now()
    with transaction.atomic():
        current = UptimeExclusion.objects.get(pk=exclusion.pk).state
        if to not in TRANSITIONS[ExclusionState(current)]:
            raise ExclusionError(f"a {current} exclusion cannot become {to}")
        # Compare-and-swap: two operators clicking at once make one change.
        if not UptimeExclusion.objects.filter(pk=exclusion.pk, state=current).update(state=to):
            raise ExclusionError("the exclusion changed meanwhile; look again")
        exclusion.refresh_from_db()
        _change(exclusion=exclusion, from_state=current, by=by, via=via, note=note, now=now)
        if ExclusionState.CONFIRMED in (current, to):
            _recompute_on_commit(exclusion)
    return exclusion


def uptime_exclusion_confirm(*, exclusion: UptimeExclusion, by, note: str = "", via: str = "", now=None):
    return _move(exclusion=exclusion, to=ExclusionState.CONFIRMED, by=by, note=note, via=via, now=now)


def uptime_exclusion_reject(*, exclusion: UptimeExclusion, by, note: str = "", via: str = "", now=None):
    return _move(exclusion=exclusion, to=ExclusionState.REJECTED, by=by, note=note, via=via, now=now)


def uptime_exclusion_withdraw(*, exclusion: UptimeExclusion, by, note: str = "", via: str = "", now=None):
    return _move(exclusion=exclusion, to=ExclusionState.WITHDRAWN, by=by, note=note, via=via, now=now)


def _recompute_on_commit(exclusion: UptimeExclusion) -> None:
    from stations import tasks

    first, last = exclusion.starts_at.date(), exclusion.ends_at.date()
    transaction.on_commit(lambda: tasks.uptime_recompute_days.delay(first.isoformat(), last.isoformat()))
