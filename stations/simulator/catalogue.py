"""What the simulated chargers are: models, and the faults each can have.

Most faults carry ChargeX MREC codes (vendorErrorCode CXnnn); each model adds
a few of its vendor's own. `Clear` says what makes a fault go away in the
simulation, which decides whether the portal's remediation can fix it from
afar or has to send a technician.
"""

import enum
import random
from dataclasses import dataclass

# The vendorId ChargeX's published OCPP 1.6J examples use for MREC codes.
CHARGEX_VENDOR_ID = "https://chargex.inl.gov"


class Clear(enum.Enum):
    """What makes a fault go away."""

    AUTO = "clears by itself"
    SOFT_RESET = "until reset"
    HARD_RESET = "until hard reset"  # physical damage; a hard reset stands in for the repair visit


@dataclass(frozen=True)
class Fault:
    vendor_error_code: str
    error_code: str  # the closest OCPP 1.6 ChargePointErrorCode
    info: str  # at most 50 characters (StatusNotification schema)
    clears: Clear
    vendor_id: str = CHARGEX_VENDOR_ID
    stop_reason: str = "Other"  # StopTransaction reason when it ends a session


CHARGEX_FAULTS = (
    Fault("CX001", "ConnectorLockFailure", "Connector lock failure", Clear.AUTO),
    Fault("CX002", "GroundFailure", "Ground fault interrupter tripped", Clear.SOFT_RESET),
    Fault("CX003", "HighTemperature", "EVSE temperature high, derating", Clear.AUTO),
    Fault("CX004", "OverCurrentFailure", "Overcurrent protection tripped", Clear.SOFT_RESET),
    Fault("CX005", "OverVoltage", "Output voltage above limit", Clear.AUTO),
    Fault("CX006", "UnderVoltage", "Input voltage below limit", Clear.AUTO),
    Fault("CX008", "OtherError", "Emergency stop pressed", Clear.SOFT_RESET, stop_reason="EmergencyStop"),
    Fault("CX009", "OtherError", "Authorization timeout", Clear.AUTO),
    Fault("CX010", "EVCommunicationError", "Invalid vehicle mode", Clear.AUTO),
    Fault("CX011", "OtherError", "Cable check failed", Clear.SOFT_RESET),
    Fault("CX014", "EVCommunicationError", "Control pilot fault", Clear.AUTO),
    Fault("CX015", "OtherError", "Power loss", Clear.AUTO, stop_reason="PowerLoss"),
    Fault("CX017", "PowerSwitchFailure", "EVSE contactor fault", Clear.HARD_RESET),
    Fault("CX018", "HighTemperature", "Cable temperature high, derating", Clear.AUTO),
    Fault("CX019", "HighTemperature", "Cable over temperature, stopped", Clear.SOFT_RESET),
    Fault("CX020", "OtherError", "Connector partially inserted", Clear.AUTO),
    Fault("CX022", "OtherError", "Resistance fault", Clear.SOFT_RESET),
    Fault("CX023", "OtherError", "Proximity fault", Clear.AUTO),
    Fault("CX024", "OverVoltage", "Voltage on connector before charging", Clear.SOFT_RESET),
    Fault("CX025", "ConnectorLockFailure", "Connector latch broken", Clear.HARD_RESET),
    Fault("CX026", "OtherError", "Charging cable cut", Clear.HARD_RESET),
)
# Faults that can interrupt a running session (the others happen while idle or plugging in).
SESSION_FAULT_CODES = {"CX002", "CX004", "CX005", "CX006", "CX008", "CX014", "CX015", "CX017", "CX019"}


@dataclass(frozen=True)
class ChargerModel:
    vendor: str  # at most 20 characters, as is model
    model: str
    serial_prefix: str
    firmware: str
    connectors: int
    max_power_w: int
    dc: bool  # only DC chargers learn the vehicle's state of charge
    vendor_faults: tuple[Fault, ...]


