import re

from django.core.management.base import BaseCommand, CommandError

from billing.services.invoices import InvoiceRefused, invoices_issue_month


class Command(BaseCommand):
    help = "Issue the monthly invoices of postpaid accounts (sessions priced and stopped in that month, UTC)."

    def add_arguments(self, parser):
        parser.add_argument("--month", required=True, help="YYYY-MM")

    def handle(self, *args, month: str, **options):
        match = re.fullmatch(r"(\d{4})-(\d{2})", month.strip())
        if not match:
            raise CommandError("--month takes YYYY-MM, e.g. 2026-11")
        try:
            invoices = invoices_issue_month(year=int(match[1]), month=int(match[2]))
        except InvoiceRefused as exc:
            raise CommandError(str(exc)) from None
        for invoice in invoices:
            self.stdout.write(f"{invoice.number} {invoice.account.name}: {invoice.total} {invoice.currency}")
        self.stdout.write(f"{len(invoices)} invoice(s) for {month}")
