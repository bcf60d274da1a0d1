"""Reads for the agent's console: the queue, the ticket beside its charger, the driver.

Each function runs a fixed number of queries, whatever the number of tickets,
messages or sessions there are (the pages pin it with django_assert_num_queries).
"""

import re
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from decimal import Decimal

from django.db.models import Prefetch, Q, QuerySet
from django.utils import timezone

from billing.models import Payment
from stations.models import (
    ChargePointErrorCode,
    ChargingSession,
    ChargingStation,
    Connector,
    FrameDirection,
    FrameLog,
    IdTag,
    IdTagStatus,
    Site,
)
from stations.selectors import frames_with_preview
from stations.services.authorisation import id_tag_info, tag_rules_info
from support.models import (
    OPEN_TICKET_STATUSES,
    Driver,
    Macro,
    Ticket,
    TicketAction,
    TicketEvent,
    TicketMessage,
    TicketStatus,
)
from support.services import chat, sla
from workorders.models import ErrorCode, Incident, IncidentStatus, WorkOrder, WorkOrderStatus

RECENT_FRAMES = 15
RECENT_SESSIONS = 10
RECENT_ATTEMPTS = 10
# Authorize frames are looked for this far back: the attempts that matter to today's call.
ATTEMPTS_WINDOW = timedelta(days=7)
MAX_TAGS = 10
TIMELINE_LIMIT = 100


# --- The queue -----------------------------------------------------------------------


def ticket_queue(*, user, filters: dict, now: datetime) -> QuerySet[Ticket]:
    """Tickets for the queue, most urgent first; open ones unless a status is asked for.

    `filters`: mine, unassigned, breaching (breached or due soon), channel,
    category, site (id), status ("all" for every status), q (reference or subject).
    """
    qs = Ticket.objects.select_related("requester", "assignee", "station__site").only(
        "id", "subject", "channel", "category", "status", "priority", "created_at", "updated_at",
        "first_response_at", "first_response_due_at", "resolution_due_at", "sla_paused_at",
        "resolved_at", "closed_at", "tags",
        "requester__id", "requester__name", "requester__email", "requester__phone",
        "assignee__id", "assignee__username", "assignee__first_name", "assignee__last_name",
        "station__id", "station__identity", "station__site__id", "station__site__name",
    )  # fmt: skip
    status = filters.get("status") or ""
    if status == "all":
        pass
    elif status in TicketStatus.values:
        qs = qs.filter(status=status)
    else:
        qs = qs.filter(status__in=OPEN_TICKET_STATUSES)
    if filters.get("mine"):
        qs = qs.filter(assignee=user)
    if filters.get("unassigned"):
        qs = qs.filter(assignee__isnull=True)
    if filters.get("breaching"):
        qs = qs.filter(sla.breaching_q(now))
    for name in ("channel", "category"):
        if value := filters.get(name):
            qs = qs.filter(**{name: value})
    if site := filters.get("site"):
        qs = qs.filter(station__site_id=site)
    if q := (filters.get("q") or "").strip():
        match = re.fullmatch(r"[Tt]-?0*(\d{1,12})", q)
        qs = qs.filter(pk=int(match.group(1))) if match else qs.filter(subject__icontains=q)
    # Most urgent first: the soonest resolution due (tickets without an SLA last).
    return qs.order_by("resolution_due_at", "-created_at", "-id")


def queue_sites() -> list[Site]:
    return list(Site.objects.only("id", "name").order_by("name")[:500])


# --- The ticket page -----------------------------------------------------------------


def ticket_for_page(pk: int) -> Ticket | None:
    return (
        Ticket.objects.select_related(
            "requester",
            "assignee",
            "team",
            "station__site",
            "connector",
            "session",
            "incident",
            "work_order",
            "merged_into",
        )  # fmt: skip
        .filter(pk=pk)
        .first()
    )


def ticket_conversation(ticket: Ticket) -> list[TicketMessage]:
    return list(
        TicketMessage.objects.filter(ticket=ticket)
        .select_related("author")
        .prefetch_related("attachments")
        .order_by("created_at", "id")
    )


def ticket_for_driver(pk: int) -> Ticket | None:
    """A ticket as its driver may see it: `public_messages` holds their messages and our
    public replies, never internal notes or system rows. Two queries."""
    public = TicketMessage.objects.filter(kind__in=chat.PUBLIC_KINDS).order_by("created_at", "id")
    return (
        Ticket.objects.select_related("station", "connector")
        .prefetch_related(Prefetch("messages", queryset=public, to_attr="public_messages"))
        .filter(pk=pk)
        .first()
    )


def ticket_timeline(ticket: Ticket) -> list[TicketEvent]:
    events = TicketEvent.objects.filter(ticket=ticket).select_related("by").order_by("-at", "-id")
    return list(events[:TIMELINE_LIMIT])


