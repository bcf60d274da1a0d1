"""The API and the frame lists under hostile input: every parameter out of range is a
clear 400 (never a 500), pages are bounded, and a charger's huge frames never load whole
into a list or a page."""

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone
from rest_framework.test import APIClient

from config.api import MAX_OFFSET, MAX_PAGE_SIZE
from stations.models import ChargingSession, FrameLog
from stations.selectors import FRAME_PREVIEW_CHARS
from tests.factories import ConnectorFactory, StationFactory
from workorders.models import Technician, WorkOrder, WorkOrderKind, WorkOrderStatus

MEGABYTE = 1024 * 1024

LIST_ENDPOINTS = [
    "/api/stations/",
    "/api/connectors/",
    "/api/sessions/",
    "/api/frames/",
    "/api/commands/",
    "/api/incidents/",
    "/api/workorders/",
    "/api/technicians/",
    "/api/playbook/",
]

# Every date-time filter of the API, by list.
DATE_FILTERS = [
    ("/api/stations/", "last_message_after"),
    ("/api/stations/", "last_message_before"),
    ("/api/sessions/", "started_after"),
    ("/api/sessions/", "started_before"),
    ("/api/frames/", "after"),
    ("/api/frames/", "before"),
    ("/api/commands/", "after"),
    ("/api/commands/", "before"),
    ("/api/incidents/", "opened_after"),
    ("/api/incidents/", "opened_before"),
    ("/api/kpis/", "start"),
    ("/api/kpis/", "end"),
]

EDGE_MOMENTS = [
    "9999-12-31T23:59:59-01:00",
    "0001-01-01T00:00:00+01:00",
    "9999-12-31T23:59:59",
    "0001-01-01T00:00:00",
]


@pytest.fixture
def api(actors):
    client = APIClient()
    client.force_authenticate(actors.operator)
    return client


def _frames(station, n: int, *, size: int = 20) -> None:
    now = timezone.now()
    FrameLog.objects.bulk_create(
        FrameLog(
            station=station,
            direction="in",
            action="DataTransfer",
            raw=f'[2,"{i}","DataTransfer",{{"vendorId":"x","data":"' + "A" * size + '"}]',
            created_at=now,
        )
        for i in range(n)
    )


def _messages(response) -> str:
    return " ".join(str(message) for messages in response.json().values() for message in messages)


@pytest.mark.django_db
@pytest.mark.parametrize("endpoint", LIST_ENDPOINTS)
def test_huge_limit_is_capped_on_every_list(api, endpoint):
    response = api.get(endpoint, {"limit": "99999999999999999999"})

    assert response.status_code == 200
    assert "results" in response.json()


@pytest.mark.django_db
def test_limit_above_the_maximum_gives_a_page_of_the_maximum(api):
    _frames(StationFactory(), MAX_PAGE_SIZE + 5)

    body = api.get("/api/frames/", {"limit": "99999999999999999999"}).json()

    assert body["count"] == MAX_PAGE_SIZE + 5
    assert len(body["results"]) == MAX_PAGE_SIZE
    assert f"limit={MAX_PAGE_SIZE}" in body["next"]


@pytest.mark.django_db
@pytest.mark.parametrize("endpoint", LIST_ENDPOINTS)
@pytest.mark.parametrize(
    "value", ["abc", "-1", "0", "1.5", "1e3", "5; DROP TABLE", pytest.param("9" * 5000 + "x", id="long-garbage")]
)
def test_malformed_limit_is_a_400_naming_the_parameter(api, endpoint, value):
    response = api.get(endpoint, {"limit": value})

    assert response.status_code == 400
    assert list(response.json()) == ["limit"]
    assert "limit must be a whole number of at least 1" in _messages(response)


@pytest.mark.django_db
@pytest.mark.parametrize("endpoint", LIST_ENDPOINTS)
def test_offset_past_the_end_is_an_empty_page_and_too_large_a_400(api, endpoint):
    past_the_end = api.get(endpoint, {"offset": str(MAX_OFFSET)})
    assert past_the_end.status_code == 200
    assert past_the_end.json()["results"] == []

    huge = api.get(endpoint, {"offset": "99999999999999999999"})
    assert huge.status_code == 400
    assert "offset must be at most" in _messages(huge)

    negative = api.get(endpoint, {"offset": "-5"})
    assert negative.status_code == 400
    assert "offset must be a whole number of at least 0" in _messages(negative)


