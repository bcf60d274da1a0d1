"""Property-based fuzzing of the OCPP endpoint through real sockets to one server process.

Frames come from tests/ocpp_fuzzing.py: schema-valid payloads for every action
a charger may send, mutated. OCPP_FUZZ_EXAMPLES raises the number of examples
(each example sends one frame from each of up to four chargers at once);
benchmarks/ocpp_fuzz.py runs the same generators for longer.
"""

import os

import pytest
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st

from stations.models import FrameLog, StationModel
from stations.ocpp.v16 import HANDLERS
from stations.ocpp.validation import validate
from tests.conftest import run_server
from tests.factories import STATION_PASSWORD, StationFactory
from tests.helpers import eventually
from tests.ocpp_fuzzing import (
    EventLoopThread,
    FuzzCharger,
    fuzz_frames,
    load_schema,
    schema_values,
    unsafe_for_storage,
)

EXAMPLES = int(os.environ.get("OCPP_FUZZ_EXAMPLES", "200"))
# Small enough that some generated frames are refused for size.
MAX_FRAME_BYTES = 32768
CHARGER_ACTIONS = sorted(HANDLERS)


@settings(max_examples=50, database=None, derandomize=True, deadline=None, suppress_health_check=list(HealthCheck))
@given(data=st.data())
def test_generated_payloads_are_valid_by_the_servers_schemas(data):
    action = data.draw(st.sampled_from(CHARGER_ACTIONS))

    payload = data.draw(schema_values(load_schema(action)))

    assert validate(action, payload) == (payload, [])


# A longer run through OCPP_FUZZ_EXAMPLES gets time in proportion.
@pytest.mark.timeout(max(120, EXAMPLES // 4))
def test_hostile_frames_get_spec_answers_and_every_frame_is_logged(live_db):
    lenient = StationModel.objects.create(vendor="Fuzz", model="Lenient", lenient=True)
    stations = [StationFactory(identity=f"FUZZ-{n}") for n in range(3)]
    stations.append(StationFactory(identity="FUZZ-LENIENT", station_model=lenient))

    with (
        run_server(OCPP_MAX_FRAME_BYTES=str(MAX_FRAME_BYTES), FRAME_LOG_FLUSH_INTERVAL_S="0.05") as server,
        EventLoopThread() as loop,
    ):
        chargers = [
            FuzzCharger(server.url, station.identity, STATION_PASSWORD, max_frame_bytes=MAX_FRAME_BYTES)
            for station in stations
        ]
        loop.gather([charger.connect() for charger in chargers])
        frames_from_each = st.tuples(st.integers(0, len(chargers) - 1), fuzz_frames(CHARGER_ACTIONS))

        @settings(
            max_examples=EXAMPLES,
            database=None,
            derandomize=True,
            deadline=None,
            # Shrinking replays frames against a server whose state has moved on; the
            # failing frame is printed as it was sent.
            phases=[Phase.generate],
            suppress_health_check=list(HealthCheck),
        )
        @given(batch=st.lists(frames_from_each, min_size=1, max_size=len(chargers), unique_by=lambda pair: pair[0]))
        def frames_are_answered_by_the_spec(batch):
            exchanges = loop.gather([chargers[index].exchange(frame) for index, frame in batch])
            problems = [problem for exchange in exchanges for problem in exchange.problems]
            assert not problems, "\n".join(problems)
            assert server.process.poll() is None, f"server exited with {server.process.returncode}"

        frames_are_answered_by_the_spec()
        loop.gather([charger.close() for charger in chargers])
        assert server.process.poll() is None

        expected = sum(charger.frames_sent + charger.frames_received for charger in chargers)
        logged = FrameLog.objects.filter(station__in=stations)
        assert eventually(lambda: logged.count() >= expected, timeout=10)
        assert logged.count() == expected
        unsafe = [
            frame.pk
            for frame in logged.only("raw", "action", "unique_id")
            if any(unsafe_for_storage(text) for text in (frame.raw, frame.action, frame.unique_id))
        ]
        assert unsafe == []