def ticket_actions(ticket: Ticket) -> list[TicketAction]:
    return list(
        TicketAction.objects.filter(ticket=ticket)
        .select_related("command", "refund", "by")
        .order_by("-created_at", "-id")[:50]
    )


@dataclass
class ConnectorView:
    connector: Connector
    meaning: str = ""

    @property
    def has_error(self) -> bool:
        c = self.connector
        return c.error_code not in ("", ChargePointErrorCode.NO_ERROR) or bool(c.vendor_error_code)


@dataclass
class ChargerLive:
    station: ChargingStation | None
    connectors: list[ConnectorView] = field(default_factory=list)
    frames: list[FrameLog] = field(default_factory=list)
    incident: Incident | None = None
    work_order: WorkOrder | None = None


def _playbook_meanings(station: ChargingStation, connectors: list[Connector]) -> dict[int, str]:
    """Each faulted connector's playbook meaning, in one query (the playbook's precedence:
    the vendor's own code, any vendor's code, the OCPP errorCode)."""
    wanted: dict[int, list[tuple[str, str]]] = {}
    for c in connectors:
        candidates = []
        if c.vendor_error_code:
            if station.vendor:
                candidates.append((station.vendor, c.vendor_error_code))
            candidates.append(("", c.vendor_error_code))
        if c.error_code and c.error_code != ChargePointErrorCode.NO_ERROR:
            candidates.append(("", c.error_code))
        if candidates:
            wanted[c.pk] = candidates
    if not wanted:
        return {}
    match = Q()
    for pairs in wanted.values():
        for vendor, code in pairs:
            match |= Q(vendor=vendor, code=code)
    found = {(e.vendor, e.code): e.meaning for e in ErrorCode.objects.filter(match).only("vendor", "code", "meaning")}
    return {pk: next((found[p] for p in pairs if p in found), "") for pk, pairs in wanted.items()}


def charger_live(ticket: Ticket) -> ChargerLive:
    """The ticket's charger as it is now: connectors with their error's meaning, its last
    frames (previews only), its open incident and work order."""
    station = ticket.station
    if station is None:
        return ChargerLive(station=None)
    connectors = list(Connector.objects.filter(station=station).order_by("connector_id"))
    meanings = _playbook_meanings(station, connectors)
    frames = list(
        frames_with_preview(FrameLog.objects.filter(station=station)).order_by("-created_at", "-id")[:RECENT_FRAMES]
    )
    incident = ticket.incident if ticket.incident_id and ticket.incident.status != IncidentStatus.CLOSED else None
    if incident is None:
        incidents = Incident.objects.filter(station=station).exclude(status=IncidentStatus.CLOSED)
        # The ticket's own connector first, then the whole station's (connector 0), then any.
        incident = incidents.select_related("connector", "playbook").order_by("-opened_at").first()
    work_order = ticket.work_order
    if work_order is None or work_order.status in (WorkOrderStatus.CLOSED, WorkOrderStatus.CANCELLED):
        work_order = (
            WorkOrder.objects.filter(station=station)
            .exclude(status__in=[WorkOrderStatus.CLOSED, WorkOrderStatus.CANCELLED, WorkOrderStatus.VERIFIED])
            .order_by("-created_at")
            .first()
        )
    return ChargerLive(
        station=station,
        connectors=[ConnectorView(c, meanings.get(c.pk, "")) for c in connectors],
        frames=frames,
        incident=incident,
        work_order=work_order,
    )


def _ticket_connector(ticket: Ticket, live: ChargerLive) -> Connector | None:
    """The connector the ticket is about: its own, else the charger's only one."""
    views = [v for v in live.connectors if v.connector.connector_id != 0]
    if ticket.connector_id:
        own = [v for v in views if v.connector.pk == ticket.connector_id]
        if own:
            return own[0].connector
    return views[0].connector if len(views) == 1 else None


def ticket_connector_status(ticket: Ticket, live: ChargerLive) -> str | None:
    """The status the troubleshooting steps go by (None: not known which connector)."""
    connector = _ticket_connector(ticket, live)
    return connector.status if connector else None


def ticket_target_connector(ticket: Ticket, live: ChargerLive) -> int | None:
    connector = _ticket_connector(ticket, live)
    return connector.connector_id if connector else None


# --- The driver ------------------------------------------------------------------------


