"""OCPP-J 1.6 framing: parsing frames and building answers, as the spec words them.

The `ocpp` library's own parser answers with its habits (the 2.0 spelling
`FormatViolation`, `ProtocolError` for a missing field); chargers in strict
mode expect OCPP-J 1.6's codes, so framing is done here and the library is
used for its schemas only (see validation.py).
"""

import json
import re
from dataclasses import dataclass, field
from typing import Any

CALL = 2
CALLRESULT = 3
CALLERROR = 4
MAX_UNIQUE_ID_LENGTH = 36


class ErrorCode:
    """CALLERROR codes with OCPP-J 1.6's spelling (section 4.2.3)."""

    NOT_IMPLEMENTED = "NotImplemented"
    NOT_SUPPORTED = "NotSupported"
    INTERNAL_ERROR = "InternalError"
    PROTOCOL_ERROR = "ProtocolError"
    SECURITY_ERROR = "SecurityError"
    FORMATION_VIOLATION = "FormationViolation"
    PROPERTY_CONSTRAINT_VIOLATION = "PropertyConstraintViolation"
    OCCURENCE_CONSTRAINT_VIOLATION = "OccurenceConstraintViolation"
    TYPE_CONSTRAINT_VIOLATION = "TypeConstraintViolation"
    GENERIC_ERROR = "GenericError"


class OcppError(Exception):
    """A CALL we cannot handle; becomes a CALLERROR with this code."""

    def __init__(self, code: str, description: str, details: dict | None = None):
        super().__init__(description)
        self.code = code
        self.description = description
        self.details = details or {}


class FrameError(OcppError):
    """A frame that is not a well-formed OCPP-J message.

    `unique_id` is None when no id could be read: such a frame cannot be
    answered, only logged. `answerable` is False for broken CALLRESULTs and
    CALLERRORs, which are never answered either.
    """

    def __init__(self, code: str, description: str, *, unique_id: str | None, message_type: int | None = None):
        super().__init__(code, description)
        self.unique_id = unique_id
        self.message_type = message_type

    @property
    def answerable(self) -> bool:
        return self.unique_id is not None and self.message_type not in (CALLRESULT, CALLERROR)


@dataclass
class Frame:
    message_type: int
    unique_id: str
    action: str = ""
    payload: dict[str, Any] = field(default_factory=dict)
    error_code: str = ""
    error_description: str = ""
    error_details: dict[str, Any] = field(default_factory=dict)


# Reads the id of a CALL whose JSON is broken further on (a truncated frame).
_UNIQUE_ID_PREFIX = re.compile(r'^\s*\[\s*2\s*,\s*"([^"\\]{1,36})"')


# No OCPP 1.6 message nests deeper than a handful of levels; anything deeper
# is refused before a recursive step (schema validation, repair) can overflow.
MAX_NESTING = 32
# Lone surrogates (from JSON escapes such as "\ud800") cannot be encoded as
# UTF-8 and PostgreSQL text refuses NUL: both become U+FFFD wherever kept.
_UNSTORABLE = re.compile("[\x00\ud800-\udfff]")
REPLACEMENT = "\ufffd"


def storable(text: str) -> str:
    """The text with what no database can store (lone surrogates, NUL) replaced."""
    return _UNSTORABLE.sub(REPLACEMENT, text) if _UNSTORABLE.search(text) else text


def _clean(data: Any) -> Any:
    """Make every string in a parsed frame storable and check its depth, without recursion."""
    if isinstance(data, str):
        return storable(data)
    if not isinstance(data, list | dict):
        return data
    root: list = [data]
    stack: list[tuple[Any, int]] = [(root, 0)]
    while stack:
        node, depth = stack.pop()
        if depth > MAX_NESTING:
            raise RecursionError
        items = node.items() if isinstance(node, dict) else enumerate(node)
        replaced: dict = {}
        for key, value in items:
            if isinstance(value, str):
                if _UNSTORABLE.search(value):
                    replaced[key] = storable(value)
            elif isinstance(value, list | dict):
                stack.append((value, depth + 1))
            if isinstance(key, str) and _UNSTORABLE.search(key):
                replaced.setdefault(("key", key), None)
        for key, value in replaced.items():
            if isinstance(key, tuple):
                old = key[1]
                node[storable(old)] = node.pop(old)
            else:
                node[key] = value
    return root[0]


