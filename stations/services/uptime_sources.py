"""Where proposed uptime exclusions come from, without stations knowing those apps.

Workorders registers a source at start-up (AppConfig.ready) that turns a preventive work
order's time on site into a proposed "scheduled maintenance" exclusion. Proposals count only
once an operator confirms them (stations/uptime/exclusions.py).
"""

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import datetime


@dataclass(frozen=True)
class ExclusionProposal:
    key: str  # unique per proposal, e.g. "workorder:42": proposing twice makes one row
    reason: str  # an ExclusionReason value
    source: str  # an ExclusionSource value
    starts_at: datetime
    ends_at: datetime
    station_id: int | None = None
    connector_id: int | None = None
    site_id: int | None = None
    notes: str = ""


ExclusionSourceFn = Callable[[datetime, datetime], Iterable[ExclusionProposal]]
_sources: list[ExclusionSourceFn] = []


def register_exclusion_source(source: ExclusionSourceFn) -> None:
    """`source(start, end)` yields the proposals whose time overlaps [start, end)."""
    if source not in _sources:
        _sources.append(source)


def exclusion_proposals(start: datetime, end: datetime) -> list[ExclusionProposal]:
    return [proposal for source in _sources for proposal in source(start, end)]
