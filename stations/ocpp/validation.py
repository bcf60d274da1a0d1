"""Payload validation against the OCPP 1.6 JSON schemas shipped with the `ocpp` library.

Strict by default: a payload that breaks its schema is refused with the
CALLERROR code OCPP-J 1.6 names for the kind of violation. A station model
marked lenient has the known harmless deviations of real chargers repaired
instead, each repair reported as a warning for the log.
"""

import json
from collections.abc import Callable
from copy import deepcopy
from datetime import UTC, datetime
from functools import cache
from pathlib import Path
from typing import Any

import fastjsonschema
import ocpp
from django.conf import settings
from jsonschema import Draft4Validator, FormatChecker
from jsonschema.exceptions import ValidationError

from .protocol import ErrorCode, OcppError

SCHEMA_DIR = Path(ocpp.__file__).parent / "v16" / "schemas"

# Known harmless deviations are repaired at most this many rounds before
# the payload counts as broken.
_MAX_REPAIR_ROUNDS = 5

_format_checker = FormatChecker(formats=())


@_format_checker.checks("date-time", raises=ValueError)
def _is_datetime(value: Any) -> bool:
    if not isinstance(value, str):
        return True  # the type check reports it
    parse_datetime(value)
    return True


def parse_datetime(value: str) -> datetime:
    """Parse an OCPP dateTime; it must carry a UTC offset (or Z) and exist in UTC."""
    parsed = datetime.fromisoformat(value)
    if parsed.tzinfo is None:
        raise ValueError(f"{value!r} has no time zone")
    try:
        return parsed.astimezone(UTC)
    except OverflowError:
        # 9999-12-31T23:59:59-01:00 is a valid string but no instant we can hold.
        raise ValueError(f"{value!r} is outside the range of dates in UTC") from None


def _schema(schema_name: str) -> dict | None:
    path = SCHEMA_DIR / f"{schema_name}.json"
    if not path.exists():
        return None
    return json.loads(path.read_text(encoding="utf-8-sig"))


@cache
def validator_for(schema_name: str) -> Draft4Validator | None:
    """The interpreting validator: slow, but it names each violation (for the CALLERROR)."""
    schema = _schema(schema_name)
    return None if schema is None else Draft4Validator(schema, format_checker=_format_checker)


def _is_datetime_value(value: Any) -> bool:
    try:
        return _is_datetime(value)
    except ValueError:
        return False


@cache
def fast_check_for(schema_name: str) -> Callable[[Any], Any] | None:
    """The same schema compiled to Python code: about ten times faster on the
    payloads that pass, which are nearly all of them. Both must agree on what
    passes (tests/test_protocol_units.py compares them on generated payloads)."""
    schema = _schema(schema_name)
    if schema is None:
        return None
    return fastjsonschema.compile(
        # Draft 4, as the interpreting validator reads it.
        {**schema, "$schema": "http://json-schema.org/draft-04/schema#"},
        formats={"date-time": _is_datetime_value},
        use_default=False,
    )


def passes_schema(schema_name: str, payload: Any) -> bool:
    check = fast_check_for(schema_name)
    if check is None:
        return False
    try:
        check(payload)
    except fastjsonschema.JsonSchemaException:
        return False
    return True


_CODE_FOR_VALIDATOR = {
    "required": ErrorCode.OCCURENCE_CONSTRAINT_VIOLATION,
    "minItems": ErrorCode.OCCURENCE_CONSTRAINT_VIOLATION,
    "maxItems": ErrorCode.OCCURENCE_CONSTRAINT_VIOLATION,
    "type": ErrorCode.TYPE_CONSTRAINT_VIOLATION,
    "maxLength": ErrorCode.TYPE_CONSTRAINT_VIOLATION,
    "format": ErrorCode.TYPE_CONSTRAINT_VIOLATION,
    "enum": ErrorCode.PROPERTY_CONSTRAINT_VIOLATION,
    "minimum": ErrorCode.PROPERTY_CONSTRAINT_VIOLATION,
    "maximum": ErrorCode.PROPERTY_CONSTRAINT_VIOLATION,
    "multipleOf": ErrorCode.PROPERTY_CONSTRAINT_VIOLATION,
    "additionalProperties": ErrorCode.FORMATION_VIOLATION,
}


def _error_to_ocpp(error: ValidationError) -> OcppError:
    where = "/".join(str(part) for part in error.absolute_path) or "payload"
    code = _CODE_FOR_VALIDATOR.get(error.validator, ErrorCode.FORMATION_VIOLATION)
    return OcppError(code, f"{where}: {error.message}", {"path": where, "rule": error.validator})


def _first_error(validator: Draft4Validator, payload: dict) -> ValidationError | None:
    errors = sorted(validator.iter_errors(payload), key=lambda e: ([str(p) for p in e.absolute_path], e.validator))
    return errors[0] if errors else None


# OCPP 1.6 defines `integer` as a 32-bit signed value.
INT_MIN, INT_MAX = -(2**31), 2**31 - 1
# Minimums the 1.6 specification states in prose but its JSON schemas leave out.
_SPEC_MINIMUMS: dict[str, dict[str, int]] = {
    "StatusNotification": {"connectorId": 0},
    "MeterValues": {"connectorId": 0},
    "StartTransaction": {"connectorId": 1},
}


