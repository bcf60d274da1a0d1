"""Reads for station pages and the API, shaped so their query count is fixed."""

from django.db.models import Exists, OuterRef, Prefetch, Q, QuerySet
from django.db.models.functions import Length, Substr

from stations.models import ChargingSession, ChargingStation, Connector, ConnectorStatus, FrameLog, RemoteCommand

RECENT_FRAMES = 200
RECENT_SESSIONS = 20
# Characters of a frame shown in lists; the whole frame is one request away.
FRAME_PREVIEW_CHARS = 300


def station_list(*, filters: dict | None = None) -> QuerySet[ChargingStation]:
    """Stations with their site and connectors, by identity.

    Connectors come in one prefetch query for the page, whatever the number of
    stations. Nothing here joins or groups the connectors of the whole network:
    a page is read along the identity index (LIMIT/OFFSET), and its count is a
    plain COUNT(*). A filter on connector status is an EXISTS per station, not a
    join with DISTINCT over every column.
    """
    filters = filters or {}
    qs = (
        ChargingStation.objects.select_related("site")
        .prefetch_related(Prefetch("connectors", queryset=Connector.objects.order_by("connector_id")))
        .order_by("identity")
    )
    if q := filters.get("q"):
        qs = qs.filter(Q(identity__icontains=q) | Q(site__name__icontains=q) | Q(model__icontains=q))
    if site := filters.get("site"):
        qs = qs.filter(site_id=site)
    connected = filters.get("connected")
    if connected in ("yes", "no"):
        qs = qs.filter(connected=connected == "yes")
    if status := filters.get("status"):
        if status == ConnectorStatus.OFFLINE:
            qs = qs.filter(offline=True)
        else:
            qs = qs.filter(with_connector_status(status))
    if filters.get("faulted") == "yes":
        qs = qs.filter(with_connector_status(ConnectorStatus.FAULTED))
    return qs


def with_connector_status(status: str) -> Exists:
    """Stations with a connector in this status; for a filter on a station list."""
    return Exists(Connector.objects.filter(station=OuterRef("pk"), status=status))


def station_detail(*, identity: str) -> ChargingStation:
    return ChargingStation.objects.select_related("site", "station_model").get(identity=identity)


def station_connectors(*, station: ChargingStation) -> list[Connector]:
    return list(station.connectors.order_by("connector_id"))


def station_recent_sessions(*, station: ChargingStation, limit: int = RECENT_SESSIONS) -> list[ChargingSession]:
    return list(
        ChargingSession.objects.filter(station=station).select_related("connector").order_by("-start_at", "-id")[:limit]
    )


def frames_with_preview(queryset: QuerySet[FrameLog] | None = None) -> QuerySet[FrameLog]:
    """Frames without their payload: `raw_preview` (its first FRAME_PREVIEW_CHARS
    characters, cut by the database) and `raw_length` (in characters) instead.

    A charger decides how long its frames are; a list of them must cost the
    same whatever it sent. Reading `raw` on these rows is a query per row.
    """
    queryset = FrameLog.objects.all() if queryset is None else queryset
    return queryset.defer("raw").annotate(
        raw_preview=Substr("raw", 1, FRAME_PREVIEW_CHARS),
        raw_length=Length("raw"),
    )


def station_recent_frames(*, station: ChargingStation, limit: int = RECENT_FRAMES) -> list[FrameLog]:
    # Served by the (station, -created_at) index.
    return list(frames_with_preview(FrameLog.objects.filter(station=station)).order_by("-created_at", "-id")[:limit])


def station_recent_commands(*, station: ChargingStation, limit: int = 20) -> list[RemoteCommand]:
    return list(
        RemoteCommand.objects.filter(station=station)
        .select_related("requested_by")
        .order_by("-created_at", "-id")[:limit]
    )
