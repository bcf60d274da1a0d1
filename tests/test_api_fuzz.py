"""Schema-driven fuzzing of every API operation, against a real server process.

Schemathesis generates requests from /api/schema/ (valid and edge-case parameters,
bodies, path values) and checks that no answer is a server error and that each
answer matches the schema. A few examples per operation keep the suite fast;
API_FUZZ_EXAMPLES=500 runs a long search.
"""

import os

import pytest
import schemathesis
from django.utils import timezone
from hypothesis import HealthCheck, settings
from rest_framework.authtoken.models import Token
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import response_schema_conformance

from stations.models import ChargingSession, FrameLog, RemoteCommand
from support.models import TicketChannel
from support.services import links
from support.services.tickets import ticket_create
from tests.factories import ConnectorFactory, StationFactory
from workorders.models import ErrorCode, Incident, IncidentKind, Technician, WorkOrder, WorkOrderKind

EXAMPLES = int(os.environ.get("API_FUZZ_EXAMPLES", "4"))


@pytest.fixture
def seeded(live_db, actors, playbook_seeded):
    """A little of everything, committed, so detail endpoints find something."""
    station = StationFactory(identity="FUZZ-1", connected=False)
    connector = ConnectorFactory(station=station, connector_id=1, status="Faulted", error_code="GroundFailure")
    now = timezone.now()
    session = ChargingSession.objects.create(
        station=station, connector=connector, id_tag="FUZZTAG", id_tag_status="Accepted", meter_start=0,
        start_at=now, start_fingerprint="fuzz",
    )  # fmt: skip
    frame = FrameLog.objects.create(
        station=station, direction="in", action="DataTransfer", message_type=2, unique_id="f1",
        raw='[2,"f1","DataTransfer",{"vendorId":"x","data":"' + "\u00e9<script>" * 100 + '"}]', created_at=now,
    )  # fmt: skip
    command = RemoteCommand.objects.create(
        station=station, action="Reset", payload={"type": "Soft"}, status="offline", requested_by=actors.operator
    )
    incident = Incident.objects.create(
        station=station, connector=connector, kind=IncidentKind.FAULT, error_code="GroundFailure", opened_at=now,
        playbook=ErrorCode.objects.first(),
    )  # fmt: skip
    technician = Technician.objects.create(user=actors.technician, skills=["ac"])
    order = WorkOrder.objects.create(
        station=station, connector=connector, incident=incident, technician=technician, title="Fix it",
        kind=WorkOrderKind.CORRECTIVE,
        sla_due_at=now,
    )  # fmt: skip
    ticket = ticket_create(channel=TicketChannel.API, subject="", body="It will not start", station=station)
    follow = links.follow_token(ticket)
    token, _ = Token.objects.get_or_create(user=actors.operator)
    known = {
        "/api/stations/{identity}/": {"identity": station.identity},
        "/api/stations/{identity}/commands/": {"identity": station.identity},
        "/api/connectors/{id}/": {"id": connector.pk},
        "/api/sessions/{id}/": {"id": session.pk},
        "/api/frames/{id}/": {"id": frame.pk},
        "/api/commands/{id}/": {"id": command.pk},
        "/api/incidents/{id}/": {"id": incident.pk},
        "/api/workorders/{id}/": {"id": order.pk},
        "/api/technicians/{id}/": {"id": technician.pk},
        "/api/playbook/{id}/": {"id": ErrorCode.objects.first().pk},
        "/api/driver/tickets/{token}/": {"token": follow},
        "/api/driver/tickets/{token}/messages/": {"token": follow},
    }
    return {"Authorization": f"Token {token.key}"}, known


@pytest.fixture
def api_schema(ocpp_server, seeded):
    headers, _ = seeded
    return schemathesis.openapi.from_url(f"{ocpp_server.http}/api/schema/", headers=headers)


schema = schemathesis.pytest.from_fixture("api_schema")


# One test runs every operation's examples against a live server (about 300 requests, each
# a fresh thread and database connection on the server): minutes on a busy machine.
@pytest.mark.timeout(900)
@schema.parametrize()
@settings(
    max_examples=EXAMPLES,
    deadline=None,
    database=None,
    suppress_health_check=list(HealthCheck),
)
def test_api_answers_every_generated_request_without_server_errors_and_as_documented(case, seeded):
    # The station is not connected, so a command sent with wait=true ends as
    # "offline" at once instead of waiting for a charger.
    headers, known = seeded
    checks = [not_a_server_error, response_schema_conformance]
    case.call_and_validate(headers=headers, checks=checks)
    if case.path_parameters and case.operation.path in known:
        # Generated ids almost never exist: ask again about a row that does.
        case.path_parameters = dict(known[case.operation.path])
        case.call_and_validate(headers=headers, checks=checks)
