"""Hostile OCPP 1.6J frames for fuzzing the endpoint, and the rules their answers must follow.

Valid payloads are drawn from the JSON schemas the `ocpp` library ships (the
same ones the server validates against), then mutated the ways broken or
malicious chargers do: wrong types, missing and extra fields, integers far
outside 32 bits, lone surrogates and NULs, deep nesting, wrong frame shapes
and broken JSON. Both tests/test_ocpp_fuzz.py and benchmarks/ocpp_fuzz.py
use these generators and `FuzzCharger`, so the two judge frames the same way.
"""

import asyncio
import itertools
import json
import re
import threading
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta, timezone
from functools import cache
from pathlib import Path
from typing import Any

import ocpp
from hypothesis import strategies as st
from websockets.exceptions import ConnectionClosed

from tests.ocpp_client import open_charger

SCHEMA_DIR = Path(ocpp.__file__).parent / "v16" / "schemas"

# OCPP-J 1.6 section 4.2.3, plus the errata's spelling of FormationViolation.
SPEC_ERROR_CODES = frozenset(
    {
        "NotImplemented",
        "NotSupported",
        "InternalError",
        "ProtocolError",
        "SecurityError",
        "FormationViolation",
        "FormatViolation",
        "PropertyConstraintViolation",
        "OccurenceConstraintViolation",
        "TypeConstraintViolation",
        "GenericError",
    }
)

# The only reason the server may close a fuzzing charger's socket: a message
# over OCPP_MAX_FRAME_BYTES.
CLOSE_MESSAGE_TOO_BIG = 1009

# What a frame must get back.
ANSWER = "answer"  # exactly one CALLRESULT or CALLERROR carrying its uniqueId
MAYBE = "maybe"  # a uniqueId the server may not be able to read: at most one answer
NONE = "none"  # CALLRESULTs, CALLERRORs and frames without a readable id are never answered

_LONE_SURROGATE = re.compile("[\ud800-\udfff]")

HUGE_INTS = (
    2**31,
    -(2**31) - 1,
    -1,
    2**53 + 1,
    2**63 - 1,
    2**63,
    -(2**63) - 1,
    2**64,
    10**30,
)
ODD_STRINGS = (
    "\ud800",
    "lone\udfffsurrogate",
    "\udc00\ud800",
    "\x00",
    "nul\x00inside",
    "\u202eright-to-left",
    "\ufeffbom",
    "\U0001f4a5" * 8,
    "x" * 600,
    "",
    " ",
    "\\",
    '"',
    "<script>alert(1)</script>",
    "'; DROP TABLE stations_framelog; --",
    "%s%n%x",
    "\u0085\u2028\u2029",
)
ODD_VALUES = (None, True, False, 0, 1.5, -0.0, 1e308, [], {}, "1", [1, "a"], {"a": {"b": None}})
ODD_NUMBER_TEXT = (
    "999999999999999999",
    "12345678901234567890",
    "1234567890123",
    "NaN",
    "Infinity",
    "-Infinity",
    "1e400",
    "0x10",
    "",
    "1,5",
    "\u0661\u0662\u0663",
    "-0",
    "12.5",
)
ODD_DATETIMES = (
    "9999-12-31T23:59:59-01:00",
    "0001-01-01T00:00:00+01:00",
    "9999-12-31T23:59:59.999999Z",
    "2100-01-01T00:00:00Z",
    "1970-01-01T00:00:00Z",
    "2026-02-30T00:00:00Z",
    "2026-01-05T10:00:00",
    "2026-01-05T10:00:00+25:00",
    "yesterday",
)
# Actions a central system sends; a charger sending one gets NotSupported.
SERVER_ONLY_ACTIONS = ("Reset", "RemoteStartTransaction", "ChangeConfiguration", "GetDiagnostics")


@cache
def load_schema(action: str) -> dict:
    return json.loads((SCHEMA_DIR / f"{action}.json").read_text(encoding="utf-8-sig"))


def _datetimes() -> st.SearchStrategy[str]:
    offsets = st.sampled_from([UTC, timezone(timedelta(hours=2)), timezone(timedelta(hours=-5, minutes=-30))])
    moments = st.datetimes(min_value=datetime(2000, 1, 1), max_value=datetime(2090, 1, 1), timezones=offsets)
    return moments.map(lambda moment: moment.isoformat().replace("+00:00", "Z"))


def _text(max_size: int) -> st.SearchStrategy[str]:
    readable = st.text(st.characters(min_codepoint=0x20, max_codepoint=0x7E), max_size=max_size)
    # Any Unicode scalar value (NUL and control characters included, lone surrogates not).
    anything = st.text(st.characters(codec="utf-8"), max_size=max_size)
    return st.one_of(readable, readable, anything)


