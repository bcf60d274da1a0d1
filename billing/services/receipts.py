"""Receipts: the breakdown of a priced session, mailed once to the account's address."""

import logging

from django.conf import settings
from django.core.mail import EmailMultiAlternatives
from django.db import transaction
from django.template.loader import render_to_string
from django.utils import timezone

from billing.models import SessionBilling

logger = logging.getLogger(__name__)


def receipt_send(*, session_id: int) -> bool:
    """Mail the receipt of a priced session, at most once.

    The session is marked as sent before the mail goes out (after that mark
    commits): a retried or concurrent call finds it marked and sends nothing,
    so a driver never gets two receipts for one session. A mail server that
    refuses unmarks it again. Returns whether it sent one."""
    with transaction.atomic():
        billing = (
            SessionBilling.objects.select_related("account", "session__station", "session__connector")
            .filter(session_id=session_id, status=SessionBilling.Status.PRICED, receipt_sent_at__isnull=True)
            .exclude(account__email="")
            .first()
        )
        if billing is None or billing.account is None:
            return False
        claimed = SessionBilling.objects.filter(pk=billing.pk, receipt_sent_at__isnull=True).update(
            receipt_sent_at=timezone.now()
        )
        if not claimed:
            return False
    try:
        _mail(billing)
    except Exception:
        # Not sent: unmark it, so the caller's retry sends it.
        SessionBilling.objects.filter(pk=billing.pk).update(receipt_sent_at=None)
        raise
    return True


def receipt_after_pricing(*, session_id: int) -> None:
    """Send the receipt once the transaction that priced the session has committed."""
    transaction.on_commit(lambda: receipt_send(session_id=session_id))


def receipt_context(billing: SessionBilling) -> dict:
    session = billing.session
    return {
        "billing": billing,
        "session": session,
        "account": billing.account,
        "lines": billing.lines,
        "energy_kwh": f"{(billing.energy_wh or 0) / 1000:.3f}",
    }


def _mail(billing: SessionBilling) -> None:
    context = receipt_context(billing)
    subject = " ".join(render_to_string("emails/billing/receipt_subject.txt", context).split())
    message = EmailMultiAlternatives(
        subject=subject,
        body=render_to_string("emails/billing/receipt_body.txt", context),
        from_email=settings.DEFAULT_FROM_EMAIL,
        to=[billing.account.email],
    )
    message.attach_alternative(render_to_string("emails/billing/receipt_body.html", context), "text/html")
    message.send()
