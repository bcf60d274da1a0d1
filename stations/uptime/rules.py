"""What counts as up and what counts as a failed session: one place for every report that asks.

Session outcomes, in this order (the first that applies):

1. ``refused``: the id tag was not Accepted (the charger must not deliver).
2. ``in_progress``: not stopped yet; not judged.
3. ``error_stop``: stopped by the equipment (EmergencyStop, PowerLoss, HardReset, SoftReset,
   Reboot, whatever energy came before), or EVDisconnected below SESSION_SUCCESS_MIN_WH (the
   cable came out too early), or Other with no energy at all.
4. ``unmeasured``: the readings were inconsistent (energy_wh unset); not judged.
5. ``low_energy``: less than SESSION_SUCCESS_MIN_WH delivered.
6. ``success``: everything else.

A remote start the charger accepted with no session on that connector within
REMOTE_START_GRACE is a failed attempt too (``no_start``); it has no session row.

For uptime only the station's own failures count (``error_stop``, ``low_energy``); a refused
tag is the driver's or the account's, and sessions not judged neither break nor extend a run.
"""

from datetime import timedelta

from django.conf import settings
from django.db import models
from django.db.models import Case, Q, Value, When

from stations.models import ConnectorStatus, IdTagStatus

# States in which a port can deliver energy (23 CFR 680.116(b)(1): available for use or in use).
UP_STATUSES = (
    ConnectorStatus.AVAILABLE,
    ConnectorStatus.PREPARING,
    ConnectorStatus.CHARGING,
    ConnectorStatus.SUSPENDED_EV,
    ConnectorStatus.SUSPENDED_EVSE,
    ConnectorStatus.FINISHING,
    ConnectorStatus.RESERVED,
)

EQUIPMENT_STOP_REASONS = ("EmergencyStop", "PowerLoss", "HardReset", "SoftReset", "Reboot")
REMOTE_START_GRACE = timedelta(minutes=2)
# How far back a run of failed sessions is looked for when a period starts inside one.
FAILED_RUN_LOOKBACK = timedelta(days=31)


class SessionOutcome(models.TextChoices):
    SUCCESS = "success"
    REFUSED = "refused", "authorisation refused"
    ERROR_STOP = "error_stop", "stopped with an error"
    LOW_ENERGY = "low_energy", "too little energy"
    NO_START = "no_start", "no start after a remote start"
    UNMEASURED = "unmeasured", "readings inconsistent"
    IN_PROGRESS = "in_progress", "in progress"


FAILED_OUTCOMES = (
    SessionOutcome.REFUSED,
    SessionOutcome.ERROR_STOP,
    SessionOutcome.LOW_ENERGY,
    SessionOutcome.NO_START,
)
# Failures that say the port itself does not work (runs of these count as down).
PORT_FAILURE_OUTCOMES = (SessionOutcome.ERROR_STOP, SessionOutcome.LOW_ENERGY)


def min_wh() -> int:
    return settings.SESSION_SUCCESS_MIN_WH


def session_outcome() -> Case:
    """The outcome of a ChargingSession as a database expression (annotate with it)."""
    threshold = min_wh()
    return Case(
        When(~Q(id_tag_status=IdTagStatus.ACCEPTED), then=Value(SessionOutcome.REFUSED.value)),
        When(stop_at__isnull=True, then=Value(SessionOutcome.IN_PROGRESS.value)),
        When(stop_reason__in=EQUIPMENT_STOP_REASONS, then=Value(SessionOutcome.ERROR_STOP.value)),
        When(
            Q(stop_reason="EVDisconnected", energy_wh__lt=threshold) | Q(stop_reason="Other", energy_wh=0),
            then=Value(SessionOutcome.ERROR_STOP.value),
        ),
        When(energy_wh__isnull=True, then=Value(SessionOutcome.UNMEASURED.value)),
        When(energy_wh__lt=threshold, then=Value(SessionOutcome.LOW_ENERGY.value)),
        default=Value(SessionOutcome.SUCCESS.value),
        output_field=models.CharField(),
    )