def _integer(name: str) -> st.SearchStrategy[int]:
    if name == "connectorId":
        # Real chargers have a handful, numbered from 1 (0, the whole station, is not
        # allowed everywhere); huge and negative ones come from the mutations.
        return st.integers(1, 8)
    return st.integers(0, 2**31 - 1)


def schema_values(schema: dict, name: str = "", root: dict | None = None) -> st.SearchStrategy[Any]:
    """Values valid for the subset of JSON schema draft 4 the OCPP 1.6 schemas use."""
    root = root or schema
    if "$ref" in schema:
        definition = root
        for part in schema["$ref"].removeprefix("#/").split("/"):
            definition = definition[part]
        return schema_values(definition, name, root)
    if "enum" in schema:
        return st.sampled_from(schema["enum"])
    kind = schema.get("type")
    if kind == "object":
        properties = schema.get("properties", {})
        required = set(schema.get("required", []))
        return st.fixed_dictionaries(
            {key: schema_values(sub, key, root) for key, sub in properties.items() if key in required},
            optional={key: schema_values(sub, key, root) for key, sub in properties.items() if key not in required},
        )
    if kind == "array":
        low = schema.get("minItems", 0)
        return st.lists(schema_values(schema["items"], name, root), min_size=low, max_size=max(low, 3))
    if kind == "string":
        if schema.get("format") == "date-time":
            return _datetimes()
        if name == "value":  # sampled values: decimals in a string
            return st.decimals(-(10**9), 10**9, places=3, allow_nan=False).map(str)
        return _text(schema.get("maxLength", 50))
    if kind == "integer":
        return _integer(name)
    if kind == "number":
        return st.floats(-1e6, 1e6, allow_nan=False, allow_infinity=False)
    if kind == "boolean":
        return st.booleans()
    raise ValueError(f"schema construct not covered: {schema}")


@dataclass(frozen=True)
class FuzzFrame:
    text: str
    mutation: str
    expect: str
    unique_id: Any = None  # what a CALLERROR or CALLRESULT for it must carry

    def __repr__(self) -> str:
        shown = self.text if len(self.text) <= 300 else f"{self.text[:200]}...({len(self.text)} chars)"
        return f"FuzzFrame({self.mutation}, {self.expect}, id={self.unique_id!r}, {shown!r})"


def _dumps(value: Any, ascii_only: bool) -> str:
    try:
        text = json.dumps(value, ensure_ascii=ascii_only, separators=(",", ":"))
        text.encode("utf-8")
        return text
    except UnicodeEncodeError:
        # A lone surrogate cannot cross a websocket raw; chargers send it as a JSON escape.
        return json.dumps(value, ensure_ascii=True, separators=(",", ":"))


def _paths(value: Any, prefix: tuple = ()) -> list[tuple]:
    found = [prefix]
    if isinstance(value, dict):
        for key, sub in value.items():
            found += _paths(sub, (*prefix, key))
    elif isinstance(value, list):
        for index, sub in enumerate(value):
            found += _paths(sub, (*prefix, index))
    return found


def _replace(root: Any, path: tuple, new: Any) -> Any:
    if not path:
        return new
    head, rest = path[0], path[1:]
    if isinstance(root, dict):
        return {**root, head: _replace(root[head], rest, new)}
    copy = list(root)
    copy[head] = _replace(root[head], rest, new)
    return copy


def _nested(depth: int, kind: str) -> str:
    if kind == "array":
        return "[" * depth + "]" * depth
    return '{"a":' * depth + "1" + "}" * depth


_DEEP_MARKER = "\x01deep-marker\x01"
_unique_ids = itertools.count(1)


