"""Faults to fixes: incidents, remote remediation, truck-roll decisions, verification."""

from datetime import timedelta

import pytest
from django.utils import timezone

from stations.models import FrameLog, IdTag, RemoteCommand
from stations.services import charging
from tests.factories import (
    AMSTERDAM,
    ROTTERDAM,
    STATION_PASSWORD,
)
from tests.helpers import advance, amsterdam_station, eventually, fault, recover, technician
from tests.ocpp_client import BackgroundCharger
from workorders.models import (
    ErrorCode,
    Incident,
    IncidentStep,
    MaintenancePlan,
    WorkOrder,
)
from workorders.services import maintenance, remediation, verification
from workorders.services.lifecycle import IllegalTransition, workorder_transition

pytestmark = pytest.mark.usefixtures("playbook_seeded")


@pytest.fixture
def remediation_settings(settings):
    settings.REMEDIATION_GRACE_S = 0
    settings.REMEDIATION_WAIT_S = 60
    settings.REMEDIATION_COMMAND_TIMEOUT_S = 5
    return settings


@pytest.mark.usefixtures("live_db", "remediation_settings")
def test_fault_that_recovers_after_a_soft_reset_needs_no_truck(ocpp_server):
    station = amsterdam_station("REM-1")
    fault(station, error_code="InternalError")
    incident = Incident.objects.get(station=station)
    assert incident.playbook.code == "InternalError"

    with BackgroundCharger(ocpp_server.url, "REM-1", STATION_PASSWORD) as charger:
        station.refresh_from_db()
        first = advance(incident)  # trigger a status: still faulted
        second = advance(incident, now=timezone.now() + timedelta(seconds=61))  # soft reset
        assert eventually(lambda: len(charger.calls) == 2)  # sent without waiting for the answers
        recover(station)  # the charger comes back after the reset

    incident.refresh_from_db()
    assert (first.reason, second.reason) == ("trigger_status", "soft_reset")
    assert [c[2] for c in charger.calls] == ["TriggerMessage", "Reset"]
    assert (incident.status, incident.resolution) == ("closed", "remote")
    assert not WorkOrder.objects.exists()
    kinds = list(incident.steps.order_by("id").values_list("kind", flat=True))
    assert kinds == ["opened", "command", "wait", "command", "wait", "closed"]
    assert RemoteCommand.objects.filter(requested_via=f"remediation: incident {incident.pk}").count() == 2


@pytest.mark.usefixtures("live_db", "remediation_settings")
def test_fault_that_does_not_recover_is_dispatched_to_the_right_technician(ocpp_server):
    station = amsterdam_station("REM-2")
    near_unskilled = technician("near", skills=["ac"], at=AMSTERDAM)
    far_skilled = technician("far", skills=["ac", "dc", "hv"], at=ROTTERDAM)
    near_skilled = technician("good", skills=["ac", "dc", "hv"], at=AMSTERDAM)
    ErrorCode.objects.update_or_create(
        vendor="",
        code="CX999",
        defaults={
            "meaning": "test fault",
            "remotely_fixable": True,
            "remote_steps": ["soft_reset"],
            "skills": ["dc", "hv"],
            "field_steps": "replace the widget",
        },
    )
    fault(station, error_code="OtherError", vendor_error_code="CX999")
    incident = Incident.objects.get()

    with BackgroundCharger(ocpp_server.url, "REM-2", STATION_PASSWORD):
        advance(incident)
        assert eventually(lambda: FrameLog.objects.filter(station=station).count() >= 4)  # written in batches
        result = advance(incident, now=timezone.now() + timedelta(seconds=61))

    assert result.action == "dispatched"
    order = WorkOrder.objects.get()
    assert order.technician == near_skilled
    assert order.status == "assigned" and order.kind == "corrective"
    assert order.diagnosis["field_steps"] == "replace the widget"
    assert [t["step"] for t in order.diagnosis["remote_steps_tried"]] == ["soft_reset"]
    assert order.diagnosis["last_frames"], "the technician gets the last frames"
    decision = order.dispatch_decisions.get()
    names = [c["name"] for c in decision.reasons["candidates"]]
    assert names[0] == "good" and "far" in names and "near" not in names
    assert near_unskilled.work_orders.count() == 0 and far_skilled.work_orders.count() == 0
    incident.refresh_from_db()
    assert incident.status == "dispatched"


@pytest.mark.django_db(transaction=True)
def test_code_that_is_not_remotely_fixable_goes_straight_to_dispatch(remediation_settings):
    station = amsterdam_station("REM-3", connected=True)
    technician("anyone", skills=["ac", "dc", "hv", "mechanical"])
    fault(station, error_code="OtherError", vendor_error_code="CX026")  # cut cable
    incident = Incident.objects.get()

    result = advance(incident)

    assert result.action == "dispatched"
    assert not RemoteCommand.objects.exists()
    assert IncidentStep.objects.get(incident=incident, kind="decision").reason.startswith("truck roll")


