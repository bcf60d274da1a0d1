"""Remote remediation: try the playbook's remote steps, then decide on a truck roll.

An incident is advanced when its `next_check_at` comes due: whoever sets it
also schedules a check for that moment (workorders.tasks), and a periodic sweep
hands over any incident whose check was lost. One advance does one thing:
close the incident if the charger recovered, send the next remote step, wait
longer for an answer the charger still owes, or decide. No advance waits for a
charger: a step is sent and the advance returns with the time of its next
check; the OCPP server records the answer on the command row when it comes.
Every step is keyed in the timeline, so a worker that dies and whose task is
retried never sends the same step twice.
"""

from dataclasses import dataclass
from datetime import datetime, timedelta

from asgiref.sync import async_to_sync
from django.conf import settings
from django.db import transaction
from django.utils import timezone

from stations.models import OPEN_COMMAND_STATUSES, CommandStatus, Connector, FrameLog, RemoteCommand
from stations.services import command_catalogue, commands
from workorders.models import (
    Incident,
    IncidentKind,
    IncidentResolution,
    IncidentStatus,
    IncidentStepKind,
    Priority,
    RemoteStep,
    WorkOrderKind,
)

from . import dispatch, incident_lifecycle, incidents, lifecycle

# A claimed incident is left alone this long; a worker that died lets it come due again.
LEASE = timedelta(minutes=5)
VIA = "remediation"
# A command is given this long past its own timeout before nobody is expected to answer it
# (the server's expiry uses the same margin).
ANSWER_GRACE = timedelta(seconds=5)
# While a charger still owes a step's answer, the incident is looked at again after half the
# time the command has waited so far, at least this long after: answers that come at once are
# seen at once, and a silent charger costs a few checks, not one a second.
ANSWER_RECHECK_MIN = timedelta(seconds=1)


def incidents_claim_due(*, now: datetime | None = None, limit: int = 500) -> list[int]:
    """Take the incidents whose check is due (compare-and-swap on next_check_at)."""
    now = now or timezone.now()
    due = list(
        Incident.objects.filter(next_check_at__lte=now)
        .exclude(status=IncidentStatus.CLOSED)
        .order_by("next_check_at")
        .values_list("pk", "next_check_at")[:limit]
    )
    claimed = []
    # One transaction for the batch: SQLite takes its write lock once, not once per incident.
    with transaction.atomic():
        for pk, due_at in due:
            if Incident.objects.filter(pk=pk, next_check_at=due_at).update(next_check_at=now + LEASE):
                claimed.append(pk)
    return claimed


def incident_claim(*, incident_id: int, due_at: datetime, now: datetime | None = None) -> bool:
    """Take one incident for the check scheduled at `due_at`, the sweep's way (compare-and-swap
    on next_check_at). False when the sweep or another check took it first, or it moved on."""
    now = now or timezone.now()
    this_check = Incident.objects.filter(pk=incident_id, next_check_at=due_at).exclude(status=IncidentStatus.CLOSED)
    # Read first: a check someone else took is common (the sweep runs too), and an update
    # that matches nothing still waits for SQLite's write lock.
    return this_check.exists() and bool(this_check.update(next_check_at=now + LEASE))


@dataclass(frozen=True)
class Advance:
    action: str  # "closed", "step", "dispatched", "waiting", "nothing"
    reason: str
    # When the incident is to be looked at next (its next_check_at), for the caller to schedule.
    next_check_at: datetime | None = None


def _healthy_now(connector: Connector) -> bool:
    connector.refresh_from_db(fields=["status", "error_code"])
    return incidents.is_healthy(connector.status, connector.error_code)


