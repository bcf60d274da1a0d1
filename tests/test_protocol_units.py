"""Framing, validation and credentials, without a server."""

import time

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from stations.ocpp import protocol, validation
from stations.services import credentials
from tests import ocpp_fuzzing


def test_callerror_frame_shape():
    assert protocol.call_error("id1", "NotImplemented", "no") == '[4,"id1","NotImplemented","no",{}]'


def test_unique_id_longer_than_36_is_a_formation_violation():
    with pytest.raises(protocol.FrameError) as err:
        protocol.parse_frame('[2, "' + "x" * 37 + '", "Heartbeat", {}]')
    assert err.value.code == "FormationViolation" and err.value.answerable


def test_broken_callresult_is_never_answered():
    with pytest.raises(protocol.FrameError) as err:
        protocol.parse_frame('[3, "id", "not an object"]')
    assert not err.value.answerable


@pytest.mark.parametrize(
    ("payload", "code"),
    [
        ({"connectorId": 1, "errorCode": "NoError"}, "OccurenceConstraintViolation"),
        ({"connectorId": True, "errorCode": "NoError", "status": "Available"}, "TypeConstraintViolation"),
        ({"connectorId": 1, "errorCode": "Melted", "status": "Available"}, "PropertyConstraintViolation"),
        ({"connectorId": 1, "errorCode": "NoError", "status": "Available", "x": 1}, "FormationViolation"),
        (
            {"connectorId": 1, "errorCode": "NoError", "status": "Available", "timestamp": "2026-01-01T10:00:00"},
            "TypeConstraintViolation",
        ),
    ],
)
def test_strict_validation_codes(payload, code):
    with pytest.raises(protocol.OcppError) as err:
        validation.validate("StatusNotification", payload)
    assert err.value.code == code


def test_lenient_validation_repairs_and_warns():
    payload, warnings = validation.validate(
        "MeterValues",
        {"connectorId": "2", "meterValue": [{"timestamp": "2026-01-01T10:00:00Z", "sampledValue": [{"value": 12.5}]}]},
        lenient=True,
    )
    assert payload["connectorId"] == 2
    assert payload["meterValue"][0]["sampledValue"][0]["value"] == "12.5"
    assert len(warnings) == 2


def test_lenient_validation_still_refuses_what_cannot_be_repaired():
    with pytest.raises(protocol.OcppError) as err:
        validation.validate("StatusNotification", {"connectorId": 1, "status": "Available"}, lenient=True)
    assert err.value.code == "OccurenceConstraintViolation"


def test_station_password_hash_verifies_and_is_fast():
    encoded = credentials.hash_password("a-long-enough-secret")
    assert credentials.verify_password("a-long-enough-secret", encoded)
    assert not credentials.verify_password("a-long-enough-secreT", encoded)
    assert encoded != credentials.hash_password("a-long-enough-secret")  # salted
    started = time.perf_counter()
    for _ in range(1000):
        credentials.verify_password("a-long-enough-secret", encoded)
    # Thousands of reconnecting chargers must not queue behind a slow KDF.
    assert time.perf_counter() - started < 1.0


CHARGER_ACTIONS = (
    "BootNotification",
    "Heartbeat",
    "StatusNotification",
    "Authorize",
    "StartTransaction",
    "StopTransaction",
    "MeterValues",
    "DataTransfer",
    "DiagnosticsStatusNotification",
    "FirmwareStatusNotification",
)


@st.composite
def _payload_and_mutation(draw):
    action = draw(st.sampled_from(CHARGER_ACTIONS))
    payload = draw(ocpp_fuzzing.schema_values(ocpp_fuzzing.load_schema(action)))
    if draw(st.booleans()):
        # One value anywhere replaced by an odd one: a wrong type, a bad time, a long text.
        paths = ocpp_fuzzing._paths(payload)
        path = draw(st.sampled_from(paths))
        odd = draw(
            st.sampled_from(
                [*ocpp_fuzzing.ODD_VALUES, *ocpp_fuzzing.ODD_DATETIMES, "x" * 600, 2**40, 1.0, "Available "]
            )
        )
        payload = ocpp_fuzzing._replace(payload, path, odd)
    return action, payload


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(_payload_and_mutation())
def test_compiled_schema_check_agrees_with_the_interpreting_validator(case):
    """The fast check decides alone for payloads it passes, so it may never pass one
    the full validator refuses (nor refuse one it passes: that would only be slow)."""
    action, payload = case
    interpreted = validation._first_error(validation.validator_for(action), payload) is None
    assert validation.passes_schema(action, payload) == interpreted, (action, payload)
