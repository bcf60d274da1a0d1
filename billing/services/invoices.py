"""Monthly invoices of postpaid accounts: the month's priced sessions, as a page and a PDF."""

import calendar
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

from django.db import IntegrityError, transaction
from django.db.models import Sum
from fpdf import FPDF

from billing.models import Account, Funding, Invoice, SessionBilling


class InvoiceRefused(ValueError):
    pass


def invoice_number(account: Account, period_start: date) -> str:
    return f"INV-{period_start:%Y%m}-{account.pk:06d}"


def _month(year: int, month: int) -> tuple[date, date]:
    if not (2000 <= year <= 9998 and 1 <= month <= 12):
        raise InvoiceRefused(f"{year}-{month:02d} is not a month we invoice")
    return date(year, month, 1), date(year, month, calendar.monthrange(year, month)[1])


def invoice_issue(*, account: Account, year: int, month: int) -> Invoice | None:
    """Issue the account's invoice for the month (UTC), linking the sessions that stopped
    in it and were priced. Issuing again returns the invoice already issued; a month
    without priced sessions gets none."""
    if account.funding != Funding.POSTPAID:
        raise InvoiceRefused("only postpaid accounts are invoiced")
    first, last = _month(year, month)
    existing = Invoice.objects.filter(account=account, period_start=first).first()
    if existing is not None:
        return existing
    start = datetime.combine(first, datetime.min.time(), tzinfo=UTC)
    end = datetime.combine(last + timedelta(days=1), datetime.min.time(), tzinfo=UTC)
    try:
        with transaction.atomic():
            billings = SessionBilling.objects.select_for_update().filter(
                account=account,
                status=SessionBilling.Status.PRICED,
                invoice__isnull=True,
                session__stop_at__gte=start,
                session__stop_at__lt=end,
            )
            ids = list(billings.values_list("pk", flat=True))
            if not ids:
                return None
            sums = SessionBilling.objects.filter(pk__in=ids).aggregate(
                net=Sum("net"), tax=Sum("tax"), total=Sum("total")
            )
            invoice = Invoice.objects.create(
                account=account,
                number=invoice_number(account, first),
                period_start=first,
                period_end=last,
                currency=account.currency,
                net=sums["net"] or Decimal(0),
                tax=sums["tax"] or Decimal(0),
                total=sums["total"] or Decimal(0),
            )
            SessionBilling.objects.filter(pk__in=ids).update(invoice=invoice)
    except IntegrityError:
        # Issued at the same moment by another process.
        return Invoice.objects.get(account=account, period_start=first)
    return invoice


def invoices_issue_month(*, year: int, month: int) -> list[Invoice]:
    """Every postpaid account's invoice for the month (those with priced sessions)."""
    issued = []
    for account in Account.objects.filter(funding=Funding.POSTPAID).order_by("pk"):
        invoice = invoice_issue(account=account, year=year, month=month)
        if invoice is not None:
            issued.append(invoice)
    return issued


def invoice_sessions(invoice: Invoice):
    return (
        SessionBilling.objects.filter(invoice=invoice)
        .select_related("session__station", "session__connector")
        .order_by("session__stop_at", "session_id")
    )


def _text(value) -> str:
    # The PDF's built-in fonts hold Latin-1 only; names come from people.
    return str(value).encode("latin-1", "replace").decode("latin-1")


def invoice_pdf(invoice: Invoice) -> bytes:
    account = invoice.account
    pdf = FPDF(format="A4")
    pdf.set_title(_text(f"Invoice {invoice.number}"))
    pdf.add_page()
    pdf.set_font("Helvetica", "B", 16)
    pdf.cell(0, 10, _text(f"Invoice {invoice.number}"), new_x="LMARGIN", new_y="NEXT")
    pdf.set_font("Helvetica", size=10)
    for text in (
        f"Account: {account.name}",
        f"Period: {invoice.period_start:%Y-%m-%d} to {invoice.period_end:%Y-%m-%d}",
        f"Issued: {invoice.issued_at:%Y-%m-%d}",
    ):
        pdf.cell(0, 6, _text(text), new_x="LMARGIN", new_y="NEXT")
    pdf.ln(4)
    widths = (22, 40, 40, 28, 40)
    pdf.set_font("Helvetica", "B", 10)
    for width, title in zip(widths, ("Session", "Station", "Ended (UTC)", "kWh", "Total"), strict=True):
        pdf.cell(width, 7, title, border="B")
    pdf.ln()
    pdf.set_font("Helvetica", size=10)
    for billing in invoice_sessions(invoice):
        session = billing.session
        cells = (
            str(session.pk),
            f"{session.station.identity}/{session.connector.connector_id}",
            f"{session.stop_at:%Y-%m-%d %H:%M}",
            f"{(billing.energy_wh or 0) / 1000:.3f}",
            f"{billing.total} {billing.currency}",
        )
        for width, text in zip(widths, cells, strict=True):
            pdf.cell(width, 6, _text(text))
        pdf.ln()
    pdf.ln(4)
    for label, amount, style in (("Net", invoice.net, ""), ("Tax", invoice.tax, ""), ("Total", invoice.total, "B")):
        pdf.set_font("Helvetica", style, 11)
        pdf.cell(130, 7, label)
        pdf.cell(40, 7, _text(f"{amount} {invoice.currency}"), new_x="LMARGIN", new_y="NEXT")
    return bytes(pdf.output())
