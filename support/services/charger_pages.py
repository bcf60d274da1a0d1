"""Chargers' public pages: a short unguessable code per station, its absolute address.

The code is printed as a QR code on the charger, so it is short (10 characters,
50 bits from `secrets`), in an alphabet without look-alikes (Crockford's base32:
no I, L, O or U), and read case-insensitively from the address.
"""

import secrets
from urllib.parse import urljoin

from django.conf import settings
from django.db import IntegrityError, transaction
from django.urls import reverse

from stations.models import ChargingStation
from support.models import ChargerPage

CODE_ALPHABET = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"
CODE_LENGTH = 10


def new_code() -> str:
    return "".join(secrets.choice(CODE_ALPHABET) for _ in range(CODE_LENGTH))


def normalise_code(raw: str) -> str | None:
    """The stored form of a code typed or scanned in any case; None when it cannot be one."""
    code = raw.strip().upper()
    if len(code) != CODE_LENGTH or any(ch not in CODE_ALPHABET for ch in code):
        return None
    return code


def charger_page_create(*, station: ChargingStation) -> ChargerPage:
    """The station's page, created when it has none (a code collision draws again)."""
    existing = ChargerPage.objects.filter(station=station).first()
    if existing:
        return existing
    for _ in range(5):
        try:
            with transaction.atomic():
                return ChargerPage.objects.create(station=station, code=new_code())
        except IntegrityError:
            # Either the station got its page meanwhile or, once in 2**50, the code was taken.
            existing = ChargerPage.objects.filter(station=station).first()
            if existing:
                return existing
    raise RuntimeError("could not draw a free charger page code")


def charger_pages_create_missing(*, stations=None) -> int:
    """Give every station (of `stations`, default all) that lacks a page one; returns how many were made."""
    queryset = ChargingStation.objects.all() if stations is None else stations
    missing = queryset.filter(public_page__isnull=True).order_by("pk")
    made = 0
    for station in missing:
        charger_page_create(station=station)
        made += 1
    return made


def base_url(request=None) -> str:
    """Where drivers reach us: PUBLIC_BASE_URL, or the scheme and host of this request."""
    if settings.PUBLIC_BASE_URL:
        return settings.PUBLIC_BASE_URL.rstrip("/") + "/"
    if request is not None:
        return request.build_absolute_uri("/")
    return "http://127.0.0.1:8000/"


def page_url(code: str, request=None) -> str:
    return urljoin(base_url(request), reverse("charger:page", args=[code]).lstrip("/"))


def short_address(url: str) -> str:
    """The address as printed under a QR code: no scheme, no trailing slash."""
    return url.split("://", 1)[-1].rstrip("/")


def station_public_urls(stations: list, request=None) -> dict[int, str]:
    """{station id: page address} for those with a page: one query for any number of stations."""
    ids = [station.pk for station in stations]
    codes = ChargerPage.objects.filter(station_id__in=ids).values_list("station_id", "code")
    return {station_id: page_url(code, request) for station_id, code in codes}


def demo_charger_pages_seed(*, password: str = "", log=print, **_) -> None:
    """Every demo charger gets its page (and so its QR code)."""
    made = charger_pages_create_missing()
    log(f"charger pages: {made}")


# --- Reports from the page ----------------------------------------------------


def attachment_store(*, message, filename: str, content_type: str, data: bytes):
    """Keep a file the driver sent with a message, under a name safe for any file system."""
    from django.core.files.base import ContentFile

    from support.models import TicketAttachment

    name = safe_filename(filename)
    return TicketAttachment.objects.create(
        message=message,
        file=ContentFile(data, name=name),
        filename=name,
        content_type=content_type[:100],
        size=len(data),
    )


def safe_filename(raw: str) -> str:
    """A plain file name: no folders, no characters a shell or a file system minds, at most 100 characters."""
    import re

    base = raw.replace("\\", "/").rsplit("/", 1)[-1].strip()
    base = re.sub(r"[^A-Za-z0-9._-]+", "_", base).strip("._")
    if not base:
        return "attachment"
    stem, dot, ext = base.rpartition(".")
    if dot and len(ext) <= 10:
        return f"{stem[: 99 - len(ext)]}.{ext}"
    return base[:100]


@transaction.atomic
def charger_page_report(
    *,
    page: ChargerPage,
    category: str,
    description: str,
    connector=None,
    name: str = "",
    email: str = "",
    phone: str = "",
    photo: tuple[str, str, bytes] | None = None,
):
    """A driver's report from the charger's page: a ticket on that charger, with the photo if any.

    `photo` is (file name, content type, bytes), already checked to be an image.
    """
    from support.models import TicketCategory, TicketChannel, TicketPriority

    from .tickets import driver_find_or_create, ticket_create

    requester = driver_find_or_create(name=name, email=email, phone=phone)
    station = page.station
    # A driver whose cable is locked in cannot leave: that is the urgent case.
    priority = {
        TicketCategory.CABLE_STUCK: TicketPriority.P1,
        TicketCategory.WONT_START: TicketPriority.P2,
        TicketCategory.STOPPED_EARLY: TicketPriority.P2,
    }.get(category, TicketPriority.P3)
    label = TicketCategory(category).label
    where = f" (connector {connector.connector_id})" if connector else ""
    ticket = ticket_create(
        channel=TicketChannel.QR_PAGE,
        subject=f"{label}: {station.identity}{where}",
        body=description,
        category=category,
        priority=priority,
        requester=requester,
        station=station,
        connector=connector,
    )
    if photo:
        first = ticket.messages.order_by("id").first()
        attachment_store(message=first, filename=photo[0], content_type=photo[1], data=photo[2])
    return ticket


# --- What a driver may see ----------------------------------------------------------


def driver_status(connector, *, station_online: bool) -> tuple[str, str]:
    """(label, tone) a driver sees for a connector: whether they can charge, never why a charger failed."""
    from stations.models import ConnectorStatus as C

    if not station_online:
        return "Status unknown", "unknown"
    if connector.status == C.AVAILABLE:
        return "Available", "ok"
    if connector.status in (C.PREPARING, C.CHARGING, C.SUSPENDED_EV, C.SUSPENDED_EVSE, C.FINISHING):
        return "In use", "busy"
    if connector.status == C.RESERVED:
        return "Reserved", "busy"
    if connector.status in (C.UNAVAILABLE, C.FAULTED):
        return "Out of order", "down"
    return "Status unknown", "unknown"


def public_view(station: ChargingStation) -> dict:
    """The charger as its public page shows it: one query, whatever the number of connectors."""
    from stations.models import Connector

    online = station.connected and not station.offline
    connectors = []
    for connector in Connector.objects.filter(station=station, connector_id__gt=0).order_by("connector_id"):
        label, tone = driver_status(connector, station_online=online)
        connectors.append({"id": connector.pk, "number": connector.connector_id, "label": label, "tone": tone})
    return {
        "station": station,
        "online": online,
        "connectors": connectors,
        "any_available": any(c["tone"] == "ok" for c in connectors),
    }