class TagVerdict:
    """A tag's status as OCPP would answer it now, and why, in words."""

    def __init__(self, id_tag: str, tag: IdTag | None, info: dict, now: datetime):
        self.id_tag = id_tag
        self.tag = tag
        self.status = info.get("status", IdTagStatus.INVALID)
        self.accepted = self.status == IdTagStatus.ACCEPTED
        self.reason = self._reason(tag, now)

    def _reason(self, tag: IdTag | None, now: datetime) -> str:
        if self.accepted:
            return "accepted"
        if tag is None:
            return "unknown tag: no such ID tag is registered"
        own = tag_rules_info(tag, now=now)["status"]
        if tag.status == IdTagStatus.BLOCKED:
            return "blocked" + (f": {tag.note}" if tag.note else "")
        if own == IdTagStatus.EXPIRED:
            return f"expired on {timezone.localtime(tag.expiry_date):%d %b %Y}"
        if tag.status == IdTagStatus.INVALID:
            return "invalid" + (f": {tag.note}" if tag.note else "")
        if self.status == IdTagStatus.CONCURRENT_TX:
            return "already charging elsewhere (one session at a time on this account)"
        if own == IdTagStatus.ACCEPTED and self.status == IdTagStatus.BLOCKED:
            return "the account behind it is blocked, out of credit or has no card"
        if own == IdTagStatus.ACCEPTED and self.status == IdTagStatus.INVALID:
            return "the account behind it is closed"
        return str(self.status)


def tag_verdicts(id_tags: list[str], *, now: datetime | None = None) -> list[TagVerdict]:
    """A query or a few per tag (the registered authoriser's); the tags are bounded by MAX_TAGS."""
    now = now or timezone.now()
    id_tags = id_tags[:MAX_TAGS]
    rows = {t.id_tag: t for t in IdTag.objects.filter(id_tag__in=id_tags)}
    return [TagVerdict(t, rows.get(t), id_tag_info(id_tag=t, now=now), now) for t in id_tags]


def driver_tags(driver: Driver | None) -> list[str]:
    if driver is None:
        return []
    return list(driver.id_tags.order_by("id_tag").values_list("id_tag", flat=True)[:MAX_TAGS])


def driver_sessions(id_tags: list[str], *, limit: int = RECENT_SESSIONS) -> list[ChargingSession]:
    """The tags' recent sessions with their station, billing (price) and payment."""
    if not id_tags:
        return []
    sessions = list(
        ChargingSession.objects.filter(id_tag__in=id_tags)
        .select_related("station", "connector", "billing")
        .order_by("-start_at", "-id")[:limit]
    )
    payments = {p.session_id: p for p in Payment.objects.filter(session__in=[s.pk for s in sessions])}
    for s in sessions:
        s.support_payment = payments.get(s.pk)
        billing = s.billing if hasattr(s, "billing") else None  # no SessionBilling row: not priced
        s.support_price = billing.total if billing is not None and billing.total is not None else None
        s.support_currency = billing.currency if billing is not None else ""
    return sessions


@dataclass
class Attempt:
    frame: FrameLog
    answer: FrameLog | None
    id_tag: str

    @property
    def answered_status(self) -> str:
        if self.answer is None:
            return ""
        match = re.search(r'"status"\s*:\s*"(\w+)"', self.answer.raw_preview or "")
        return match.group(1) if match else ""


def authorisation_attempts(id_tags: list[str], *, now: datetime | None = None) -> list[Attempt]:
    """The tags' recent Authorize frames (any charger) with our answer: two queries."""
    if not id_tags:
        return []
    now = now or timezone.now()
    match = Q()
    for tag in id_tags[:MAX_TAGS]:
        match |= Q(raw__contains=f'"{tag}"')
    frames = list(
        frames_with_preview(
            FrameLog.objects.filter(
                match, action="Authorize", direction=FrameDirection.IN, created_at__gte=now - ATTEMPTS_WINDOW
            )
        )
        .select_related("station")
        .order_by("-created_at", "-id")[:RECENT_ATTEMPTS]
    )
    answers: dict = {}
    if frames:
        keys = Q()
        for f in frames:
            keys |= Q(station_id=f.station_id, unique_id=f.unique_id)
        answers = {
            (a.station_id, a.unique_id): a
            for a in frames_with_preview(
                FrameLog.objects.filter(keys, direction=FrameDirection.OUT, message_type=3)
            ).order_by("created_at")
        }
    result = []
    for f in frames:
        tag = next((t for t in id_tags if f'"{t}"' in (f.raw_preview or "")), "")
        result.append(Attempt(frame=f, answer=answers.get((f.station_id, f.unique_id)), id_tag=tag))
    return result


# --- Macros ---------------------------------------------------------------------------------

PLACEHOLDER = re.compile(r"\{(driver_name|charger|ticket|energy_kwh|price)\}")