@st.composite
def fuzz_frames(draw, actions: Sequence[str]) -> FuzzFrame:
    """One frame a hostile charger might send, with what the server owes it."""
    mutation = draw(
        st.sampled_from(
            [
                "valid",
                "drop-field",
                "extra-field",
                "wrong-type",
                "huge-int",
                "odd-string",
                "odd-datetime",
                "odd-meter-value",
                "deep-value",
                "deep-frame",
                "action",
                "unique-id",
                "message-type",
                "frame-shape",
                "answer-frame",
                "broken-json",
                "large",
            ]
        )
    )
    if mutation == "odd-meter-value" and "MeterValues" in actions:
        action = "MeterValues"
    else:
        action = draw(st.sampled_from(sorted(actions)))
    payload = draw(schema_values(load_schema(action)))
    unique_id = f"fz{draw(st.integers(0, 10**9))}"
    ascii_only = draw(st.booleans())

    def call_text(body: Any, uid: Any = unique_id, name: Any = action) -> str:
        return _dumps([2, uid, name, body], ascii_only)

    paths = [p for p in _paths(payload) if p]
    if mutation == "valid":
        return FuzzFrame(call_text(payload), mutation, ANSWER, unique_id)
    if mutation == "drop-field":
        keyed = [p for p in paths if isinstance(p[-1], str)]
        if keyed:
            path = draw(st.sampled_from(keyed))
            trimmed = {k: v for k, v in _get(payload, path[:-1]).items() if k != path[-1]}
            payload = _replace(payload, path[:-1], trimmed)
        return FuzzFrame(call_text(payload), mutation, ANSWER, unique_id)
    if mutation == "extra-field":
        objects = [p for p in [(), *paths] if isinstance(_get(payload, p), dict)]
        path = draw(st.sampled_from(objects))
        key = draw(st.sampled_from(["extra", "connectorId", "__proto__", "\ud800", ""]))
        value = draw(st.sampled_from([*ODD_VALUES, *HUGE_INTS[:3]]))
        payload = _replace(payload, path, {**_get(payload, path), key: value})
        return FuzzFrame(call_text(payload), mutation, ANSWER, unique_id)
    if mutation in ("wrong-type", "huge-int", "odd-string", "odd-datetime", "odd-meter-value", "deep-value"):
        pool = {
            "wrong-type": ODD_VALUES,
            "huge-int": HUGE_INTS,
            "odd-string": ODD_STRINGS,
            "odd-datetime": ODD_DATETIMES,
            "odd-meter-value": ODD_NUMBER_TEXT,
            "deep-value": (_DEEP_MARKER,),
        }[mutation]
        preferred = {
            "huge-int": [p for p in paths if isinstance(_get(payload, p), int)],
            "odd-string": [p for p in paths if isinstance(_get(payload, p), str)],
            "odd-datetime": [p for p in paths if p[-1] == "timestamp"],
            "odd-meter-value": [p for p in paths if p[-1] == "value"],
        }.get(mutation) or paths
        if preferred:
            path = draw(st.sampled_from(preferred))
            payload = _replace(payload, path, draw(st.sampled_from(pool)))
        else:
            payload = {**payload, "data": draw(st.sampled_from(pool))}
        text = call_text(payload)
        if mutation == "deep-value":
            depth = draw(st.sampled_from([200, 999, 1000, 1500, 3000]))
            text = text.replace(json.dumps(_DEEP_MARKER), _nested(depth, draw(st.sampled_from(["array", "object"]))))
        return FuzzFrame(text, mutation, ANSWER, unique_id)
    if mutation == "deep-frame":
        depth = draw(st.sampled_from([1000, 2000, 4000]))
        where = draw(st.sampled_from(["payload", "data", "action"]))
        nested = _nested(depth, draw(st.sampled_from(["array", "object"])))
        if where == "payload":
            text = f'[2,"{unique_id}","DataTransfer",{nested}]'
        elif where == "data":
            text = f'[2,"{unique_id}","DataTransfer",{{"vendorId":"fuzz","data":{nested}}}]'
        else:
            text = f'[2,"{unique_id}",{nested},{{}}]'
        return FuzzFrame(text, mutation, ANSWER, unique_id)
    if mutation == "action":
        name = draw(
            st.sampled_from(
                [
                    f"{action[:3]}\ud800{action[3:]}",
                    action.lower(),
                    f"{action}\x00",
                    "MakeCoffee",
                    "A" * 300,
                    *SERVER_ONLY_ACTIONS,
                ]
            )
        )
        return FuzzFrame(call_text(payload, name=name), mutation, ANSWER, unique_id)
    if mutation == "unique-id":
        uid = draw(st.sampled_from(["x" * 37, "u" * 200, f"id\ud800{unique_id}", f"id\x00{unique_id}", "", 17, None]))
        expect = MAYBE if isinstance(uid, str) and uid else NONE
        return FuzzFrame(call_text(payload, uid=uid), mutation, expect, uid if expect == MAYBE else None)
    if mutation == "message-type":
        kind = draw(st.sampled_from([9, 0, -2, "2", True, 2.0, None, 2**64]))
        return FuzzFrame(_dumps([kind, unique_id, action, payload], ascii_only), mutation, MAYBE, unique_id)
    if mutation == "frame-shape":
        shape = draw(st.sampled_from(["no-payload", "extra-element", "payload-list", "payload-string", "action-int"]))
        frame = {
            "no-payload": [2, unique_id, action],
            "extra-element": [2, unique_id, action, payload, {}],
            "payload-list": [2, unique_id, action, [payload]],
            "payload-string": [2, unique_id, action, json.dumps(payload)],
            "action-int": [2, unique_id, 42, payload],
        }[shape]
        return FuzzFrame(_dumps(frame, ascii_only), f"{mutation}:{shape}", ANSWER, unique_id)
    if mutation == "answer-frame":
        text = draw(
            st.sampled_from(
                [
                    _dumps([3, unique_id, payload], ascii_only),
                    _dumps([4, unique_id, "GenericError", "\ud800", {}], ascii_only),
                    _dumps([4, unique_id, "InternalError"], ascii_only),
                    _dumps([3, unique_id, "not-an-object"], ascii_only),
                    _dumps([3], ascii_only),
                    "[]",
                    "{}",
                    "null",
                    '"[2,\\"x\\",\\"Heartbeat\\",{}]"',
                    "   ",
                ]
            )
        )
        return FuzzFrame(text, mutation, NONE)
    if mutation == "broken-json":
        whole = call_text(payload)
        how = draw(st.sampled_from(["truncate", "trailing", "nul", "bad-escape", "single-quotes", "nan"]))
        if how == "truncate":
            text = whole[: draw(st.integers(1, max(1, len(whole) - 1)))]
        elif how == "trailing":
            text = whole + draw(st.sampled_from(["]", ",", " x", "\x00", "[2]"]))
        elif how == "nul":
            cut = draw(st.integers(0, len(whole)))
            text = whole[:cut] + "\x00" + whole[cut:]
        elif how == "bad-escape":
            text = whole.replace("}", '"bad\\x":1}', 1) if "}" in whole else whole + "\\q"
        elif how == "single-quotes":
            text = whole.replace('"', "'")
        else:
            text = f'[2,"{unique_id}","MeterValues",{{"connectorId":NaN,"meterValue":[]}}]'
        # A NUL may land inside the id itself, which then reads differently.
        return FuzzFrame(text, f"{mutation}:{how}", MAYBE, None if how == "nul" else unique_id)
    # large: a payload near or over a modest frame size limit
    size = draw(st.sampled_from([1_000, 10_000, 40_000, 70_000]))
    body = {"vendorId": "fuzz", "data": "d" * size}
    return FuzzFrame(_dumps([2, unique_id, "DataTransfer", body], True), f"{mutation}:{size}", ANSWER, unique_id)