@pytest.mark.django_db(transaction=True)
def test_drivers_fault_closes_without_a_truck(remediation_settings):
    station = amsterdam_station("REM-4", connected=True)
    fault(station, error_code="OtherError", vendor_error_code="CX009")  # authorisation timeout
    incident = Incident.objects.get()

    advance(incident)

    incident.refresh_from_db()
    assert (incident.status, incident.resolution) == ("closed", "not_equipment")
    assert not WorkOrder.objects.exists()


@pytest.mark.django_db(transaction=True)
def test_fault_that_clears_by_itself_closes_without_action(settings):
    settings.REMEDIATION_GRACE_S = 60
    station = amsterdam_station("REM-5", connected=True)
    fault(station)
    incident = Incident.objects.get()
    assert incident.next_check_at > timezone.now()
    assert remediation.incidents_claim_due() == []  # nothing runs during the grace time

    recover(station)

    incident.refresh_from_db()
    assert (incident.status, incident.resolution) == ("closed", "self_cleared")
    assert not RemoteCommand.objects.exists()


@pytest.mark.django_db(transaction=True)
def test_repeated_faults_on_a_connector_attach_to_one_incident(remediation_settings):
    station = amsterdam_station("REM-6")
    fault(station, error_code="GroundFailure")
    fault(station, error_code="GroundFailure", vendor_error_code="CX002")
    fault(station, connector_id=1, status_value="Charging", error_code="HighTemperature")

    incident = Incident.objects.get()
    assert incident.status_events.count() == 3
    assert incident.steps.filter(kind="attached").count() == 2


@pytest.mark.usefixtures("live_db", "remediation_settings")
def test_retried_step_after_a_worker_died_sends_nothing_twice(ocpp_server):
    station = amsterdam_station("REM-7")
    fault(station)
    incident = Incident.objects.get()
    with BackgroundCharger(ocpp_server.url, "REM-7", STATION_PASSWORD) as charger:
        advance(incident)
        # The worker died after sending but before moving on: the task runs again.
        Incident.objects.filter(pk=incident.pk).update(next_step=0, status="open")
        advance(incident)
        assert eventually(lambda: RemoteCommand.objects.filter(status="accepted").exists())  # answered

    assert len(charger.calls) == 1
    assert RemoteCommand.objects.count() == 1


@pytest.mark.django_db(transaction=True)
def test_claiming_due_incidents_is_exclusive(remediation_settings):
    station = amsterdam_station("REM-8")
    fault(station)
    first = remediation.incidents_claim_due()
    second = remediation.incidents_claim_due()
    assert len(first) == 1 and second == []


@pytest.mark.django_db(transaction=True)
def test_fix_is_verified_only_when_the_charger_reports_healthy(remediation_settings):
    station = amsterdam_station("REM-9", connected=False)
    tech = technician("fixer", skills=["ac", "dc", "hv", "mechanical", "network"])
    fault(station, error_code="OtherError", vendor_error_code="CX026")
    incident = Incident.objects.get()
    advance(incident)
    order = WorkOrder.objects.get()
    assert order.technician == tech
    order = workorder_transition(work_order=order, to="on_site", by=tech.user)

    order = verification.workorder_resolve(work_order=order, by=tech.user, resolution_code="replaced-cable")
    assert order.status == "resolved"  # the charger still says Faulted: no verification by checkbox

    recover(station)

    order.refresh_from_db()
    incident.refresh_from_db()
    assert order.status == "verified" and order.verified_at
    assert (incident.status, incident.resolution) == ("closed", "field")
    events = list(order.events.values_list("to_status", "via"))
    assert events[-1] == ("verified", "charger")


@pytest.mark.django_db(transaction=True)
def test_work_order_moves_only_along_its_transitions(remediation_settings):
    station = amsterdam_station("WO-1")
    from workorders.services import lifecycle

    order = lifecycle.workorder_create(kind="inspection", station=station, title="look")
    with pytest.raises(IllegalTransition):
        workorder_transition(work_order=order, to="resolved")
    with pytest.raises(IllegalTransition):
        workorder_transition(work_order=order, to="verified")


@pytest.mark.django_db(transaction=True)
def test_stale_status_move_is_refused(remediation_settings):
    from workorders.services import lifecycle

    order = lifecycle.workorder_create(kind="inspection", station=amsterdam_station("WO-2"), title="look")
    stale = WorkOrder.objects.get(pk=order.pk)
    workorder_transition(work_order=order, to="cancelled")
    with pytest.raises(IllegalTransition):
        workorder_transition(work_order=stale, to="assigned")  # someone else moved it meanwhile


