"""Incident events other apps react to, without workorders knowing them.

Support registers here (AppConfig.ready) to resolve the tickets drivers opened
about a fault once the charger itself confirms the fix. A listener runs after
the transaction that closed the incident commits, gets the incident id only,
and should do no more than enqueue its own task.
"""

from collections.abc import Callable

from django.db import transaction

from workorders.models import IncidentResolution

# Closes that mean the charger works again, by its own report: recovery after
# remote steps, recovery before any step, a field fix the charger verified.
# "Not equipment" is not a fix, and a dispatcher closing by hand is not the
# charger's word.
FIXED_RESOLUTIONS = frozenset({IncidentResolution.REMOTE, IncidentResolution.SELF_CLEARED, IncidentResolution.FIELD})

_fixed_listeners: list[Callable[[int], None]] = []


def on_incident_fixed(listener: Callable[[int], None]) -> None:
    """Call `listener(incident_id)` when an incident closes fixed, confirmed by the charger."""
    if listener not in _fixed_listeners:
        _fixed_listeners.append(listener)


def incident_closed(*, incident_id: int, resolution: str, by=None) -> None:
    """Called by the one place incidents close, inside its transaction."""
    if resolution not in FIXED_RESOLUTIONS or by is not None:
        return
    for listener in _fixed_listeners:
        transaction.on_commit(lambda listener=listener: listener(incident_id))