def _get(value: Any, path: tuple) -> Any:
    for part in path:
        value = value[part]
    return value


def safe_text(value: str) -> str:
    """What the server is to store for a charger's string: lone surrogates and NUL as U+FFFD."""
    return _LONE_SURROGATE.sub("\ufffd", value).replace("\x00", "\ufffd")


def unsafe_for_storage(value: str) -> bool:
    return "\x00" in value or bool(_LONE_SURROGATE.search(value))


def answer_problems(frame: FuzzFrame, answers: list) -> list[str]:
    """What is wrong with the server's answers to one frame, by OCPP-J 1.6 and our contract."""
    problems = []
    if frame.expect == NONE:
        if answers:
            problems.append(f"answered a frame that must not be answered: {answers}")
        return problems
    if frame.expect == ANSWER and len(answers) != 1:
        problems.append(f"expected exactly one answer, got {len(answers)}: {answers}")
    if frame.expect == MAYBE and len(answers) > 1:
        problems.append(f"expected at most one answer, got {len(answers)}: {answers}")
    for answer in answers:
        problems += _shape_problems(frame, answer)
    return problems


def _shape_problems(frame: FuzzFrame, answer: Any) -> list[str]:
    if not isinstance(answer, list) or len(answer) < 3 or answer[0] not in (3, 4):
        return [f"not a CALLRESULT or CALLERROR: {answer!r}"]
    problems = []
    if isinstance(frame.unique_id, str) and answer[1] not in (frame.unique_id, safe_text(frame.unique_id)):
        problems.append(f"answer carries uniqueId {answer[1]!r}, the CALL had {frame.unique_id!r}")
    if answer[0] == 3:
        if len(answer) != 3 or not isinstance(answer[2], dict):
            problems.append(f"malformed CALLRESULT {answer!r}")
        return problems
    if len(answer) != 5 or not isinstance(answer[3], str) or not isinstance(answer[4], dict):
        problems.append(f"malformed CALLERROR {answer!r}")
    code = answer[2]
    if code not in SPEC_ERROR_CODES:
        problems.append(f"error code {code!r} is not one OCPP-J 1.6 names")
    elif code == "InternalError":
        problems.append(f"InternalError for a fault in the frame: {answer!r}")
    return problems


