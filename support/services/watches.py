"""Tell me when it's available: a driver leaves an email at a busy or broken charger.

The watch is kept for SUPPORT_WATCH_HOURS; the first status report that shows a
connector (the one asked about, or any) Available sends one mail. A watch is
claimed by compare-and-swap before the mail goes out, so two workers handling
two reports of the same moment never both send; a failed send gives the claim
back for the retry.
"""

from datetime import timedelta

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.mail import send_mail
from django.core.validators import validate_email
from django.db import IntegrityError, transaction
from django.template.loader import render_to_string
from django.utils import timezone

from stations.models import ChargingStation, Connector, ConnectorStatus, StatusEvent
from support.models import AvailabilityWatch

from .charger_pages import public_view
from .tickets import TicketRefused


def availability_watch_create(*, station: ChargingStation, email: str, connector: Connector | None = None):
    """A pending watch for this email on this station (the one already pending, if any)."""
    email = email.strip().lower()
    try:
        validate_email(email)
    except ValidationError:
        raise TicketRefused("enter a valid email address") from None
    if len(email) > 254:
        raise TicketRefused("the email address is too long")
    if public_view(station)["any_available"]:
        raise TicketRefused("a connector of this charger is available now")
    now = timezone.now()
    expires_at = now + timedelta(hours=settings.SUPPORT_WATCH_HOURS)
    try:
        with transaction.atomic():
            return AvailabilityWatch.objects.create(
                station=station, connector=connector, email=email, expires_at=expires_at
            )
    except IntegrityError:
        # Asked twice: one pending watch, its time renewed.
        watch = AvailabilityWatch.objects.get(station=station, email=email, notified_at__isnull=True)
        AvailabilityWatch.objects.filter(pk=watch.pk).update(expires_at=expires_at, connector=connector)
        return watch


def status_event_handle(*, event_id: int) -> int:
    """Tell every pending watch of the event's station that it is available; returns how many were told."""
    event = StatusEvent.objects.select_related("station", "connector").filter(pk=event_id).first()
    if event is None or event.status != ConnectorStatus.AVAILABLE or event.connector.connector_id == 0:
        return 0
    now = timezone.now()
    watches = AvailabilityWatch.objects.filter(
        station=event.station, notified_at__isnull=True, expires_at__gt=now
    ).filter(connector__isnull=True) | AvailabilityWatch.objects.filter(
        station=event.station, notified_at__isnull=True, expires_at__gt=now, connector=event.connector
    )
    told = 0
    for watch in watches.order_by("id"):
        if availability_watch_notify(watch=watch, connector=event.connector, now=now):
            told += 1
    return told


def availability_watch_notify(*, watch: AvailabilityWatch, connector: Connector, now=None) -> bool:
    """Claim the watch, then mail; False when another report got there first."""
    now = now or timezone.now()
    if not AvailabilityWatch.objects.filter(pk=watch.pk, notified_at__isnull=True).update(notified_at=now):
        return False
    context = {"station": watch.station, "connector": connector, "watch": watch}
    try:
        send_mail(
            subject=render_to_string("support/public/emails/available_subject.txt", context).strip(),
            message=render_to_string("support/public/emails/available_body.txt", context),
            from_email=None,
            recipient_list=[watch.email],
        )
    except Exception:
        AvailabilityWatch.objects.filter(pk=watch.pk, notified_at=now).update(notified_at=None)
        raise
    return True