@pytest.mark.django_db
@pytest.mark.parametrize(("endpoint", "param"), DATE_FILTERS)
@pytest.mark.parametrize("moment", EDGE_MOMENTS)
def test_moments_at_the_edge_of_the_calendar_are_a_400_naming_the_filter(api, endpoint, param, moment):
    response = api.get(endpoint, {param: moment})

    assert response.status_code == 400, response.content
    assert param in response.json()
    assert "out of range" in " ".join(response.json()[param])


@pytest.mark.django_db
@pytest.mark.parametrize(("endpoint", "param"), DATE_FILTERS)
def test_ordinary_moments_still_filter(api, endpoint, param):
    assert api.get(endpoint, {param: "2026-06-01T12:00:00+02:00"}).status_code == 200


@pytest.mark.django_db
def test_kpis_without_start_near_year_one_is_a_400(api):
    response = api.get("/api/kpis/", {"end": "0001-01-05"})

    assert response.status_code == 400
    assert "start" in response.json()


@pytest.mark.django_db
@pytest.mark.parametrize(
    "path",
    [
        "/api/sessions/99999999999999999999/",
        "/api/frames/99999999999999999999/",
        "/api/commands/-1/",
        "/api/incidents/abc/",
        "/api/workorders/1e9/",
        "/api/technicians/99999999999999999999/",
        "/api/playbook/0/",
        "/api/stations/no-such-station/",
        "/api/stations/a%00b/",
    ],
)
def test_ids_out_of_range_are_a_404(api, path):
    assert api.get(path).status_code == 404


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("endpoint", "params"),
    [
        ("/api/workorders/", {"incident": "99999999999999999999"}),
        ("/api/workorders/", {"incident": "abc"}),
        ("/api/workorders/", {"status": "exploded"}),
        ("/api/incidents/", {"kind": "nonsense"}),
        ("/api/connectors/", {"status": "Sleeping"}),
        ("/api/commands/", {"status": "maybe"}),
        ("/api/frames/", {"direction": "sideways"}),
        ("/api/frames/", {"message_type": "NaN"}),
        ("/api/stations/", {"identity": "a\x00b"}),
        ("/api/kpis/", {"group": "planet"}),
    ],
)
def test_bad_ids_enums_and_values_in_filters_are_a_400(api, endpoint, params):
    response = api.get(endpoint, params)

    assert response.status_code == 400, response.content
    assert set(params) <= set(response.json())


@pytest.mark.django_db
def test_huge_numbers_in_number_filters_match_nothing(api):
    _frames(StationFactory(), 1)

    response = api.get("/api/frames/", {"message_type": "99999999999999999999"})

    assert response.status_code == 200
    assert response.json()["results"] == []


# -- frames: previews in lists, the whole frame one request away ---------------


@pytest.mark.django_db
def test_a_megabyte_frame_is_a_preview_in_the_list_and_whole_at_its_detail(api):
    station = StationFactory(identity="BIG-1")
    _frames(station, 1, size=MEGABYTE)
    frame = FrameLog.objects.get()

    listed = api.get("/api/frames/").json()["results"][0]
    whole = api.get(f"/api/frames/{frame.pk}/").json()

    assert len(listed["preview"]) == FRAME_PREVIEW_CHARS
    assert listed["length"] == len(frame.raw) > MEGABYTE
    assert listed["truncated"] is True
    assert "raw" not in listed
    assert whole["raw"] == frame.raw
    assert whole["length"] == len(frame.raw)


@pytest.mark.django_db
def test_short_frames_are_listed_whole_and_not_marked_truncated(api):
    _frames(StationFactory(), 1, size=5)

    listed = api.get("/api/frames/").json()["results"][0]

    assert listed["truncated"] is False
    assert listed["preview"] == FrameLog.objects.get().raw