_ACME = "ACME Power"
_ACME_FAULTS = (
    Fault("ACME-E042", "GroundFailure", "RCD tripped", Clear.SOFT_RESET, vendor_id=_ACME),
    Fault("ACME-E117", "InternalError", "Power module 2 not responding", Clear.SOFT_RESET, vendor_id=_ACME),
    Fault("ACME-W210", "HighTemperature", "Cabinet fan failure", Clear.AUTO, vendor_id=_ACME),
)
MODELS = (
    ChargerModel(_ACME, "ACME DC150", "AD150", "2.4.1", 2, 150_000, True, _ACME_FAULTS),
    ChargerModel(_ACME, "ACME AC22-2", "AA22", "1.9.7", 2, 22_000, False, _ACME_FAULTS),
    ChargerModel(
        "Voltora", "Pulse 60", "VP60", "5.2.0", 1, 60_000, True,
        (
            Fault("VT-3021", "HighTemperature", "Coolant pump failure", Clear.HARD_RESET, vendor_id="Voltora"),
            Fault("VT-1004", "PowerMeterFailure", "Energy meter not responding", Clear.AUTO, vendor_id="Voltora"),
        ),
    ),
    ChargerModel(
        "Northwind EV", "Homestead W11", "NW11", "3.0.12", 1, 11_000, False,
        (
            Fault("NW-17", "ReaderFailure", "RFID reader not responding", Clear.AUTO, vendor_id="Northwind EV"),
            Fault("NW-31", "PowerSwitchFailure", "Relay welded", Clear.HARD_RESET, vendor_id="Northwind EV"),
        ),
    ),
)  # fmt: skip


# Faults that are the driver's doing, not the charger's: the portal closes them without a truck.
DRIVER_FAULT_CODES = {"CX009", "CX020"}
# The share of each kind among the faults an idle charger raises. A demo should show every
# ending within minutes: a soft reset fixing it, a truck roll, and a driver's mistake.
FAULT_MIX = (("soft_reset", 0.35), ("truck", 0.25), ("driver", 0.2), ("self_clearing", 0.2))


def _kind(fault: Fault) -> str:
    if fault.vendor_error_code in DRIVER_FAULT_CODES:
        return "driver"
    return {Clear.SOFT_RESET: "soft_reset", Clear.HARD_RESET: "truck", Clear.AUTO: "self_clearing"}[fault.clears]


def pick_fault(rng: random.Random, model: ChargerModel, *, in_session: bool) -> Fault:
    """A fault for this model: one that can end a session, or one from the mix above."""
    if in_session:
        return rng.choice([f for f in CHARGEX_FAULTS if f.vendor_error_code in SESSION_FAULT_CODES])
    kinds, weights = zip(*FAULT_MIX, strict=True)
    kind = rng.choices(kinds, weights)[0]
    return rng.choice([f for f in (*CHARGEX_FAULTS, *model.vendor_faults) if _kind(f) == kind])


def fault_for_code(code: str, model: ChargerModel) -> Fault:
    """The fault a code names: a ChargeX or the model's vendor code, or an OCPP errorCode.

    An OCPP errorCode alone (InternalError) comes without vendor detail and
    stays until a reset; so does a vendor code we do not know.
    """
    for fault in (*CHARGEX_FAULTS, *model.vendor_faults):
        if fault.vendor_error_code.lower() == code.lower():
            return fault
    if code in OCPP_ERROR_CODES:
        return Fault("", code, "Simulated fault", Clear.SOFT_RESET, vendor_id="")
    return Fault(code, "OtherError", "Simulated fault", Clear.SOFT_RESET, vendor_id=model.vendor)


# ChargePointErrorCode values of OCPP 1.6 other than NoError.
OCPP_ERROR_CODES = {
    "ConnectorLockFailure", "EVCommunicationError", "GroundFailure", "HighTemperature", "InternalError",
    "LocalListConflict", "OtherError", "OverCurrentFailure", "OverVoltage", "PowerMeterFailure",
    "PowerSwitchFailure", "ReaderFailure", "ResetFailure", "UnderVoltage", "WeakSignal",
}  # fmt: skip
