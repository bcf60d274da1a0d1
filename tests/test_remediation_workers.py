"""Remediation on real workers: a worker never waits for a charger's answer, and each check
comes when its incident's window closes, not at the next sweep."""

import time
from contextlib import ExitStack
from datetime import timedelta

import pytest
from django.utils import timezone

from stations.models import RemoteCommand
from tests.factories import STATION_PASSWORD
from tests.helpers import advance, amsterdam_station, eventually, fault
from tests.ocpp_client import BackgroundCharger
from workorders.models import ErrorCode, Incident, IncidentStep, WorkOrder
from workorders.services import remediation

pytestmark = pytest.mark.usefixtures("playbook_seeded")

ONE_STEP = "CX997"
FAULTED = {"connectorId": 1, "status": "Faulted", "errorCode": "OtherError", "vendorErrorCode": ONE_STEP}


@pytest.fixture
def one_step_code(db):
    """A fault the playbook tries one soft reset on, then sends a truck."""
    ErrorCode.objects.update_or_create(
        vendor="",
        code=ONE_STEP,
        defaults={"meaning": "test fault", "remotely_fixable": True, "remote_steps": ["soft_reset"]},
    )


@pytest.mark.usefixtures("live_db", "one_step_code")
@pytest.mark.filterwarnings("ignore::celery.exceptions.AlwaysEagerIgnored")  # sent to the real worker on purpose
def test_one_worker_takes_many_silent_chargers_to_their_decisions_together(django_db_setup):
    """Chargers that never answer cost the worker nothing: a worker that waited for each
    answer would need chargers x timeout (12 x 4 s) one after the other."""
    from config.celery import app as celery_app
    from tests.conftest import run_server, run_worker

    count, timeout_s = 12, 4
    stations = [amsterdam_station(f"SILENT-{n}") for n in range(count)]
    env = {"REMEDIATION_GRACE_S": "0", "REMEDIATION_WAIT_S": "1", "REMEDIATION_COMMAND_TIMEOUT_S": str(timeout_s)}
    with ExitStack() as stack:
        server = stack.enter_context(run_server(**env))
        chargers = [
            stack.enter_context(BackgroundCharger(server.url, s.identity, STATION_PASSWORD, answers={"Reset": None}))
            for s in stations
        ]
        stack.enter_context(run_worker(**env))  # solo pool: one task at a time

        for charger in chargers:
            charger.send("StatusNotification", FAULTED)
        assert eventually(lambda: Incident.objects.count() == count, timeout=20)
        started = time.monotonic()

        def all_dispatched():
            celery_app.send_task("workorders.tasks.remediation_sweep")  # the beat's safety net, every second
            return Incident.objects.filter(status="dispatched").count() == count

        assert eventually(all_dispatched, timeout=60)
        took = time.monotonic() - started

    assert took < 30, f"{count} silent chargers took {took:.0f} s to decide"
    assert [[c[2] for c in charger.calls] for charger in chargers] == [["Reset"]] * count  # each sent once
    assert set(RemoteCommand.objects.values_list("status", flat=True)) == {"timed_out"}
    tried = [o.diagnosis["remote_steps_tried"] for o in WorkOrder.objects.all()]
    assert [[t["outcome"] for t in steps] for steps in tried] == [["timed_out"]] * count


@pytest.mark.usefixtures("live_db", "one_step_code")
def test_check_comes_when_the_window_closes_without_a_sweep(django_db_setup):
    """No sweep runs: the step's follow-up check is scheduled for the end of its wait."""
    from tests.conftest import run_server, run_worker

    station = amsterdam_station("WINDOW-1")
    wait_s = 3
    env = {"REMEDIATION_GRACE_S": "0", "REMEDIATION_WAIT_S": str(wait_s), "REMEDIATION_COMMAND_TIMEOUT_S": "5"}
    with (
        run_server(**env) as server,
        BackgroundCharger(server.url, "WINDOW-1", STATION_PASSWORD) as charger,
        run_worker(**env),
    ):
        charger.send("StatusNotification", FAULTED)
        assert eventually(lambda: Incident.objects.filter(station=station, status="dispatched").exists(), timeout=30)

    incident = Incident.objects.get(station=station)
    waited = incident.steps.get(kind="wait")
    window_closed = waited.at + timedelta(seconds=wait_s)
    decided = WorkOrder.objects.get(incident=incident).created_at
    assert timedelta(0) <= decided - window_closed < timedelta(seconds=3)
    assert [c[2] for c in charger.calls] == ["Reset"]
    assert RemoteCommand.objects.get(station=station).status == "accepted"


@pytest.mark.django_db(transaction=True)
@pytest.mark.usefixtures("one_step_code")
def test_step_is_not_judged_while_its_answer_may_still_come(settings):
    """The station counts as connected but no server holds its socket: the Reset stays unanswered."""
    settings.REMEDIATION_GRACE_S = 0
    settings.REMEDIATION_WAIT_S = 1
    settings.REMEDIATION_COMMAND_TIMEOUT_S = 30
    station = amsterdam_station("OWED-1", connected=True)
    fault(station, error_code="OtherError", vendor_error_code=ONE_STEP)
    incident = Incident.objects.get()
    sent = advance(incident)
    command = RemoteCommand.objects.get()

    deadline = command.created_at + timedelta(seconds=30) + remediation.ANSWER_GRACE

    early = advance(incident, now=timezone.now() + timedelta(seconds=2))
    rescheduled = Incident.objects.get(pk=incident.pk)
    overdue = advance(incident, now=deadline)

    assert (sent.action, sent.reason) == ("step", "soft_reset")
    assert early.action == "waiting" and early.next_check_at <= deadline
    assert (rescheduled.status, rescheduled.next_check_at) == ("remediating", early.next_check_at)
    assert overdue.action == "dispatched"
    assert IncidentStep.objects.filter(incident=incident, kind="command").count() == 1


@pytest.mark.django_db(transaction=True)
def test_scheduled_check_taken_by_the_sweep_first_does_nothing(settings):
    settings.REMEDIATION_GRACE_S = 0
    station = amsterdam_station("CLAIM-1")
    fault(station)
    incident = Incident.objects.get()
    due_at = incident.next_check_at

    swept = remediation.incidents_claim_due()
    scheduled = remediation.incident_claim(incident_id=incident.pk, due_at=due_at)

    assert swept == [incident.pk] and scheduled is False


@pytest.mark.django_db(transaction=True)
def test_scheduled_check_claims_the_incident_once(settings):
    settings.REMEDIATION_GRACE_S = 0
    station = amsterdam_station("CLAIM-2")
    fault(station)
    incident = Incident.objects.get()

    first = remediation.incident_claim(incident_id=incident.pk, due_at=incident.next_check_at)
    again = remediation.incident_claim(incident_id=incident.pk, due_at=incident.next_check_at)

    assert (first, again) == (True, False)
    assert remediation.incidents_claim_due() == []  # leased: the sweep leaves it alone