@dataclass
class Exchange:
    """One fuzz frame sent and what came back."""

    frame: FuzzFrame
    answers: list = field(default_factory=list)
    refused_too_big: bool = False  # closed with 1009 before the frame was read
    close_code: int | None = None  # set when the socket closed for any other reason
    probe_answer: Any = None  # the Heartbeat sent after the frame; the connection must still answer it

    @property
    def problems(self) -> list[str]:
        if self.close_code is not None:
            return [f"connection closed with {self.close_code} after {self.frame!r}"]
        if self.refused_too_big:
            return []
        problems = answer_problems(self.frame, self.answers)
        if not (isinstance(self.probe_answer, list) and self.probe_answer[0] == 3):
            problems.append(f"Heartbeat after the frame got {self.probe_answer!r}")
        return problems


class FuzzCharger:
    """A charger that sends one fuzz frame at a time, each followed by a Heartbeat probe.

    The probe's answer marks the end of the frame's answers: the server handles
    one connection's frames in order, so everything before it belongs to the frame.
    Counts every frame that crossed the wire both ways, for the frame-log check.
    """

    def __init__(self, url: str, identity: str, password: str, *, max_frame_bytes: int, answer_timeout: float = 10):
        self.url, self.identity, self.password = url, identity, password
        self.max_frame_bytes = max_frame_bytes
        self.answer_timeout = answer_timeout
        self.ws = None
        self.frames_sent = 0  # frames the server read (not refused for size)
        self.frames_received = 0
        self.reconnects = 0
        self._probes = itertools.count(1)

    async def connect(self) -> None:
        self.ws = await open_charger(self.url, self.identity, self.password, max_size=None)
        await self._send('[2,"boot","BootNotification",{"chargePointVendor":"Fuzz","chargePointModel":"F1"}]')
        answer = await self._recv()
        if answer[0] != 3:
            raise RuntimeError(f"{self.identity}: boot answered {answer}")

    async def close(self) -> None:
        if self.ws is not None:
            await self.ws.close()

    async def _send(self, text: str) -> None:
        await self.ws.send(text)
        self.frames_sent += 1

    async def _recv(self) -> Any:
        message = await asyncio.wait_for(self.ws.recv(), self.answer_timeout)
        self.frames_received += 1
        try:
            return json.loads(message)
        except ValueError:
            return message

    async def exchange(self, frame: FuzzFrame) -> Exchange:
        result = Exchange(frame)
        too_big = len(frame.text.encode("utf-8")) > self.max_frame_bytes
        probe_id = f"probe-{next(self._probes)}"
        try:
            await self.ws.send(frame.text)
            if too_big:
                await asyncio.wait_for(self.ws.wait_closed(), self.answer_timeout)
                self._record_close(result, too_big)
                return await self._reconnect(result)
            self.frames_sent += 1
            await self._send(json.dumps([2, probe_id, "Heartbeat", {}]))
            while True:
                answer = await self._recv()
                if isinstance(answer, list) and len(answer) > 1 and answer[1] == probe_id:
                    result.probe_answer = answer
                    return result
                result.answers.append(answer)
        except ConnectionClosed:
            self._record_close(result, too_big)
        except TimeoutError:
            # Over the limit yet not refused, or no answer in time: either way the
            # stream of answers can no longer be matched to frames, so start afresh.
            result.probe_answer = f"no answer within {self.answer_timeout} s" + (
                f" to a {len(frame.text)}-byte frame over the limit" if too_big else ""
            )
        return await self._reconnect(result)

    def _record_close(self, result: Exchange, too_big: bool) -> None:
        if too_big and self.ws.close_code == CLOSE_MESSAGE_TOO_BIG:
            result.refused_too_big = True
        else:
            result.close_code = self.ws.close_code or -1

    async def _reconnect(self, result: Exchange) -> Exchange:
        await self.ws.close()
        self.reconnects += 1
        await self.connect()
        return result


class EventLoopThread:
    """An event loop in a thread, so hypothesis' synchronous examples can drive websockets."""

    def __enter__(self):
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self.thread.start()
        return self

    def gather(self, coros, timeout: float = 60) -> list:
        async def together():
            return await asyncio.gather(*coros)

        return asyncio.run_coroutine_threadsafe(together(), self.loop).result(timeout)

    def __exit__(self, *exc):
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(10)
        self.loop.close()
