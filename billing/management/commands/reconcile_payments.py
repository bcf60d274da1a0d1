"""Print the sessions whose payments do not add up; exit 1 when there are any (for cron and monitoring)."""

from datetime import timedelta

from django.core.management.base import BaseCommand, CommandError
from django.utils import timezone

from billing.reconciliation import reconciliation_billings, reconciliation_csv, reconciliation_rows


class Command(BaseCommand):
    help = "Compare billed sessions' payments with the provider's records and print the mismatches."

    def add_arguments(self, parser):
        parser.add_argument("--days", type=int, default=7, help="sessions started in the last N days (default 7)")
        parser.add_argument("--offline", action="store_true", help="check our own figures only, ask no provider")
        parser.add_argument("--csv", action="store_true", help="print every mismatch as CSV")

    def handle(self, *args, days: int, offline: bool, csv: bool, **options):
        if days < 1:
            raise CommandError("--days must be at least 1")
        since = timezone.now() - timedelta(days=days)
        rows = reconciliation_rows(reconciliation_billings(since=since), ask_provider=not offline)
        mismatches = [row for row in rows if row.mismatch]
        if csv:
            reconciliation_csv(mismatches, self.stdout)
        else:
            for row in mismatches:
                self.stdout.write(
                    f"session {row.session_id} ({row.account}): price {row.price} {row.currency}, "
                    f"captured {row.captured}, refunded {row.refunded}, outstanding {row.outstanding}, "
                    f"ours {row.status or '-'}, provider {row.provider_status or '-'}: {row.reason}"
                )
        self.stderr.write(f"{len(rows)} sessions checked, {len(mismatches)} mismatches")
        if mismatches:
            raise CommandError(f"{len(mismatches)} mismatches", returncode=1)
