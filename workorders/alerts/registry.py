"""Condition sources other apps provide, so workorders never imports them.

support registers the tickets past their SLA in its AppConfig.ready:

    from workorders.alerts.models import AlertKind
    from workorders.alerts.registry import ExternalCondition, register_condition_source

    register_condition_source(AlertKind.TICKET_SLA, tickets_breaching_sla)

where `tickets_breaching_sla(*, now)` returns ExternalCondition values for the
tickets whose SLA is breached at `now`. A ticket that is no longer listed has
its alert resolved.
"""

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import datetime


@dataclass(frozen=True)
class ExternalCondition:
    subject_key: str  # unique per subject and stable, e.g. "ticket:123"
    subject_label: str  # e.g. "T000123"
    since: datetime  # when the condition began (the SLA's due time)
    summary: str
    station_id: int | None = None  # for the rule's scope and the quiet hours' time zone
    subject_url: str = ""
    details: dict = field(default_factory=dict)


ConditionSource = Callable[..., Iterable[ExternalCondition]]
_sources: dict[str, list[ConditionSource]] = {}


def register_condition_source(kind: str, source: ConditionSource) -> None:
    """Call `source(now=...)` whenever rules of `kind` are evaluated."""
    listed = _sources.setdefault(str(kind), [])
    if source not in listed:
        listed.append(source)


def unregister_condition_source(kind: str, source: ConditionSource) -> None:
    listed = _sources.get(str(kind), [])
    if source in listed:
        listed.remove(source)


def condition_sources(kind: str) -> list[ConditionSource]:
    return list(_sources.get(str(kind), []))
