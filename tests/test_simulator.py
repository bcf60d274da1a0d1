"""The simulator: faults on demand and on its own, against a real server."""

import random
from collections import Counter

import pytest
from django.core.management import CommandError, call_command

from stations.models import Connector, ConnectorStatus, StatusEvent
from stations.simulator import MODELS, SimConfig, pick_fault
from stations.simulator.catalogue import DRIVER_FAULT_CODES, Clear, fault_for_code
from tests.conftest import run_simulator
from tests.factories import STATION_PASSWORD, StationFactory
from tests.helpers import eventually

pytestmark = pytest.mark.usefixtures("live_db")

QUIET = ["--session-probability", "0", "--password", STATION_PASSWORD]


def test_default_fault_settings_show_a_fault_within_a_minute_and_a_few_per_ten_minutes():
    config = SimConfig()

    per_ten_minutes_across_ten = 10 * 600 / config.mean_fault_interval_s

    assert 0 < config.first_fault_s <= 60
    assert 2 <= per_ten_minutes_across_ten <= 6


def test_idle_faults_mix_soft_reset_truck_and_driver_codes():
    rng = random.Random(7)

    kinds = Counter()
    for model in MODELS:
        for _ in range(200):
            fault = pick_fault(rng, model, in_session=False)
            kinds["driver" if fault.vendor_error_code in DRIVER_FAULT_CODES else fault.clears] += 1

    assert kinds[Clear.SOFT_RESET] and kinds[Clear.HARD_RESET] and kinds["driver"] and kinds[Clear.AUTO]


def test_a_code_names_a_chargex_a_vendor_or_an_ocpp_fault():
    acme = next(m for m in MODELS if m.vendor == "ACME Power")

    assert fault_for_code("cx026", acme).vendor_error_code == "CX026"
    assert fault_for_code("ACME-E042", acme).error_code == "GroundFailure"
    assert (fault_for_code("InternalError", acme).error_code, fault_for_code("InternalError", acme).clears) == (
        "InternalError",
        Clear.SOFT_RESET,
    )


def test_simulate_fault_makes_a_running_simulated_charger_report_the_code(ocpp_server):
    StationFactory(identity="SIM-0003")
    with run_simulator(ocpp_server, "--count", "1", "--start", "3", "--first-fault", "0", *QUIET,
                       SIMULATOR_MEAN_FAULT_INTERVAL_S="0"):  # fmt: skip
        assert eventually(lambda: Connector.objects.filter(station__identity="SIM-0003", connector_id=1).exists(), 20)

        call_command("simulate_fault", "SIM-0003", "--code", "CX026", "--wait", "10")

    connector = Connector.objects.get(station__identity="SIM-0003", connector_id=1)
    assert (connector.status, connector.error_code, connector.vendor_error_code) == (
        ConnectorStatus.FAULTED,
        "OtherError",
        "CX026",
    )


def test_simulate_fault_says_so_when_no_simulator_listens():
    with pytest.raises(CommandError, match="no simulator is listening"):
        call_command("simulate_fault", "SIM-0099", "--code", "CX001")


@pytest.mark.parametrize(
    "knobs",
    [
        {"SIMULATOR_FIRST_FAULT_S": "4", "SIMULATOR_MEAN_FAULT_INTERVAL_S": "0"},  # the early first fault
        {"SIMULATOR_FIRST_FAULT_S": "0", "SIMULATOR_MEAN_FAULT_INTERVAL_S": "6"},  # the steady rate, sped up
    ],
    ids=["first-fault", "steady-rate"],
)
def test_a_simulated_fleet_faults_on_its_own(ocpp_server, knobs):
    identities = [f"SIM-{n:04d}" for n in range(1, 4)]
    for identity in identities:
        StationFactory(identity=identity)

    with run_simulator(ocpp_server, "--count", "3", *QUIET, **knobs):
        faulted = eventually(
            lambda: StatusEvent.objects.filter(
                station__identity__in=identities, status=ConnectorStatus.FAULTED
            ).exists(),
            timeout=20,
        )

    assert faulted
