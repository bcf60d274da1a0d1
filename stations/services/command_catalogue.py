"""What the central system may ask a charger to do, in one place.

For every message OCPP 1.6 lets us send: its label, whether it interrupts the
station (then a person confirms it first), who besides an operator may send it,
and the fields a person fills in to build its payload. Choices of a field come
from the OCPP schema itself, so the form never offers a value the charger
would refuse. The quick buttons (presets) live here too, so the station page,
the technician's work order and remediation all mean the same payload by
"Soft reset".

This module only describes; commands.command_request decides and sends.
"""

import json
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from enum import StrEnum
from functools import cache
from zoneinfo import ZoneInfo

from stations.ocpp.validation import validator_for


class FieldKind(StrEnum):
    """How a person gives a payload field: what the form offers for it."""

    CONNECTOR = "connector"  # one of the station's connectors
    ID_TAG = "id_tag"
    TRANSACTION = "transaction"  # one of the station's running sessions
    RESERVATION = "reservation"  # one of the station's open reservations
    CONFIG_KEY = "config_key"  # a key the station reported in GetConfiguration
    CONFIG_KEYS = "config_keys"  # several keys, comma-separated
    CHOICE = "choice"  # one value of the schema's enum
    INTEGER = "integer"
    TEXT = "text"
    DATETIME = "datetime"  # given in the site's time zone, sent in UTC
    URL = "url"
    JSON = "json"  # a nested object or list, written as JSON


@dataclass(frozen=True)
class Field:
    name: str  # the payload property, as OCPP spells it
    label: str
    kind: FieldKind
    required: bool = True
    # A connector field that may name the whole station (connector 0).
    station_wide: bool = False
    help: str = ""


class Audience(StrEnum):
    """Who besides an operator may send an action (operators may send all)."""

    OPERATORS = "operators"
    DRIVERS = "drivers"  # support agents acting for a driver
    ON_SITE = "on_site"  # technicians, on stations of their own open work
    DRIVERS_AND_ON_SITE = "drivers_and_on_site"


@dataclass(frozen=True)
class Action:
    name: str
    label: str
    # Interrupts charging or changes how the station behaves: sent only once confirmed.
    disruptive: bool
    audience: Audience = Audience.OPERATORS
    fields: tuple[Field, ...] = ()
    # Filled by the command service when left out (our own upload address, the reservation's id).
    filled_by_us: tuple[str, ...] = ()

    @property
    def for_drivers(self) -> bool:
        return self.audience in (Audience.DRIVERS, Audience.DRIVERS_AND_ON_SITE)

    @property
    def on_site(self) -> bool:
        return self.audience in (Audience.ON_SITE, Audience.DRIVERS_AND_ON_SITE)


K = FieldKind
_CONNECTOR = Field("connectorId", "Connector", K.CONNECTOR)
_ANY_CONNECTOR = Field("connectorId", "Connector", K.CONNECTOR, station_wide=True)
_RETRIES = Field("retries", "Retries", K.INTEGER, required=False)
_RETRY_INTERVAL = Field("retryInterval", "Seconds between retries", K.INTEGER, required=False)

