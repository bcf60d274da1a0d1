"""An incident's status moves, its timeline, and what happens to it next.

    open ──► remediating ──► dispatched ──► closed
      │          │ ▲  │                      ▲
      │          └─┘  └──────────────────────┤
      └──────────────────────────────────────┘

Every move goes through `incident_move`: allowed by TRANSITIONS, made by
compare-and-swap on the status the caller saw, and written to the timeline
with who made it. `incident_next_step` says where an incident goes from here;
remediation's worker acts on it and the pages show it.
"""

from dataclasses import dataclass
from datetime import datetime

from django.db import transaction
from django.utils import timezone

from workorders.models import (
    FaultCause,
    Incident,
    IncidentKind,
    IncidentResolution,
    IncidentStatus,
    IncidentStep,
    IncidentStepKind,
    RemoteStep,
)

from . import events

I = IncidentStatus  # noqa: E741
TRANSITIONS: dict[str, frozenset[str]] = {
    I.OPEN: frozenset({I.REMEDIATING, I.DISPATCHED, I.CLOSED}),
    # Remediating to remediating: the next remote step.
    I.REMEDIATING: frozenset({I.REMEDIATING, I.DISPATCHED, I.CLOSED}),
    I.DISPATCHED: frozenset({I.CLOSED}),
    I.CLOSED: frozenset(),
}
# When remediation finds no playbook entry: the generic tries, cheapest first.
DEFAULT_STEPS = [RemoteStep.TRIGGER_STATUS, RemoteStep.SOFT_RESET, RemoteStep.HARD_RESET]
MAX_NOTE = 2000
MAX_REASON = 500


class IllegalIncidentMove(ValueError):
    pass


class StaleIncidentMove(IllegalIncidentMove):
    """Someone (a worker, a charger, another person) moved the incident first."""


def _user(by):
    return by if getattr(by, "is_authenticated", False) else None


def step_record(
    incident: Incident,
    *,
    kind: str,
    key: str,
    reason: str,
    now: datetime,
    remote_step: str = "",
    command=None,
    by=None,
) -> IncidentStep:
    """Write a timeline entry once; a retried task finds the existing one."""
    step, _ = IncidentStep.objects.get_or_create(
        incident=incident,
        key=key,
        defaults={
            "kind": kind,
            "reason": reason,
            "at": now,
            "remote_step": remote_step,
            "command": command,
            "by": _user(by),
        },
    )
    return step


_STEP_KIND = {I.CLOSED: IncidentStepKind.CLOSED, I.DISPATCHED: IncidentStepKind.DECISION}


def incident_move(
    *,
    incident: Incident,
    to: str,
    by=None,
    reason: str,
    now: datetime | None = None,
    key: str = "",
    kind: str = "",
    **fields,
) -> Incident:
    """Move `incident` from the status it was loaded with to `to`, with a timeline row.

    Refused (IllegalIncidentMove) when TRANSITIONS has no such move, and
    (StaleIncidentMove) when the incident is no longer in the status the caller
    saw. `key` makes the timeline row idempotent for a retried task; `kind`
    names it when the move is part of a step the timeline already knows.
    """
    now = now or timezone.now()
    current = incident.status
    if to not in I.values:
        raise IllegalIncidentMove(f"{to!r} is not an incident status")
    if to not in TRANSITIONS[current]:
        raise IllegalIncidentMove(f"an incident cannot go from {current} to {to}")
    with transaction.atomic():
        moved = Incident.objects.filter(pk=incident.pk, status=current).update(status=to, **fields)
        if not moved:
            incident.refresh_from_db()
            raise StaleIncidentMove(f"incident {incident.pk} changed meanwhile; it is now {incident.status}")
        step_record(
            incident,
            kind=kind or _STEP_KIND.get(to, IncidentStepKind.STATUS),
            key=key or f"{to}-{now.isoformat()}",
            reason=reason,
            now=now,
            by=by,
        )
    incident.refresh_from_db()
    return incident