@pytest.mark.django_db(transaction=True)
def test_preventive_plans_generate_once_per_period():
    station = amsterdam_station("PM-1")
    other = amsterdam_station("PM-2")
    plan = MaintenancePlan.objects.create(name="Quarterly", site=station.site, every_days=90, checklist=["clean"])
    usage_plan = MaintenancePlan.objects.create(name="Every 2 sessions", every_sessions=2)
    for n in range(2):
        start = timezone.now() - timedelta(hours=3 - n)
        result = charging.session_start(station_id=other.pk, connector_id=1, id_tag="A", meter_start=0, timestamp=start)
        charging.session_stop(
            station_id=other.pk, transaction_id=result.session.pk, meter_stop=5000, timestamp=start + timedelta(hours=1)
        )

    first = maintenance.plans_generate()
    again = maintenance.plans_generate()

    assert again == []
    assert sorted((o.plan.name, o.station.identity) for o in first) == [
        ("Every 2 sessions", "PM-2"),
        ("Quarterly", "PM-1"),
    ]
    order = WorkOrder.objects.get(plan=plan)
    assert order.kind == "preventive" and order.checklist == [{"item": "clean", "done": False}]
    assert usage_plan.workorder_set.count() == 1


@pytest.mark.django_db(transaction=True)
def test_repeated_failed_sessions_open_an_incident(settings):
    settings.FAILED_SESSIONS_THRESHOLD = 3
    station = amsterdam_station("FAIL-1")
    IdTag.objects.create(id_tag="A")  # a refused tag is the driver's failure, not the port's
    base = timezone.now() - timedelta(hours=1)
    for n in range(3):
        start = base + timedelta(minutes=5 * n)
        result = charging.session_start(
            station_id=station.pk, connector_id=1, id_tag="A", meter_start=0, timestamp=start
        )
        charging.session_stop(
            station_id=station.pk,
            transaction_id=result.session.pk,
            meter_stop=3,
            timestamp=start + timedelta(seconds=20),
        )
    incident = Incident.objects.get()
    assert incident.kind == "failed_sessions"


@pytest.mark.django_db(transaction=True)
def test_station_offline_past_grace_gets_a_truck(settings):
    settings.REMEDIATION_OFFLINE_GRACE_S = 0
    from stations.services import liveness

    amsterdam_station("OFF-9", last_message_at=timezone.now() - timedelta(hours=1))
    technician("netfixer", skills=["network", "ac", "dc", "hv"])
    liveness.stations_mark_silent_offline()
    incident = Incident.objects.get(kind="offline")
    assert incident.connector.connector_id == 0

    result = advance(incident)

    assert result.action == "dispatched"
    assert WorkOrder.objects.get().priority == "p1"


@pytest.mark.usefixtures("live_db")
@pytest.mark.filterwarnings("ignore::celery.exceptions.AlwaysEagerIgnored")  # send_task always goes to the broker
def test_fault_recovered_remotely_end_to_end_through_a_real_worker(django_db_setup):
    """Charger → OCPP server → listener → Celery worker → remote steps → charger → recovery."""
    from config.celery import app as celery_app
    from tests.conftest import run_server, run_worker

    station = amsterdam_station("E2E-REM")
    faulted = {"connectorId": 1, "status": "Faulted", "errorCode": "InternalError", "vendorErrorCode": "X1"}
    available = {"connectorId": 1, "status": "Available", "errorCode": "NoError"}
    followups = {
        "TriggerMessage": [("StatusNotification", faulted)],  # still faulted when asked
        "Reset": [("StatusNotification", available)],  # the soft reset fixes it
    }
    env = {"REMEDIATION_GRACE_S": "0", "REMEDIATION_WAIT_S": "1", "REMEDIATION_COMMAND_TIMEOUT_S": "5"}
    with (
        run_server(**env) as server,
        run_worker(**env),
        BackgroundCharger(server.url, "E2E-REM", STATION_PASSWORD, followups=followups) as charger,
    ):
        charger.send("StatusNotification", faulted)
        assert eventually(lambda: Incident.objects.filter(station=station).exists(), timeout=20)

        def sweep_until_closed():
            celery_app.send_task("workorders.tasks.remediation_sweep")
            return Incident.objects.filter(station=station, status="closed").exists()

        assert eventually(sweep_until_closed, timeout=40)

    incident = Incident.objects.get(station=station)
    assert incident.resolution == "remote"
    assert [c[2] for c in charger.calls] == ["TriggerMessage", "Reset"]
    assert not WorkOrder.objects.exists()
