"""Write a quarter's EV-ChART upload files (modules 2, 3 and 4) as CSV."""

from pathlib import Path

from django.core.management.base import BaseCommand, CommandError

from stations.uptime import evchart


class Command(BaseCommand):
    help = "Write EV-ChART module 2 (sessions), 3 (uptime) and 4 (outages) CSV files for a quarter."

    def add_arguments(self, parser):
        parser.add_argument("--quarter", required=True, help="e.g. 2026Q4 (UTC quarter)")
        parser.add_argument("--out", required=True, type=Path, help="directory for the files")

    def handle(self, *args, quarter: str, out: Path, **options):
        try:
            evchart.quarter_bounds(quarter)
        except ValueError as exc:
            raise CommandError(str(exc)) from None
        for name, rows in evchart.evchart_export(quarter=quarter.upper(), out=out).items():
            self.stdout.write(f"{out / name}: {rows} rows")
