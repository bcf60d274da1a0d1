"""Remote remediation: try the playbook's remote steps, then decide on a truck roll.

An incident is advanced when its `next_check_at` comes due (a periodic sweep
hands each due incident to a worker). One advance does one thing: close the
incident if the charger recovered, run the next remote step and wait, or
decide. Every step is keyed in the timeline, so a worker that dies and whose
task is retried never sends the same step twice.
"""

from dataclasses import dataclass
from datetime import datetime, timedelta

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from stations.models import Connector, FrameLog
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
    for pk, due_at in due:
        if Incident.objects.filter(pk=pk, next_check_at=due_at).update(next_check_at=now + LEASE):
            claimed.append(pk)
    return claimed


@dataclass(frozen=True)
class Advance:
    action: str  # "closed", "step", "dispatched", "waiting", "nothing"
    reason: str


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
    if plan.kind == incident_lifecycle.NextKind.TRUCK_ROLL:
        return _truck_roll(incident, reason=plan.reason, now=now)

    station.refresh_from_db(fields=["connected"])
    if not station.connected:
        return _truck_roll(incident, reason="the station is not connected, so no remote step can reach it", now=now)
    index, step = plan.index, plan.step
    _run_step(incident, step, index, now=now)
    wait = settings.REMEDIATION_WAIT_S
    with transaction.atomic():
        try:
            incident_lifecycle.incident_move(
                incident=incident,
                to=IncidentStatus.REMEDIATING,
                reason=f"waiting {wait} s for the charger to report recovery",
                now=now,
                key=f"wait-{index}",
                kind=IncidentStepKind.WAIT,
                next_step=index + 1,
                next_check_at=now + timedelta(seconds=wait),
            )
        except incident_lifecycle.IllegalIncidentMove:
            return Advance("nothing", "moved on meanwhile (recovered or dispatched)")
        incidents.step_record(
            incident,
            kind=IncidentStepKind.WAIT,
            key=f"wait-{index}",
            reason=f"waiting {wait} s for the charger to report recovery",
            now=now,
        )
    return Advance("step", step)


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


def _run_step(incident: Incident, step: str, index: int, *, now: datetime) -> None:
    """Send the step's command(s) once. Intent before effect: the keyed timeline row
    and its command are committed before the command goes out, so an advance retried
    after its worker died (while the charger was still answering) finds the row and
    takes that command's outcome, or waits for it, instead of sending it again. The
    outcome is the command's, shown through the row's link to it."""
    label = RemoteStep(step).label
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
            commands.command_outcome(command=row.command)


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
