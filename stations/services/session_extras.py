"""What other apps add to a charging session when stations shows it, without stations knowing them.

Billing registers a pricer at start-up (AppConfig.ready) that gives each
session its final price and, while it runs, its cost so far. The station page
and the sessions API ask here; with nothing registered both are None.
"""

from collections.abc import Callable, Iterable

SessionPricer = Callable[[list], dict[int, dict]]
_pricers: list[SessionPricer] = []

EMPTY = {"price": None, "cost_so_far": None}


def register_session_pricer(pricer: SessionPricer) -> None:
    """`pricer(sessions)` takes a list of ChargingSession rows and returns
    {session id: {"price": dict | None, "cost_so_far": dict | None}}, with a
    fixed number of queries however many sessions it is given."""
    if pricer not in _pricers:
        _pricers.append(pricer)


def session_extras(sessions: Iterable) -> dict[int, dict]:
    sessions = list(sessions)
    extras = {session.pk: dict(EMPTY) for session in sessions}
    for pricer in _pricers:
        for session_id, values in pricer(sessions).items():
            if session_id in extras:
                extras[session_id].update({key: value for key, value in values.items() if value is not None})
    return extras
