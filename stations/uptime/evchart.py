"""EV-ChART quarterly upload files (US Joint Office): module 2 sessions, 3 uptime, 4 outages.

Identifiers: station_id is the site's name (EV-ChART's station is a location), or the charger's
identity when it has no site; charger_id the charger's identity; port_id "<identity>-<connector>";
connector_id the OCPP connector number. Session times are ISO 8601 in the site's time zone with
its offset; uptime periods are UTC quarters, as the roll-ups are. Minutes, kWh and kW with two
decimals.
"""

import csv
import re
from datetime import UTC, datetime
from decimal import ROUND_HALF_UP, Decimal
from pathlib import Path
from zoneinfo import ZoneInfo

from django.db.models import Max
from django.utils import timezone

from stations.models import ChargingSession, Connector, MeterSample
from stations.services import session_extras

from .rules import SessionOutcome, session_outcome
from .selectors import port_windows_live

SESSION_COLUMNS = [
    "station_id", "port_id", "charger_id", "connector_id", "session_id", "session_start", "session_end",
    "session_error", "error_other", "energy_kwh", "power_kw", "payment_method", "payment_other",
]  # fmt: skip
UPTIME_COLUMNS = [
    "station_id", "port_id", "uptime_reporting_start", "uptime_reporting_end", "uptime", "total_outage",
    "total_outage_excl",
]  # fmt: skip
OUTAGE_COLUMNS = [
    "station_id", "port_id", "outage_id", "outage_duration", "excluded_outage", "excluded_outage_reason",
    "excluded_outage_notes",
]  # fmt: skip

_QUARTER = re.compile(r"(\d{4})Q([1-4])")
_ERRORS = {
    SessionOutcome.REFUSED: "authorisation refused",
    SessionOutcome.ERROR_STOP: "stopped with an error",
    SessionOutcome.LOW_ENERGY: "too little energy",
}


def quarter_bounds(text: str) -> tuple[datetime, datetime]:
    """'2026Q4' → [2026-10-01, 2027-01-01) in UTC; ValueError for anything else."""
    match = _QUARTER.fullmatch(text.strip().upper())
    if not match:
        raise ValueError(f"a quarter looks like 2026Q4, not {text!r}")
    year, quarter = int(match[1]), int(match[2])
    start = datetime(year, 3 * quarter - 2, 1, tzinfo=UTC)
    end = datetime(year + 1, 1, 1, tzinfo=UTC) if quarter == 4 else datetime(year, 3 * quarter + 1, 1, tzinfo=UTC)
    return start, end


def _two(value: float | Decimal | None) -> str:
    if value is None:
        return ""
    return str(Decimal(str(value)).quantize(Decimal("0.01"), rounding=ROUND_HALF_UP))


def _local(moment: datetime | None, zone: str) -> str:
    if moment is None:
        return ""
    return moment.astimezone(ZoneInfo(zone or "UTC")).isoformat(timespec="seconds")


def _place(station_identity: str, site_name: str | None, connector_id: int) -> dict:
    return {
        "station_id": site_name or station_identity,
        "port_id": f"{station_identity}-{connector_id}",
        "charger_id": station_identity,
        "connector_id": str(connector_id),
    }


def _peak_kw(session_ids: list[int]) -> dict[int, Decimal]:
    """Highest Power.Active.Import reading per session, in kW (total rows, not per phase)."""
    peaks: dict[int, Decimal] = {}
    rows = (
        MeterSample.objects.filter(
            session_id__in=session_ids, measurand="Power.Active.Import", phase="", numeric_value__isnull=False
        )
        .values("session_id", "unit")
        .annotate(peak=Max("numeric_value"))
        .order_by()
    )
    for row in rows:
        kw = row["peak"] / 1000 if row["unit"] == "W" else row["peak"]
        peaks[row["session_id"]] = max(kw, peaks.get(row["session_id"], kw))
    return peaks