def incident_advance(*, incident_id: int, now: datetime | None = None) -> Advance:
    now = now or timezone.now()
    incident = Incident.objects.select_related("station", "connector", "playbook").filter(pk=incident_id).first()
    if incident is None or incident.status in (IncidentStatus.CLOSED, IncidentStatus.DISPATCHED):
        return Advance("nothing", "closed or already with a technician")
    station = incident.station

    if incident.kind == IncidentKind.FAULT and _healthy_now(incident.connector):
        incidents.recovery_note(incident=incident, reason=f"connector is {incident.connector.status}", now=now)
        return Advance("closed", "recovered")
    if incident.kind == IncidentKind.OFFLINE:
        station.refresh_from_db(fields=["offline", "connected"])
        if not station.offline:
            incidents.recovery_note(incident=incident, reason="station is back online", now=now)
            return Advance("closed", "back online")
        return _truck_roll(incident, reason="offline past its grace time; it cannot be reached remotely", now=now)

    plan = incident_lifecycle.incident_next_step(incident)
    if plan.kind == incident_lifecycle.NextKind.CLOSE_NOT_EQUIPMENT:
        incidents.incident_close(
            incident=incident, resolution=IncidentResolution.NOT_EQUIPMENT, reason=plan.reason, now=now
        )
        return Advance("closed", "not equipment")
    recheck_at = _awaiting_answer_until(incident, now=now)
    if recheck_at is not None:
        # The window after a step closes once the charger has answered it (or could no longer):
        # a step is not judged, nor the next one sent, on a command still in flight.
        moved = Incident.objects.filter(pk=incident.pk, status=incident.status).update(next_check_at=recheck_at)
        if not moved:
            return Advance("nothing", "moved on meanwhile (recovered or dispatched)")
        return Advance("waiting", "the charger has not answered the last step yet", next_check_at=recheck_at)
    if plan.kind == incident_lifecycle.NextKind.TRUCK_ROLL:
        return _truck_roll(incident, reason=plan.reason, now=now)

    station.refresh_from_db(fields=["connected"])
    if not station.connected:
        return _truck_roll(incident, reason="the station is not connected, so no remote step can reach it", now=now)
    index, step = plan.index, plan.step
    wait = settings.REMEDIATION_WAIT_S
    next_check_at = now + timedelta(seconds=wait)
    # Sent before the move: a worker that dies in between leaves the step's rows, and the
    # advance retried finds its commands taken (or owed an answer) and only moves on.
    _send(_record_step(incident, step, index, now=now))
    try:
        incident_lifecycle.incident_move(
            incident=incident,
            to=IncidentStatus.REMEDIATING,
            reason=f"waiting {wait} s for the charger to report recovery",
            now=now,
            key=f"wait-{index}",
            kind=IncidentStepKind.WAIT,
            next_step=index + 1,
            next_check_at=next_check_at,
        )
    except incident_lifecycle.IllegalIncidentMove:
        return Advance("nothing", "moved on meanwhile (recovered or dispatched)")
    return Advance("step", step, next_check_at=next_check_at)


def _awaiting_answer_until(incident: Incident, *, now: datetime) -> datetime | None:
    """When to look again if a command of the incident's steps still awaits the charger's
    answer and may yet get it; None when every answer is in or overdue. An overdue command
    is left to the server's expiry, as the charger may still answer it."""
    owed = (
        RemoteCommand.objects.filter(incidentstep__incident=incident, status__in=OPEN_COMMAND_STATUSES)
        .values_list("sent_at", "created_at", "timeout_s")
    )  # fmt: skip
    later = None
    for sent_at, created_at, timeout_s in owed:
        since = sent_at or created_at
        deadline = since + timedelta(seconds=timeout_s) + ANSWER_GRACE
        if deadline <= now:
            continue
        at = min(deadline, now + max(ANSWER_RECHECK_MIN, (now - since) / 2))
        later = at if later is None else max(later, at)
    return later


# Each remote step as the catalogue's quick commands, sent in this order.
_STEP_PRESETS = {
    RemoteStep.TRIGGER_STATUS: ("trigger_status",),
    RemoteStep.SOFT_RESET: ("soft_reset",),
    RemoteStep.HARD_RESET: ("hard_reset",),
    RemoteStep.AVAILABILITY_CYCLE: ("inoperative", "operative"),
    RemoteStep.CLEAR_CACHE: ("clear_cache",),
    RemoteStep.UNLOCK: ("unlock",),
}


def _commands_for(step: str, connector_id: int) -> list[command_catalogue.QuickCommand]:
    # Unlocking needs a real connector; the rest act on the whole station for an incident on connector 0.
    return [
        command_catalogue.PRESETS[key].command(max(connector_id, 1) if key == "unlock" else connector_id)
        for key in _STEP_PRESETS[step]
    ]


def _record_step(incident: Incident, step: str, index: int, *, now: datetime) -> list[RemoteCommand]:
    """Record the step's command(s), each with its keyed timeline row, and return those still
    to be sent. Intent before effect: the row and its command are committed before the command
    goes out, so an advance retried after its worker died finds the row and sends nothing the
    server has taken already. The outcome is the command's, shown through the row's link to it."""
    label = RemoteStep(step).label
    recorded = []
    for n, quick in enumerate(_commands_for(step, incident.connector.connector_id)):
        key = f"step-{index}-{n}"
        with transaction.atomic():
            row = incident.steps.select_related("command").filter(key=key).first()
            if row is None:
                command = commands.command_request(
                    station=incident.station,
                    action=quick.action,
                    payload=quick.payload,
                    by=None,
                    confirmed=True,  # the playbook chose this step; nobody is there to ask
                    via=f"{VIA}: incident {incident.pk}",
                    timeout_s=settings.REMEDIATION_COMMAND_TIMEOUT_S,
                    send=False,
                )
                row = incidents.step_record(
                    incident,
                    kind=IncidentStepKind.COMMAND,
                    key=key,
                    remote_step=step,
                    command=command,
                    reason=f"{label}: {quick.action}",
                    now=now,
                )
                if row.command_id != command.pk:
                    # Another advance wrote this step first: its command is the one.
                    transaction.set_rollback(True)
        if row.command_id is not None:
            recorded.append(row.command)
    return [command for command in recorded if command.status == CommandStatus.PENDING]


