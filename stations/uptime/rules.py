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
The same port failures open a "repeated failed sessions" incident and feed the session-failure
alert: `port_failed(session)` and `port_failed_q()` are those two's only way to ask.

The rule is written once (`_outcome_conditions`); the database expression (`session_outcome`),
the filters (`outcome_q`, `port_failed_q`, `judged_q`) and the Python function (`outcome_of`)
are derived from it, and a test pins them against each other on every case.
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


def _outcome_conditions(prefix: str = "") -> list[tuple[Q, SessionOutcome]]:
    """The rule itself, first match wins: the database expression, the filters and the Python
    function are all built from this list, so they cannot drift apart. `prefix` reaches the
    session through a relation ("sessions__")."""
    threshold = min_wh()

    def q(**lookups) -> Q:
        return Q(**{f"{prefix}{path}": value for path, value in lookups.items()})

    return [
        (~q(id_tag_status=IdTagStatus.ACCEPTED), SessionOutcome.REFUSED),
        (q(stop_at__isnull=True), SessionOutcome.IN_PROGRESS),
        (q(stop_reason__in=EQUIPMENT_STOP_REASONS), SessionOutcome.ERROR_STOP),
        (
            q(stop_reason="EVDisconnected", energy_wh__lt=threshold) | q(stop_reason="Other", energy_wh=0),
            SessionOutcome.ERROR_STOP,
        ),
        (q(energy_wh__isnull=True), SessionOutcome.UNMEASURED),
        (q(energy_wh__lt=threshold), SessionOutcome.LOW_ENERGY),
    ]


def outcome_q(outcomes, prefix: str = "") -> Q:
    """Sessions whose outcome is one of `outcomes`, as a filter (usable in Count(filter=...)):
    a condition matches and none before it did."""
    conditions = _outcome_conditions(prefix)
    wanted = {SessionOutcome(o) for o in outcomes}
    found = Q(pk__in=[])
    earlier = Q()
    for condition, outcome in conditions:
        if outcome in wanted:
            found |= earlier & condition
        earlier &= ~condition
    if SessionOutcome.SUCCESS in wanted:
        found |= earlier
    return found


def session_outcome() -> Case:
    """The outcome of a ChargingSession as a database expression (annotate with it)."""
    return Case(
        *(When(condition, then=Value(outcome.value)) for condition, outcome in _outcome_conditions()),
        default=Value(SessionOutcome.SUCCESS.value),
        output_field=models.CharField(),
    )


def _lookup(value, lookup: str, operand) -> bool:
    # SQL semantics for NULL: a comparison with it is never true.
    if lookup == "isnull":
        return (value is None) == operand
    if value is None:
        return False
    if lookup == "exact":
        return value == operand
    if lookup == "in":
        return value in operand
    if lookup == "lt":
        return value < operand
    raise ValueError(f"the outcome rule uses a lookup this evaluator does not know: {lookup}")


def _matches(condition: Q, session) -> bool:
    results = []
    for child in condition.children:
        if isinstance(child, Q):
            results.append(_matches(child, session))
        else:
            path, operand = child
            name, _, lookup = path.partition("__")
            results.append(_lookup(getattr(session, name), lookup or "exact", operand))
    found = all(results) if condition.connector == Q.AND else any(results)
    return not found if condition.negated else found


def outcome_of(session) -> SessionOutcome:
    """The outcome of one ChargingSession already loaded, by the same rule as `session_outcome()`."""
    for condition, outcome in _outcome_conditions():
        if _matches(condition, session):
            return outcome
    return SessionOutcome.SUCCESS


def port_failed(session) -> bool:
    """Did this session fail because of the port (what runs of failures, incidents and the
    session-failure alert count)?"""
    return outcome_of(session) in PORT_FAILURE_OUTCOMES


def port_failed_q(prefix: str = "") -> Q:
    """`port_failed` as a filter."""
    return outcome_q(PORT_FAILURE_OUTCOMES, prefix)


def judged_q(prefix: str = "") -> Q:
    """Sessions the rule gives a verdict on for a port: a success or a port failure (not
    refused, not in progress, readings consistent)."""
    return outcome_q([SessionOutcome.SUCCESS, *PORT_FAILURE_OUTCOMES], prefix)