# Every message OCPP 1.6 lets the central system send, in the order the form lists them.
CATALOGUE: dict[str, Action] = {
    a.name: a
    for a in (
        Action("Reset", "Reset", True, Audience.ON_SITE, (Field("type", "Type", K.CHOICE),)),
        Action("UnlockConnector", "Unlock connector", True, Audience.DRIVERS_AND_ON_SITE, (_CONNECTOR,)),
        Action(
            "ChangeAvailability",
            "Change availability",
            True,
            Audience.ON_SITE,
            (_ANY_CONNECTOR, Field("type", "Availability", K.CHOICE)),
        ),
        Action(
            "RemoteStartTransaction",
            "Start a session",
            False,
            Audience.DRIVERS,
            (
                Field("idTag", "ID tag", K.ID_TAG),
                Field("connectorId", "Connector", K.CONNECTOR, required=False),
                Field("chargingProfile", "Charging profile (JSON)", K.JSON, required=False),
            ),
        ),
        Action(
            "RemoteStopTransaction",
            "Stop a session",
            True,
            Audience.DRIVERS,
            (Field("transactionId", "Session", K.TRANSACTION),),
        ),
        Action(
            "TriggerMessage",
            "Trigger a message",
            False,
            # Asking for a report disturbs nothing: support agents ask while a driver waits.
            Audience.DRIVERS_AND_ON_SITE,
            (
                Field("requestedMessage", "Message", K.CHOICE),
                Field("connectorId", "Connector", K.CONNECTOR, required=False),
            ),
        ),
        Action(
            "GetConfiguration",
            "Get configuration",
            False,
            fields=(Field("key", "Keys", K.CONFIG_KEYS, required=False, help="comma-separated; leave empty for all"),),
        ),
        Action(
            "ChangeConfiguration",
            "Change configuration",
            True,
            fields=(Field("key", "Key", K.CONFIG_KEY), Field("value", "Value", K.TEXT)),
        ),
        Action("ClearCache", "Clear authorisation cache", True),
        Action(
            "GetDiagnostics",
            "Get diagnostics",
            False,
            fields=(
                Field("location", "Upload to", K.URL, required=False, help="leave empty to upload here"),
                _RETRIES,
                _RETRY_INTERVAL,
                Field("startTime", "From", K.DATETIME, required=False),
                Field("stopTime", "Until", K.DATETIME, required=False),
            ),
            filled_by_us=("location",),
        ),
        Action(
            "UpdateFirmware",
            "Update firmware",
            True,
            fields=(
                Field("location", "Firmware address", K.URL),
                Field("retrieveDate", "Download from", K.DATETIME),
                _RETRIES,
                _RETRY_INTERVAL,
            ),
        ),
        Action(
            "ReserveNow",
            "Reserve",
            False,
            fields=(
                _ANY_CONNECTOR,
                Field("idTag", "ID tag", K.ID_TAG),
                Field("expiryDate", "Until", K.DATETIME),
                Field("parentIdTag", "Parent ID tag", K.ID_TAG, required=False),
            ),
            filled_by_us=("reservationId",),
        ),
        Action(
            "CancelReservation",
            "Cancel a reservation",
            False,
            fields=(Field("reservationId", "Reservation", K.RESERVATION),),
        ),
        Action(
            "SetChargingProfile",
            "Set a charging profile",
            True,
            fields=(_ANY_CONNECTOR, Field("csChargingProfiles", "Charging profile (JSON)", K.JSON)),
        ),
        Action(
            "ClearChargingProfile",
            "Clear charging profiles",
            True,
            fields=(
                Field("id", "Profile id", K.INTEGER, required=False),
                Field("connectorId", "Connector", K.CONNECTOR, required=False, station_wide=True),
                Field("chargingProfilePurpose", "Purpose", K.CHOICE, required=False),
                Field("stackLevel", "Stack level", K.INTEGER, required=False),
            ),
        ),
        Action(
            "GetCompositeSchedule",
            "Get the composite schedule",
            False,
            fields=(
                _ANY_CONNECTOR,
                Field("duration", "Duration (s)", K.INTEGER),
                Field("chargingRateUnit", "Unit", K.CHOICE, required=False),
            ),
        ),
        Action(
            "DataTransfer",
            "Vendor data transfer",
            False,
            fields=(
                Field("vendorId", "Vendor id", K.TEXT),
                Field("messageId", "Message id", K.TEXT, required=False),
                Field("data", "Data", K.TEXT, required=False),
            ),
        ),
        Action("GetLocalListVersion", "Get local list version", False),
        Action(
            "SendLocalList",
            "Send the local list",
            True,
            fields=(
                Field("listVersion", "Version", K.INTEGER),
                Field("updateType", "Update", K.CHOICE),
                Field("localAuthorizationList", "Entries (JSON)", K.JSON, required=False),
            ),
        ),
    )
}
del K

ACTIONS: tuple[str, ...] = tuple(CATALOGUE)
DISRUPTIVE: frozenset[str] = frozenset(name for name, a in CATALOGUE.items() if a.disruptive)
DRIVER_ACTIONS: frozenset[str] = frozenset(name for name, a in CATALOGUE.items() if a.for_drivers)
ONSITE_ACTIONS: frozenset[str] = frozenset(name for name, a in CATALOGUE.items() if a.on_site)


@cache
def schema_property(action: str, name: str) -> dict:
    """The schema of one request property (its type, enum, maximum length)."""
    validator = validator_for(action)
    return validator.schema["properties"][name] if validator else {}


def choices_for(action: str, name: str) -> tuple[str, ...]:
    """The values OCPP allows for a CHOICE field, as the schema lists them."""
    return tuple(schema_property(action, name).get("enum", ()))


def max_length_for(action: str, name: str) -> int | None:
    return schema_property(action, name).get("maxLength")


# --- Quick buttons ------------------------------------------------------------


@dataclass(frozen=True)
class QuickCommand:
    """One button: a named, ready payload for an action."""

    key: str
    label: str
    action: str
    payload: dict = field(hash=False)

    @property
    def disruptive(self) -> bool:
        return CATALOGUE[self.action].disruptive


@dataclass(frozen=True)
class Preset:
    """A quick button's recipe; `target` is the connector it acts on (0: the whole station)."""

    key: str
    action: str
    label: str  # may name {connector} or {where}
    build: Callable[[int], dict]
    per_connector: bool = False  # one button per connector (1 and up)

    def command(self, target: int = 0) -> QuickCommand:
        where = f"connector {target}" if target else "station"
        label = self.label.format(connector=target, where=where)
        key = f"{self.key}_{target}" if self.per_connector else self.key
        return QuickCommand(key, label, self.action, self.build(target))