def _send(pending: list[RemoteCommand]) -> None:
    """Hand the commands to the process holding the charger's socket, without waiting for the
    answers: it sends them one at a time, in this order, and records each answer on its row.
    Its claim is compare-and-swap, so a command handed over twice goes out once."""
    for command in pending:
        async_to_sync(commands.dispatch)(command, wait=False)


def incident_truck_roll(*, incident: Incident, reason: str, by, now: datetime | None = None) -> Advance:
    """A dispatcher sends a truck now, without waiting for the remote steps."""
    return _truck_roll(incident, reason=reason, now=now or timezone.now(), by=by)


def _truck_roll(incident: Incident, *, reason: str, now: datetime, by=None) -> Advance:
    """Decide a truck roll: a corrective work order with the diagnosis, dispatched."""
    with transaction.atomic():
        locked = Incident.objects.select_for_update().get(pk=incident.pk)
        if locked.status in (IncidentStatus.CLOSED, IncidentStatus.DISPATCHED):
            return Advance("nothing", "decided already")
        incidents.step_record(
            incident, kind=IncidentStepKind.DECISION, key="decision", reason=f"truck roll: {reason}", now=now, by=by
        )
        order = incidents.open_work_order_for(incident) or lifecycle.workorder_create(
            kind=WorkOrderKind.CORRECTIVE,
            station=incident.station,
            connector=incident.connector,
            incident=incident,
            title=_title(incident),
            priority=_priority(incident),
            diagnosis=diagnosis_build(incident, reason=reason),
            by=by,
            via=VIA,
            now=now,
        )
        # The decision row above is this move's timeline row (same key).
        incident_lifecycle.incident_move(
            incident=locked, to=IncidentStatus.DISPATCHED, by=by, reason=f"truck roll: {reason}", now=now,
            key="decision", next_check_at=None,
        )  # fmt: skip
    decision = dispatch.dispatch(work_order=order, via=VIA, now=now)
    who = decision.chosen or "nobody qualified (left for a dispatcher)"
    return Advance("dispatched", f"work order {order.pk} to {who}")


def _title(incident: Incident) -> str:
    where = f"{incident.station.identity} connector {incident.connector.connector_id}"
    if incident.kind == IncidentKind.OFFLINE:
        return f"{incident.station.identity} offline"
    code = incident.vendor_error_code or incident.error_code or incident.get_kind_display()
    meaning = f" — {incident.playbook.meaning}" if incident.playbook else ""
    return f"{where}: {code}{meaning}"


def _priority(incident: Incident) -> str:
    if incident.kind == IncidentKind.OFFLINE or (incident.playbook and incident.playbook.severity == "critical"):
        return Priority.P1
    if incident.playbook and incident.playbook.severity == "low":
        return Priority.P3
    return Priority.P2


def diagnosis_build(incident: Incident, *, reason: str) -> dict:
    """What the technician needs before leaving: codes, what was tried, the last frames."""
    entry = incident.playbook
    tried = [
        {"step": s.remote_step, "command": s.command.action, "outcome": s.command.status, "at": s.at.isoformat()}
        for s in incident.steps.filter(kind=IncidentStepKind.COMMAND).select_related("command")
        if s.command_id
    ]
    frames = [
        f.raw for f in FrameLog.objects.filter(station_id=incident.station_id).order_by("-created_at", "-id")[:20]
    ]
    events = [
        {"status": e.status, "error_code": e.error_code, "vendor_error_code": e.vendor_error_code, "info": e.info}
        for e in incident.status_events.order_by("-received_at")[:10]
    ]
    return {
        "decision": reason,
        "error_code": incident.error_code,
        "vendor_error_code": incident.vendor_error_code,
        "meaning": entry.meaning if entry else "",
        "field_steps": entry.field_steps if entry else "",
        "likely_parts": entry.likely_parts if entry else "",
        "skills": entry.skills if entry else [],
        "remote_steps_tried": tried,
        "status_events": events,
        "last_frames": frames,
        "station": {
            "identity": incident.station.identity,
            "vendor": incident.station.vendor,
            "model": incident.station.model,
            "firmware": incident.station.firmware_version,
        },
    }
