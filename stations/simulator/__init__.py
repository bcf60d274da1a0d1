"""Simulated OCPP 1.6J chargers, for demos, tests and load tests.

- transport: the websocket, OCPP-J framing, one CALL outstanding, reconnects;
- catalogue: charger models and the faults they have;
- charger: what a charger does (boot, status, sessions, faults, answers);
- remote: faulting a running simulator's charger on request, over Redis.

Nothing here imports Django, so benchmarks reuse it as it is.
"""

from .catalogue import CHARGEX_FAULTS, MODELS, ChargerModel, Clear, Fault, fault_for_code, pick_fault
from .charger import DEMO_ID_TAGS, SimConfig, SimulatedCharger, Stats, run_fleet
from .transport import Backoff, CallErrored, CallFailed, CallTimeout, NotConnected, Observer, OcppConnection, OcppLink

__all__ = [
    "CHARGEX_FAULTS",
    "DEMO_ID_TAGS",
    "MODELS",
    "Backoff",
    "CallErrored",
    "CallFailed",
    "CallTimeout",
    "ChargerModel",
    "Clear",
    "Fault",
    "NotConnected",
    "Observer",
    "OcppConnection",
    "OcppLink",
    "SimConfig",
    "SimulatedCharger",
    "Stats",
    "fault_for_code",
    "pick_fault",
    "run_fleet",
]