def _unreadable(description: str, text: str) -> FrameError:
    match = _UNIQUE_ID_PREFIX.match(text or "")
    return FrameError(
        ErrorCode.FORMATION_VIOLATION,
        description,
        unique_id=storable(match.group(1)) if match else None,
        message_type=CALL if match else None,
    )


def parse_frame(text: str) -> Frame:
    """Parse one websocket text message into a Frame or raise FrameError.

    Every string in the frame comes back storable (see `storable`)."""
    try:
        data = _clean(json.loads(text))
    except RecursionError:
        raise _unreadable(f"Frame is nested deeper than {MAX_NESTING} levels", text) from None
    except (ValueError, TypeError):
        raise _unreadable("Frame is not valid JSON", text) from None
    if not isinstance(data, list) or len(data) < 2:
        raise FrameError(ErrorCode.FORMATION_VIOLATION, "Frame is not an OCPP-J array", unique_id=None)
    message_type, unique_id = data[0], data[1]
    if not isinstance(unique_id, str) or not unique_id:
        raise FrameError(ErrorCode.FORMATION_VIOLATION, "UniqueId is not a string", unique_id=None)
    known_type = message_type if message_type in (CALL, CALLRESULT, CALLERROR) else None
    if isinstance(message_type, bool) or known_type is None:
        raise FrameError(
            ErrorCode.PROTOCOL_ERROR,
            f"Unknown MessageTypeId {message_type!r}; expected 2, 3 or 4",
            unique_id=unique_id,
        )
    if len(unique_id) > MAX_UNIQUE_ID_LENGTH:
        raise FrameError(
            ErrorCode.FORMATION_VIOLATION,
            f"UniqueId is longer than {MAX_UNIQUE_ID_LENGTH} characters",
            unique_id=unique_id,
            message_type=message_type,
        )
    if message_type == CALL:
        return _parse_call(data, unique_id)
    if message_type == CALLRESULT:
        if len(data) != 3 or not isinstance(data[2], dict):
            raise FrameError(
                ErrorCode.FORMATION_VIOLATION,
                "CALLRESULT must be [3, uniqueId, {payload}]",
                unique_id=unique_id,
                message_type=CALLRESULT,
            )
        return Frame(CALLRESULT, unique_id, payload=data[2])
    if len(data) not in (4, 5) or not isinstance(data[2], str):
        raise FrameError(
            ErrorCode.FORMATION_VIOLATION,
            "CALLERROR must be [4, uniqueId, errorCode, errorDescription, {errorDetails}]",
            unique_id=unique_id,
            message_type=CALLERROR,
        )
    details = data[4] if len(data) == 5 and isinstance(data[4], dict) else {}
    description = data[3] if isinstance(data[3], str) else str(data[3])
    return Frame(CALLERROR, unique_id, error_code=data[2], error_description=description, error_details=details)


def _parse_call(data: list, unique_id: str) -> Frame:
    if len(data) < 4:
        raise FrameError(
            ErrorCode.PROTOCOL_ERROR,
            "CALL is incomplete: expected [2, uniqueId, action, {payload}]",
            unique_id=unique_id,
            message_type=CALL,
        )
    if len(data) > 4:
        raise FrameError(
            ErrorCode.FORMATION_VIOLATION,
            "CALL has more than 4 elements",
            unique_id=unique_id,
            message_type=CALL,
        )
    action, payload = data[2], data[3]
    if not isinstance(action, str) or not action:
        raise FrameError(
            ErrorCode.FORMATION_VIOLATION, "Action is not a string", unique_id=unique_id, message_type=CALL
        )
    if not isinstance(payload, dict):
        raise FrameError(
            ErrorCode.FORMATION_VIOLATION, "Payload is not a JSON object", unique_id=unique_id, message_type=CALL
        )
    return Frame(CALL, unique_id, action=action, payload=payload)


def _dumps(data: list) -> str:
    return json.dumps(data, separators=(",", ":"), ensure_ascii=False)


def call_result(unique_id: str, payload: dict) -> str:
    return _dumps([CALLRESULT, unique_id, payload])


def call_error(unique_id: str, code: str, description: str = "", details: dict | None = None) -> str:
    return _dumps([CALLERROR, unique_id, code, description, details or {}])


def call(unique_id: str, action: str, payload: dict) -> str:
    return _dumps([CALL, unique_id, action, payload])