def check_ranges(schema_name: str, payload: dict) -> None:
    """Refuse integers the specification does not allow (PropertyConstraintViolation)."""
    for name, minimum in _SPEC_MINIMUMS.get(schema_name, {}).items():
        value = payload.get(name)
        if isinstance(value, int) and value < minimum:
            raise OcppError(
                ErrorCode.PROPERTY_CONSTRAINT_VIOLATION,
                f"{name}: {value} is below its minimum {minimum}",
                {"path": name, "rule": "minimum"},
            )
    connector_id = payload.get("connectorId")
    if isinstance(connector_id, int) and connector_id > settings.OCPP_MAX_CONNECTOR_ID:
        # Every connector a charger names becomes a row; no real charger has this many.
        raise OcppError(
            ErrorCode.PROPERTY_CONSTRAINT_VIOLATION,
            f"connectorId: {connector_id} is above the highest connector id accepted "
            f"({settings.OCPP_MAX_CONNECTOR_ID})",
            {"path": "connectorId", "rule": "maximum"},
        )
    stack: list[tuple[str, Any]] = [("", payload)]
    while stack:
        where, node = stack.pop()
        items = node.items() if isinstance(node, dict) else enumerate(node)
        for key, value in items:
            path = f"{where}/{key}" if where else str(key)
            if isinstance(value, int) and not isinstance(value, bool) and not INT_MIN <= value <= INT_MAX:
                raise OcppError(
                    ErrorCode.PROPERTY_CONSTRAINT_VIOLATION,
                    f"{path}: {value} is outside the 32-bit integer range",
                    {"path": path, "rule": "integer range"},
                )
            if isinstance(value, dict | list):
                stack.append((path, value))


def validate(schema_name: str, payload: dict, *, lenient: bool = False) -> tuple[dict, list[str]]:
    """Return the payload to use (repaired when lenient) and the warnings.

    Raises OcppError with the spec's code when the payload is invalid.
    """
    if passes_schema(schema_name, payload):
        check_ranges(schema_name, payload)
        return payload, []
    validator = validator_for(schema_name)
    if validator is None:
        raise OcppError(ErrorCode.NOT_SUPPORTED, f"No schema for {schema_name}")
    payload, warnings = _validated(validator, payload, lenient=lenient)
    check_ranges(schema_name, payload)
    return payload, warnings


def _validated(validator: Draft4Validator, payload: dict, *, lenient: bool) -> tuple[dict, list[str]]:
    error = _first_error(validator, payload)
    if error is None:
        return payload, []
    if not lenient:
        raise _error_to_ocpp(error)
    repaired = deepcopy(payload)
    warnings: list[str] = []
    for _ in range(_MAX_REPAIR_ROUNDS):
        errors = list(validator.iter_errors(repaired))
        if not errors:
            return repaired, warnings
        for err in errors:
            fix = _repair(repaired, err)
            if fix is None:
                raise _error_to_ocpp(err)
            warnings.append(fix)
    raise _error_to_ocpp(_first_error(validator, repaired))


def _container(payload: dict, path: list) -> Any:
    node: Any = payload
    for part in path:
        node = node[part]
    return node


def _repair(payload: dict, error: ValidationError) -> str | None:
    """Repair one known harmless deviation in place; None when it is not one."""
    path = list(error.absolute_path)
    where = "/".join(str(p) for p in path) or "payload"
    rule = error.validator
    if rule == "additionalProperties":
        node = _container(payload, path)
        allowed = set(error.schema.get("properties", {}))
        extra = sorted(key for key in node if key not in allowed)
        for key in extra:
            del node[key]
        return f"{where}: dropped unknown properties {extra}"
    if not path:
        return None
    parent, key = _container(payload, path[:-1]), path[-1]
    value = parent[key]
    if rule == "maxLength" and isinstance(value, str):
        parent[key] = value[: error.validator_value]
        return f"{where}: truncated to {error.validator_value} characters"
    if rule == "format" and isinstance(value, str):
        try:
            naive = datetime.fromisoformat(value)
        except ValueError:
            return None
        if naive.tzinfo is not None:
            return None
        parent[key] = naive.replace(tzinfo=UTC).isoformat()
        return f"{where}: time without zone taken as UTC"
    if rule == "type":
        expected = error.validator_value
        if expected == "integer" and isinstance(value, str) and value.strip().lstrip("-").isdigit():
            parent[key] = int(value)
            return f"{where}: integer sent as a string"
        if expected == "number" and isinstance(value, str):
            try:
                parent[key] = float(value)
            except ValueError:
                return None
            return f"{where}: number sent as a string"
        if expected == "string" and isinstance(value, int | float) and not isinstance(value, bool):
            parent[key] = str(value)
            return f"{where}: number sent where a string is due"
        return None
    if rule == "enum" and isinstance(value, str):
        by_lower = {str(option).lower(): option for option in error.validator_value}
        if value.lower() in by_lower:
            parent[key] = by_lower[value.lower()]
            return f"{where}: enum value {value!r} taken as {parent[key]!r}"
    return None