def _only_connector(target: int) -> dict:
    return {"connectorId": target} if target else {}


# In the order the buttons appear.
PRESETS: dict[str, Preset] = {
    p.key: p
    for p in (
        Preset("soft_reset", "Reset", "Soft reset", lambda target: {"type": "Soft"}),
        Preset("hard_reset", "Reset", "Hard reset", lambda target: {"type": "Hard"}),
        Preset(
            "trigger_status",
            "TriggerMessage",
            "Trigger status",
            lambda target: {"requestedMessage": "StatusNotification", **_only_connector(target)},
        ),
        Preset(
            "unlock",
            "UnlockConnector",
            "Unlock connector {connector}",
            lambda target: {"connectorId": target},
            per_connector=True,
        ),
        Preset(
            "inoperative",
            "ChangeAvailability",
            "Take {where} out of service",
            lambda target: {"connectorId": target, "type": "Inoperative"},
        ),
        Preset(
            "operative",
            "ChangeAvailability",
            "Put {where} back in service",
            lambda target: {"connectorId": target, "type": "Operative"},
        ),
        Preset("get_configuration", "GetConfiguration", "Get configuration", lambda target: {}),
        Preset("clear_cache", "ClearCache", "Clear cache", lambda target: {}),
    )
}


def quick_commands(*, connector_ids, target: int = 0, actions=None) -> list[QuickCommand]:
    """The quick buttons for a station with these connectors, acting on `target`
    (the work order's connector, or 0 for the whole station); only those of
    `actions` when given."""
    buttons: list[QuickCommand] = []
    for preset in PRESETS.values():
        if actions is not None and preset.action not in actions:
            continue
        if preset.per_connector:
            buttons += [preset.command(n) for n in connector_ids if n]
        else:
            buttons.append(preset.command(target))
    return buttons


def quick_command(key: str, *, connector_ids, target: int = 0) -> QuickCommand | None:
    return next((b for b in quick_commands(connector_ids=connector_ids, target=target) if b.key == key), None)


# --- Fields to payload ----------------------------------------------------------


class FieldInvalid(ValueError):
    def __init__(self, name: str, message: str):
        super().__init__(message)
        self.name = name


def payload_from_fields(action: str, values: dict[str, str], *, time_zone: str = "UTC") -> dict:
    """Build an action's payload from what a person typed into its fields (all
    strings; empty means left out). Types are converted here; what OCPP allows
    is the schema's to say when the command is created."""
    spec = CATALOGUE[action]
    payload: dict = {}
    for f in spec.fields:
        raw = values.get(f.name)
        text = raw.strip() if isinstance(raw, str) else ""
        if not text:
            if f.required and f.name not in spec.filled_by_us:
                raise FieldInvalid(f.name, f"{f.label} is required for {action}")
            continue
        payload[f.name] = _convert(f, text, time_zone=time_zone)
    return payload


_INTEGER_KINDS = {FieldKind.CONNECTOR, FieldKind.TRANSACTION, FieldKind.RESERVATION, FieldKind.INTEGER}


def _convert(f: Field, text: str, *, time_zone: str):
    if f.kind in _INTEGER_KINDS:
        try:
            return int(text)
        except ValueError:
            raise FieldInvalid(f.name, f"{f.label} must be a whole number") from None
    if f.kind == FieldKind.CONFIG_KEYS:
        return [key.strip() for key in text.split(",") if key.strip()]
    if f.kind == FieldKind.DATETIME:
        return _utc_iso(f, text, time_zone=time_zone)
    if f.kind == FieldKind.JSON:
        try:
            return json.loads(text)
        except ValueError as exc:
            raise FieldInvalid(f.name, f"{f.label} is not valid JSON: {exc}") from None
    return text


def _utc_iso(f: Field, text: str, *, time_zone: str) -> str:
    """A time typed on the page (the site's local time, unless it names its zone) in UTC."""
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        raise FieldInvalid(f.name, f"{f.label} must be a date and time, e.g. 2030-01-31T18:00") from None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=ZoneInfo(time_zone))
    try:
        return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    except OverflowError:
        raise FieldInvalid(f.name, f"{f.label} is outside the range of dates") from None


def catalogue_for_page(actions) -> dict:
    """What the page's script needs to show the right fields: JSON-safe, per action."""
    return {
        name: {
            "label": CATALOGUE[name].label,
            "disruptive": CATALOGUE[name].disruptive,
            "fields": [f.name for f in CATALOGUE[name].fields],
        }
        for name in actions
    }
