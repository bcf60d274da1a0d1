"""Session success: how many attempts to charge worked, and why the others failed (rules.py).

success share = successful sessions / judged attempts; failure share = failed attempts / judged
attempts; judged attempts = sessions that ended with a known outcome (not in progress, readings
consistent) plus accepted remote starts that no session followed.
"""

from collections import Counter, defaultdict
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum

from django.db.models import Count

from stations.models import ChargingSession, CommandStatus, Connector, RemoteCommand

from .rules import FAILED_OUTCOMES, REMOTE_START_GRACE, SessionOutcome, session_outcome


class SuccessGroupBy(StrEnum):
    CONNECTOR = "connector"
    STATION = "station"
    MODEL = "model"
    SITE = "site"


@dataclass
class SessionSuccessRow:
    key: dict
    outcomes: Counter = field(default_factory=Counter)

    @property
    def successes(self) -> int:
        return self.outcomes[SessionOutcome.SUCCESS]

    @property
    def failures(self) -> int:
        return sum(self.outcomes[outcome] for outcome in FAILED_OUTCOMES)

    @property
    def attempts(self) -> int:
        return self.successes + self.failures

    @property
    def success_share(self) -> float | None:
        return self.successes / self.attempts if self.attempts else None

    @property
    def failure_share(self) -> float | None:
        return self.failures / self.attempts if self.attempts else None


_FIELDS = {
    SuccessGroupBy.CONNECTOR: {"station": "station__identity", "connector_id": "connector__connector_id"},
    SuccessGroupBy.STATION: {"station": "station__identity"},
    SuccessGroupBy.MODEL: {"vendor": "station__vendor", "model": "station__model"},
    SuccessGroupBy.SITE: {"site": "station__site__name"},
}


def remote_starts_without_session(
    *, start: datetime, end: datetime, station_ids: list[int] | None = None
) -> list[tuple[int, int | None]]:
    """(station id, connector number or None) of each RemoteStartTransaction the charger accepted in
    [start, end) that no session on that connector (any, when none was named) followed within
    REMOTE_START_GRACE. Remote starts are few, so they are matched here."""
    commands = RemoteCommand.objects.filter(
        action="RemoteStartTransaction", status=CommandStatus.ACCEPTED, created_at__gte=start, created_at__lt=end
    )
    if station_ids is not None:
        commands = commands.filter(station_id__in=station_ids)
    commands = list(commands.values("station_id", "payload", "created_at", "sent_at"))
    if not commands:
        return []
    starts = defaultdict(list)
    for row in ChargingSession.objects.filter(
        station_id__in={c["station_id"] for c in commands}, start_at__gte=start, start_at__lt=end + REMOTE_START_GRACE
    ).values("station_id", "connector__connector_id", "start_at"):
        starts[row["station_id"]].append((row["connector__connector_id"], row["start_at"]))
    missing = []
    for command in commands:
        asked = command["sent_at"] or command["created_at"]
        payload = command["payload"] if isinstance(command["payload"], dict) else {}
        number = payload.get("connectorId") if isinstance(payload.get("connectorId"), int) else None
        followed = any(
            (number is None or n == number) and asked <= at <= asked + REMOTE_START_GRACE
            for n, at in starts[command["station_id"]]
        )
        if not followed:
            missing.append((command["station_id"], number))
    return missing


def session_success(
    *,
    start: datetime,
    end: datetime,
    group_by: SuccessGroupBy | str = SuccessGroupBy.CONNECTOR,
    station_ids: list[int] | None = None,
) -> list[SessionSuccessRow]:
    """Outcomes of the attempts that began in [start, end), per connector, station, model or site."""
    group_by = SuccessGroupBy(group_by)
    fields = _FIELDS[group_by]
    sessions = ChargingSession.objects.filter(start_at__gte=start, start_at__lt=end)
    if station_ids is not None:
        sessions = sessions.filter(station_id__in=station_ids)
    counted = (
        sessions.annotate(outcome=session_outcome())
        .values(*fields.values(), "outcome")
        .annotate(n=Count("id"))
        .order_by()
    )
    rows: dict[tuple, SessionSuccessRow] = {}

    def row_for(values: dict) -> SessionSuccessRow:
        key = tuple((name, values[path]) for name, path in fields.items())
        return rows.setdefault(key, SessionSuccessRow(key=dict(key)))

    for values in counted:
        row_for(values).outcomes[values["outcome"]] += values["n"]
    missing = remote_starts_without_session(start=start, end=end, station_ids=station_ids)
    if missing:
        info = {
            (c["station_id"], c["connector_id"]): c
            for c in Connector.objects.filter(station_id__in={s for s, _ in missing}).values(
                "station_id",
                "connector_id",
                "station__identity",
                "station__vendor",
                "station__model",
                "station__site__name",
            )  # fmt: skip
        }
        for station_id, number in missing:
            place = info.get((station_id, number)) or next(
                (c for (s, _), c in sorted(info.items(), key=lambda i: i[0][1]) if s == station_id), None
            )
            if place is None:
                continue
            values = {**place, "connector__connector_id": number}
            row_for(values).outcomes[SessionOutcome.NO_START] += 1
    return sorted(rows.values(), key=lambda row: tuple(str(v) for v in row.key.values()))