def incident_close(*, incident: Incident, resolution: str, reason: str, now: datetime, by=None) -> bool:
    """Close once; False when it was closed already. Whatever status it is in now,
    the close is legal, so a move that lost a race is tried again from there."""
    if resolution not in IncidentResolution.values:
        raise IllegalIncidentMove(f"{resolution!r} is not an incident resolution")
    for _ in range(3):
        if incident.status == I.CLOSED:
            return False
        try:
            incident_move(
                incident=incident,
                to=I.CLOSED,
                by=by,
                reason=reason,
                now=now,
                key="closed",
                resolution=resolution,
                closed_at=now,
                next_check_at=None,
            )
            # After commit, tickets about this fault hear of the fix (support listens).
            events.incident_closed(incident_id=incident.pk, resolution=resolution, by=by)
            return True
        except StaleIncidentMove:
            continue
    raise StaleIncidentMove(f"incident {incident.pk} keeps changing; try again")


def incident_close_by_hand(
    *, incident: Incident, by, resolution: str, reason: str, now: datetime | None = None
) -> bool:
    """A dispatcher closes an incident, saying why."""
    reason = reason.strip()
    if not reason:
        raise IllegalIncidentMove("say why the incident is closed")
    if len(reason) > MAX_REASON:
        raise IllegalIncidentMove(f"the reason is longer than {MAX_REASON} characters")
    who = getattr(by, "username", "") or "someone"
    return incident_close(
        incident=incident, resolution=resolution, reason=f"closed by {who}: {reason}", now=now or timezone.now(), by=by
    )


def incident_note_add(*, incident: Incident, by, text: str, now: datetime | None = None) -> IncidentStep:
    """A person's note on the timeline; it moves nothing."""
    text = text.strip()
    if not text:
        raise ValueError("the note is empty")
    if len(text) > MAX_NOTE:
        raise ValueError(f"the note is longer than {MAX_NOTE} characters")
    now = now or timezone.now()
    return IncidentStep.objects.create(
        incident=incident, kind=IncidentStepKind.NOTE, reason=text, at=now, by=_user(by), key=f"note-{now.isoformat()}"
    )


# -- what happens next ----------------------------------------------------------


def incident_remote_steps(incident: Incident) -> list[str]:
    """The remote steps remediation tries for this incident, in order."""
    entry = incident.playbook
    if entry is None:
        return list(DEFAULT_STEPS)
    return list(entry.remote_steps) if entry.remotely_fixable else []


class NextKind:
    NOTHING = "nothing"
    WITH_TECHNICIAN = "with_technician"
    CLOSE_NOT_EQUIPMENT = "close_not_equipment"
    REMOTE_STEP = "remote_step"
    TRUCK_ROLL = "truck_roll"


@dataclass(frozen=True)
class NextStep:
    kind: str
    label: str  # for people, on the pages
    reason: str = ""  # for the timeline, when it is done
    step: str = ""  # the remote step, for REMOTE_STEP
    index: int = -1


def incident_next_step(incident: Incident) -> NextStep:
    """What remediation does with this incident when it next looks at it
    (unless the charger recovers first). Load the incident with its playbook."""
    if incident.status == I.CLOSED:
        return NextStep(NextKind.NOTHING, "—")
    if incident.status == I.DISPATCHED:
        return NextStep(NextKind.WITH_TECHNICIAN, "with a technician: verified when the charger reports healthy")
    if incident.kind == IncidentKind.OFFLINE:
        return NextStep(
            NextKind.TRUCK_ROLL,
            "truck roll if still offline",
            "offline past its grace time; it cannot be reached remotely",
        )
    entry = incident.playbook
    if entry is not None and entry.cause in (FaultCause.DRIVER, FaultCause.VEHICLE):
        return NextStep(
            NextKind.CLOSE_NOT_EQUIPMENT,
            f"close: usually the {entry.cause}'s, no truck roll",
            f"{entry.code} is usually the {entry.cause}'s, not the charger's: no truck roll",
        )
    steps = incident_remote_steps(incident)
    index = incident.next_step
    if index < len(steps):
        step = steps[index]
        return NextStep(
            NextKind.REMOTE_STEP,
            f"remote step {index + 1} of {len(steps)}: {RemoteStep(step).label}",
            step=step,
            index=index,
        )
    if not steps:
        why = f"{entry.code} is not remotely fixable" if entry else "no remote step applies"
    else:
        why = f"still faulted after {len(steps)} remote step(s)"
    return NextStep(NextKind.TRUCK_ROLL, "truck-roll decision", why)