def session_rows(start: datetime, end: datetime) -> list[dict]:
    sessions = list(
        ChargingSession.objects.filter(start_at__gte=start, start_at__lt=end, connector__connector_id__gt=0)
        .annotate(outcome=session_outcome())
        .select_related("station__site", "connector")
        .order_by("start_at", "id")
    )
    peaks = _peak_kw([s.pk for s in sessions])
    extras = session_extras.session_extras(sessions)
    rows = []
    for s in sessions:
        site = s.station.site
        error = _ERRORS.get(s.outcome, "")
        rows.append(
            {
                **_place(s.station.identity, site.name if site else None, s.connector.connector_id),
                "session_id": str(s.pk),
                "session_start": _local(s.start_at, site.time_zone if site else "UTC"),
                "session_end": _local(s.stop_at, site.time_zone if site else "UTC"),
                "session_error": error,
                # The charger's own stop reason says more than our category.
                "error_other": s.stop_reason if s.outcome == SessionOutcome.ERROR_STOP else "",
                "energy_kwh": _two(Decimal(s.energy_wh) / 1000 if s.energy_wh is not None else None),
                "power_kw": _two(peaks.get(s.pk)),
                "payment_method": extras.get(s.pk, {}).get("payment_method") or "",
                "payment_other": extras.get(s.pk, {}).get("payment_other") or "",
            }
        )
    return rows


def uptime_and_outage_rows(start: datetime, end: datetime, now: datetime | None = None) -> tuple[list, list]:
    """Module 3 and 4 rows from one computation, so the outages add up to the totals."""
    stop = min(end, now or timezone.now())
    figures = port_windows_live(start=start, end=stop, with_pieces=True) if stop > start else {}
    ports = {
        c["id"]: c
        for c in Connector.objects.filter(connector_id__gt=0).values(
            "id", "connector_id", "station__identity", "station__site__name"
        )
    }
    uptime, outages = [], []
    for port_id in sorted(figures, key=lambda p: (ports[p]["station__identity"], ports[p]["connector_id"])):
        f, meta = figures[port_id], ports[port_id]
        place = _place(meta["station__identity"], meta["station__site__name"], meta["connector_id"])
        where = {"station_id": place["station_id"], "port_id": place["port_id"]}
        uptime.append(
            {
                **where,
                "uptime_reporting_start": start.isoformat(),
                "uptime_reporting_end": end.isoformat(),
                "uptime": _two(f.uptime_percent),
                "total_outage": _two(f.outage_minutes),
                "total_outage_excl": _two(f.excluded_minutes),
            }
        )
        for piece in f.pieces:
            outages.append(
                {
                    **where,
                    "outage_id": f"{place['port_id']}-{piece.start:%Y%m%dT%H%M%SZ}",
                    "outage_duration": _two(piece.minutes),
                    "excluded_outage": _two(piece.minutes if piece.exclusion else 0),
                    "excluded_outage_reason": piece.exclusion.get_reason_display() if piece.exclusion else "",
                    "excluded_outage_notes": piece.exclusion.notes if piece.exclusion else "",
                }
            )
    return uptime, outages


def evchart_export(*, quarter: str, out: Path, now: datetime | None = None) -> dict[str, int]:
    """Write module2_sessions.csv, module3_uptime.csv and module4_outages.csv for the quarter
    into `out`; returns the number of rows per file."""
    start, end = quarter_bounds(quarter)
    out.mkdir(parents=True, exist_ok=True)
    uptime, outages = uptime_and_outage_rows(start, end, now=now)
    files = {
        f"evchart_{quarter}_module2_sessions.csv": (SESSION_COLUMNS, session_rows(start, end)),
        f"evchart_{quarter}_module3_uptime.csv": (UPTIME_COLUMNS, uptime),
        f"evchart_{quarter}_module4_outages.csv": (OUTAGE_COLUMNS, outages),
    }
    written = {}
    for name, (columns, rows) in files.items():
        with open(out / name, "w", newline="", encoding="utf-8") as handle:
            writer = csv.DictWriter(handle, fieldnames=columns)
            writer.writeheader()
            writer.writerows(rows)
        written[name] = len(rows)
    return written
