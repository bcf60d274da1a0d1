"""Who may send which command to which station.

Operators may send anything anywhere. Support agents may send the actions the
catalogue marks for drivers (start/stop a session, unlock a connector).
Technicians may send the on-site ones, but only to stations their own open
work gives them: other apps register a rule that answers "is this station part
of this user's work?" (the stations app does not know about work orders).
Nobody (None) stands for the system itself: remediation, maintenance, the
command line.
"""

from collections.abc import Callable

from stations.models import ChargingStation

from .command_catalogue import DRIVER_ACTIONS, ONSITE_ACTIONS

StationRule = Callable[[object, ChargingStation], bool]
_station_work_rules: list[StationRule] = []


def register_station_work_rule(rule: StationRule) -> None:
    """Register a check that a station belongs to a user's current work."""
    if rule not in _station_work_rules:
        _station_work_rules.append(rule)


def station_in_users_work(user, station: ChargingStation) -> bool:
    return any(rule(user, station) for rule in _station_work_rules)


def allowed_actions(user, station: ChargingStation, actions) -> list[str]:
    """The subset of `actions` this user (None: the system) may send to this station."""
    if user is None:
        return list(actions)
    if not user.is_authenticated:
        return []
    if user.has_perm("stations.send_any_command"):
        return list(actions)
    allowed: set[str] = set()
    if user.has_perm("stations.send_driver_command"):
        allowed |= DRIVER_ACTIONS
    if user.has_perm("stations.send_onsite_command") and station_in_users_work(user, station):
        allowed |= ONSITE_ACTIONS
    return [action for action in actions if action in allowed]


def can_send(user, station: ChargingStation, action: str) -> bool:
    return bool(allowed_actions(user, station, [action]))