@pytest.mark.django_db
def test_frames_list_size_is_bounded_whatever_the_frames_hold(api):
    _frames(StationFactory(), 20, size=MEGABYTE)

    response = api.get("/api/frames/", {"limit": "1000"})

    assert len(response.json()["results"]) == 20
    # 20 previews and their metadata, not 20 MB.
    assert len(response.content) < 20 * (FRAME_PREVIEW_CHARS + 500)


@pytest.mark.django_db
def test_frames_list_never_selects_the_whole_payload(api):
    _frames(StationFactory(), 3, size=MEGABYTE)

    with CaptureQueriesContext(connection) as ctx:
        assert api.get("/api/frames/").status_code == 200

    # The payload column appears only inside SUBSTR/LENGTH, never on its own.
    queries = [q["sql"] for q in ctx.captured_queries]
    listed = [sql for sql in queries if "stations_framelog" in sql and "SUBSTR" in sql.upper()]
    assert listed, queries
    for sql in listed:
        select = sql.split(" FROM ")[0]
        assert select.count('"raw"') == 2, select


@pytest.mark.django_db
@pytest.mark.parametrize("page", ["stations:station-detail", "stations:station-live"])
def test_station_page_shows_megabyte_frames_as_previews_with_their_size(client, actors, page):
    client.force_login(actors.operator)
    station = StationFactory(identity="BIG-2")
    _frames(station, 20, size=MEGABYTE)
    frame = FrameLog.objects.order_by("-id").first()

    response = client.get(reverse(page, args=[station.identity]))
    body = response.content.decode()

    assert response.status_code == 200
    assert len(response.content) < 200_000
    assert f"whole frame ({len(frame.raw)} characters)" in body
    assert f'href="/api/frames/{frame.pk}/"' in body
    assert "A" * FRAME_PREVIEW_CHARS not in body


@pytest.mark.django_db
@pytest.mark.parametrize("page", ["stations:station-detail", "stations:station-live"])
def test_station_page_query_count_does_not_grow_with_frame_size(client, actors, page):
    client.force_login(actors.operator)
    station = StationFactory(identity="BIG-3")
    connector = ConnectorFactory(station=station)
    ChargingSession.objects.create(
        station=station, connector=connector, id_tag="A", id_tag_status="Accepted", meter_start=0,
        start_at=timezone.now(), start_fingerprint="one",
    )  # fmt: skip
    url = reverse(page, args=[station.identity])
    _frames(station, 1)

    def count():
        with CaptureQueriesContext(connection) as ctx:
            assert client.get(url).status_code == 200
        return [q["sql"] for q in ctx.captured_queries]

    small = count()
    _frames(station, 20, size=MEGABYTE)
    large = count()

    assert len(small) == len(large), "\n".join(large)


@pytest.mark.django_db
def test_technicians_work_order_page_shows_megabyte_frames_as_previews_in_fixed_queries(client, actors):
    client.force_login(actors.technician)
    station = StationFactory(identity="BIG-4")
    connector = ConnectorFactory(station=station)
    technician = Technician.objects.create(user=actors.technician, skills=["ac"])
    order = WorkOrder.objects.create(
        kind=WorkOrderKind.CORRECTIVE, status=WorkOrderStatus.ASSIGNED, station=station, connector=connector,
        technician=technician, title="Fix it", sla_due_at=timezone.now(),
    )  # fmt: skip
    url = reverse("workorders:live", args=[order.pk])
    _frames(station, 1)

    def get():
        with CaptureQueriesContext(connection) as ctx:
            response = client.get(url)
        assert response.status_code == 200
        return response, len(ctx.captured_queries)

    _, small = get()
    _frames(station, 20, size=MEGABYTE)
    response, large = get()

    assert small == large
    assert len(response.content) < 200_000
    # Technicians do not read the frame log itself: the size, without a link.
    assert f"{len(FrameLog.objects.order_by('-id').first().raw)} characters" in response.content.decode()
    assert "/api/frames/" not in response.content.decode()
