"""Recompute the daily uptime roll-ups of past days (after history or exclusions changed)."""

from datetime import date, timedelta

from django.core.management.base import BaseCommand, CommandError
from django.utils import timezone

from stations.uptime import rollup


def _day(text: str) -> date:
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise CommandError(f"a day looks like 2026-10-05, not {text!r}") from None


class Command(BaseCommand):
    help = "Roll up uptime per port for one day (--date) or a range (--from/--to, inclusive); default yesterday."

    def add_arguments(self, parser):
        parser.add_argument("--date", dest="day")
        parser.add_argument("--from", dest="first")
        parser.add_argument("--to", dest="last")

    def handle(self, *args, day=None, first=None, last=None, **options):
        if day and (first or last):
            raise CommandError("give --date or --from/--to, not both")
        yesterday = timezone.now().date() - timedelta(days=1)
        if day:
            first = last = _day(day)
        else:
            first = _day(first) if first else yesterday
            last = _day(last) if last else max(first, yesterday)
        if last < first:
            raise CommandError("--to comes before --from")
        for when, ports in rollup.uptime_rollup_days(first=first, last=last).items():
            self.stdout.write(f"{when}: " + (f"{ports} ports" if ports is not None else "not over yet, left live"))
