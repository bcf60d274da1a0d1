"""Billing a charging session: its account and tariff at the start, its price at the stop.

A session with flagged meter readings is never priced blindly: it waits in
the review queue until an operator accepts an energy figure with a note.
"""

from dataclasses import dataclass
from datetime import datetime

from django.db import transaction
from django.utils import timezone

from billing.models import AccountTag, SessionBilling
from billing.selectors import session_usage
from stations.models import ChargingSession

from . import ledger, tariffs
from .pricing import Price, price


def _account_for_tag(id_tag: str):
    link = AccountTag.objects.select_related("account").filter(id_tag__id_tag=id_tag).first()
    if link is None:
        # A child tag charges to its parent's account.
        link = AccountTag.objects.select_related("account").filter(id_tag__children__id_tag=id_tag).first()
    return link.account if link else None


def session_billing_open(*, session_id: int) -> SessionBilling | None:
    """At the start: the account the tag charges to and the tariff version the session keeps."""
    session = ChargingSession.objects.select_related("connector__station__site").filter(pk=session_id).first()
    if session is None:
        return None
    account = _account_for_tag(session.id_tag)
    version = tariffs.tariff_version_for(connector=session.connector, at=session.start_at)
    billing, _ = SessionBilling.objects.get_or_create(
        session=session,
        defaults={
            "account": account,
            "tariff_version": version,
            "currency": version.tariff.currency if version else "",
            "status": SessionBilling.Status.RUNNING,
        },
    )
    return billing


def _time_zone(session: ChargingSession) -> str:
    site = session.connector.station.site if session.connector_id else None
    return site.time_zone if site else "UTC"


def session_cost(session: ChargingSession, billing: SessionBilling, *, until: datetime | None = None) -> Price | None:
    """The price by the session's tariff version, so far (running) or final. The same
    function prices both, so the live cost and the final price never disagree."""
    if billing.tariff_version is None:
        return None
    usage = session_usage(session, until=until or timezone.now(), energy_wh=billing.reviewed_energy_wh)
    terms = tariffs.terms_of(billing.tariff_version, time_zone=_time_zone(session))
    return price(terms, usage)


@dataclass(frozen=True)
class PricingOutcome:
    billing: SessionBilling
    priced_now: bool


def session_price(*, session_id: int, by=None) -> PricingOutcome | None:
    """At the stop: price the session and post what the account owes, once."""
    with transaction.atomic():
        session = ChargingSession.objects.select_related("connector__station__site").filter(pk=session_id).first()
        if session is None or session.stop_at is None:
            return None
        billing = SessionBilling.objects.select_for_update().filter(session=session).first()
        if billing is None:
            billing = session_billing_open(session_id=session_id)
            billing = SessionBilling.objects.select_for_update().get(pk=billing.pk)
        if billing.status == SessionBilling.Status.PRICED:
            return PricingOutcome(billing, priced_now=False)
        if session.meter_flags and billing.reviewed_energy_wh is None:
            billing.status = SessionBilling.Status.REVIEW
            billing.save(update_fields=["status"])
            return PricingOutcome(billing, priced_now=False)
        if billing.account is None or billing.tariff_version is None:
            billing.status = SessionBilling.Status.FREE
            billing.priced_at = timezone.now()
            billing.save(update_fields=["status", "priced_at"])
            return PricingOutcome(billing, priced_now=False)
        result = session_cost(session, billing, until=session.stop_at)
        billing.lines = result.lines_json()
        billing.net, billing.tax, billing.total = result.net, result.tax, result.total
        billing.energy_wh = int(result.energy_wh)
        billing.status = SessionBilling.Status.PRICED
        billing.priced_at = timezone.now()
        billing.save()
        if result.total:
            ledger.posting_create(
                kind="session_priced",
                currency=result.currency,
                entries=[
                    (ledger.receivable(billing.account), result.total),
                    (ledger.REVENUE, -result.net),
                    (ledger.TAX, -result.tax),
                ],
                memo=f"transaction {session.pk}",
                session_id=session.pk,
                account=billing.account,
                by=by,
            )
    return PricingOutcome(billing, priced_now=True)


class ReviewRefused(ValueError):
    pass


def session_review_accept(*, session_id: int, energy_wh: int, note: str, by) -> PricingOutcome:
    """An operator accepts an energy figure for a session whose readings were flagged; it is then priced."""
    if energy_wh < 0 or energy_wh > 10_000_000:
        raise ReviewRefused("energy must be between 0 and 10,000,000 Wh")
    if not note.strip():
        raise ReviewRefused("say why this energy is right")
    with transaction.atomic():
        billing = SessionBilling.objects.select_for_update().filter(session_id=session_id).first()
        if billing is None or billing.status != SessionBilling.Status.REVIEW:
            raise ReviewRefused("this session is not waiting for a review")
        billing.reviewed_energy_wh = energy_wh
        billing.review_note = note.strip()[:2000]
        billing.reviewed_by = by
        billing.reviewed_at = timezone.now()
        billing.save(update_fields=["reviewed_energy_wh", "review_note", "reviewed_by", "reviewed_at"])
    return session_price(session_id=session_id, by=by)
