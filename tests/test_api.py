"""REST API: roles, filters, pagination, schema, token auth, fixed query counts."""

from datetime import timedelta

import pytest
from django.core.management import call_command
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone
from rest_framework.authtoken.models import Token
from rest_framework.test import APIClient

from stations.models import ChargingSession, FrameLog
from tests.factories import ConnectorFactory, StationFactory


@pytest.fixture
def api():
    return APIClient()


def _session(station, connector, start_at, **extra):
    return ChargingSession.objects.create(
        station=station, connector=connector, id_tag="A", id_tag_status="Accepted", meter_start=0,
        start_at=start_at, start_fingerprint=str(start_at), **extra,
    )  # fmt: skip


@pytest.mark.django_db
def test_stations_list_filters_by_status_and_identity(api, actors):
    faulted = StationFactory(identity="API-F")
    ConnectorFactory(station=faulted, connector_id=1, status="Faulted")
    ConnectorFactory(station=faulted, connector_id=2, status="Faulted")
    ok = StationFactory(identity="API-OK")
    ConnectorFactory(station=ok, connector_id=1, status="Available")
    api.force_authenticate(actors.operator)

    response = api.get("/api/stations/", {"status": "Faulted"})

    assert response.status_code == 200
    assert [s["identity"] for s in response.json()["results"]] == ["API-F"]
    assert response.json()["results"][0]["connectors"][0]["status"] == "Faulted"
    assert api.get("/api/stations/", {"identity": "ok"}).json()["count"] == 1
    assert api.get("/api/stations/API-OK/").json()["identity"] == "API-OK"


@pytest.mark.django_db
def test_sessions_filter_by_station_and_time_range(api, actors):
    now = timezone.now()
    a = StationFactory(identity="S-A")
    b = StationFactory(identity="S-B")
    ca, cb = ConnectorFactory(station=a), ConnectorFactory(station=b)
    recent = _session(a, ca, now - timedelta(hours=1))
    _session(a, ca, now - timedelta(days=3))
    _session(b, cb, now - timedelta(hours=1))
    api.force_authenticate(actors.support)

    response = api.get("/api/sessions/", {"station": "S-A", "started_after": (now - timedelta(days=1)).isoformat()})

    assert response.status_code == 200
    assert [s["transaction_id"] for s in response.json()["results"]] == [recent.pk]


@pytest.mark.django_db
def test_bad_filter_value_is_a_clear_400(api, actors):
    api.force_authenticate(actors.operator)
    response = api.get("/api/sessions/", {"started_after": "last tuesday"})
    assert response.status_code == 400
    assert "started_after" in response.json()
    response = api.get("/api/stations/", {"status": "Sleeping"})
    assert response.status_code == 400
    assert "status" in response.json()


@pytest.mark.django_db
def test_frames_filter_by_action_and_station(api, actors):
    station = StationFactory(identity="FR-1")
    now = timezone.now()
    FrameLog.objects.create(station=station, direction="in", action="Heartbeat", raw="[]", created_at=now)
    FrameLog.objects.create(station=station, direction="in", action="BootNotification", raw="[]", created_at=now)
    FrameLog.objects.create(station=StationFactory(), direction="in", action="Heartbeat", raw="[]", created_at=now)
    api.force_authenticate(actors.dispatcher)

    results = api.get("/api/frames/", {"station": "FR-1", "action": "Heartbeat"}).json()["results"]

    assert [(f["station"], f["action"]) for f in results] == [("FR-1", "Heartbeat")]


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("actor", "endpoint", "status"),
    [
        ("support", "/api/frames/", 403),
        ("technician", "/api/stations/", 403),
        ("outsider", "/api/sessions/", 403),
        ("dispatcher", "/api/frames/", 200),
        ("support", "/api/sessions/", 200),
    ],
)
def test_api_access_by_role(api, actors, actor, endpoint, status):
    api.force_authenticate(getattr(actors, actor))
    assert api.get(endpoint).status_code == status


@pytest.mark.django_db
def test_api_is_read_only(api, actors):
    api.force_authenticate(actors.operator)
    assert api.post("/api/stations/", {"identity": "X"}, format="json").status_code in (403, 405)


@pytest.mark.django_db
def test_anonymous_api_request_is_refused(api):
    assert api.get("/api/stations/").status_code in (401, 403)


@pytest.mark.django_db
def test_token_auth_for_scripts(api, actors):
    call_command("drf_create_token", actors.operator.username)
    token = Token.objects.get(user=actors.operator)
    api.credentials(HTTP_AUTHORIZATION=f"Token {token.key}")
    assert api.get("/api/stations/").status_code == 200


@pytest.mark.django_db
def test_openapi_schema_and_docs_are_served(client, actors):
    client.force_login(actors.operator)
    schema = client.get("/api/schema/")
    assert schema.status_code == 200
    assert b"/api/stations/" in schema.content and b"/api/frames/" in schema.content
    docs = client.get("/api/docs/")
    assert docs.status_code == 200
    assert b"swagger-ui" in docs.content
    assert b"cdn" not in docs.content.lower()


@pytest.mark.django_db
@pytest.mark.parametrize("endpoint", ["/api/stations/", "/api/sessions/", "/api/frames/", "/api/connectors/"])
def test_api_list_query_count_does_not_grow(api, actors, endpoint):
    api.force_authenticate(actors.operator)

    def add(n):
        now = timezone.now()
        for _ in range(n):
            station = StationFactory()
            connector = ConnectorFactory(station=station)
            ConnectorFactory(station=station, connector_id=2)
            _session(station, connector, now)
            FrameLog.objects.create(station=station, direction="in", raw="[]", created_at=now)

    def count():
        with CaptureQueriesContext(connection) as ctx:
            assert api.get(endpoint).status_code == 200
        return len(ctx.captured_queries)

    add(1)
    count()  # the user's permissions are cached after the first request
    with_one = count()
    add(30)
    assert count() == with_one


@pytest.mark.django_db
def test_api_stations_status_filter_lists_and_counts_a_station_once_with_fixed_queries(api, actors):
    api.force_authenticate(actors.operator)

    def add(n):
        for _ in range(n):
            station = StationFactory()
            ConnectorFactory(station=station, connector_id=1, status="Faulted")
            ConnectorFactory(station=station, connector_id=2, status="Faulted")

    def get():
        with CaptureQueriesContext(connection) as ctx:
            response = api.get("/api/stations/", {"status": "Faulted", "limit": 100})
        assert response.status_code == 200
        return response.json(), [q["sql"] for q in ctx.captured_queries]

    add(1)
    get()  # the user's permissions are cached after the first request
    body, with_one = get()
    assert body["count"] == 1 and len(body["results"]) == 1
    add(30)
    body, with_many = get()
    assert body["count"] == 31 and len(body["results"]) == 31
    assert len(with_many) == len(with_one), "\n".join(with_many)
    assert not any("DISTINCT" in sql for sql in with_many), "\n".join(with_many)