def macro_values(ticket: Ticket, sessions: list[ChargingSession] | None = None) -> dict[str, str]:
    """What the placeholders of a macro stand for on this ticket. The session is the
    ticket's own, else the driver's latest at this charger, else the driver's latest."""
    driver = ticket.requester
    session = None
    candidates = sessions or []
    if ticket.session_id:
        session = next((s for s in candidates if s.pk == ticket.session_id), None)
    if session is None and ticket.station_id:
        session = next((s for s in candidates if s.station_id == ticket.station_id), None)
    if session is None and candidates:
        session = candidates[0]
    energy = ""
    price = ""
    if session is not None:
        wh = session.energy_wh
        if wh is None and session.meter_stop is not None:
            wh = session.meter_stop - session.meter_start
        if wh is not None:
            energy = f"{Decimal(wh) / 1000:.2f}"
        if getattr(session, "support_price", None) is not None:
            price = f"{session.support_price} {session.support_currency}".strip()
    return {
        "driver_name": (driver.name if driver and driver.name else "there"),
        "charger": ticket.station.identity if ticket.station_id else "",
        "ticket": ticket.reference,
        "energy_kwh": energy,
        "price": price,
    }


def macro_render(body: str, values: dict[str, str]) -> str:
    """Fill the known placeholders; anything else in braces stays as written."""
    return PLACEHOLDER.sub(lambda m: values.get(m.group(1), m.group(0)), body)


def macros_for(ticket: Ticket) -> list[Macro]:
    return list(
        Macro.objects.filter(active=True)
        .filter(Q(category="") | Q(category=ticket.category))
        .only("id", "name", "body", "category")
        .order_by("name")
    )


# --- Finding a driver -------------------------------------------------------------------------


@dataclass
class DriverMatch:
    driver: Driver | None
    tags: list[TagVerdict]
    tickets: list[Ticket]
    via: str


@dataclass
class SearchResult:
    query: str
    drivers: list[DriverMatch] = field(default_factory=list)
    station: ChargingStation | None = None
    station_tickets: list[Ticket] = field(default_factory=list)
    session: ChargingSession | None = None

    @property
    def empty(self) -> bool:
        return not self.drivers and self.station is None and self.session is None


MAX_DRIVERS = 20


def driver_search(query: str, *, now: datetime | None = None) -> SearchResult:
    """Drivers by ID tag, email, phone or transaction id; a charger by its identity.

    A tag no driver record names is still shown, with why it is refused.
    """
    now = now or timezone.now()
    q = query.strip()
    result = SearchResult(query=q)
    if not q:
        return result
    drivers: dict[int, str] = {}
    loose_tags: list[str] = []
    tag = IdTag.objects.filter(id_tag__iexact=q).first()
    if tag is not None:
        found = list(Driver.objects.filter(id_tags=tag).values_list("pk", flat=True)[:MAX_DRIVERS])
        drivers.update({pk: "ID tag" for pk in found})
        if not found:
            loose_tags.append(tag.id_tag)
    if "@" in q:
        for pk in Driver.objects.filter(email__iexact=q).values_list("pk", flat=True)[:MAX_DRIVERS]:
            drivers.setdefault(pk, "email")
    digits = re.sub(r"[\s\-()]", "", q)
    if re.fullmatch(r"\+?\d{4,20}", digits):
        for pk in Driver.objects.filter(Q(phone=q) | Q(phone=digits)).values_list("pk", flat=True)[:MAX_DRIVERS]:
            drivers.setdefault(pk, "phone")
    if q.isdigit() and len(q) <= 12:
        session = ChargingSession.objects.select_related("station").filter(pk=int(q)).first()
        if session is not None:
            result.session = session
            by_tag = list(Driver.objects.filter(id_tags__id_tag=session.id_tag).values_list("pk", flat=True)[:5])
            for pk in by_tag:
                drivers.setdefault(pk, f"transaction {session.pk}")
            if not by_tag and session.id_tag not in loose_tags:
                loose_tags.append(session.id_tag)
    station = ChargingStation.objects.select_related("site").filter(identity__iexact=q).first()
    if station is not None:
        result.station = station
        result.station_tickets = list(
            Ticket.objects.filter(station=station).select_related("requester").order_by("-created_at")[:20]
        )
    if drivers:
        rows = Driver.objects.filter(pk__in=list(drivers)[:MAX_DRIVERS]).prefetch_related(
            Prefetch("id_tags", queryset=IdTag.objects.order_by("id_tag")),
            Prefetch("tickets", queryset=Ticket.objects.order_by("-created_at")),
        )
        for driver in rows:
            verdicts = tag_verdicts([t.id_tag for t in driver.id_tags.all()], now=now)
            result.drivers.append(DriverMatch(driver, verdicts, list(driver.tickets.all())[:20], drivers[driver.pk]))
    for loose in loose_tags:
        result.drivers.append(DriverMatch(None, tag_verdicts([loose], now=now), [], "ID tag (no driver record)"))
    return result
