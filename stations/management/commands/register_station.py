"""Register charging stations so they can connect over OCPP."""

import sys

from django.core.management.base import BaseCommand, CommandError

from stations.services import registration


class Command(BaseCommand):
    help = (
        "Register a station: IDENTITY [--password P] [--site NAME]. Without --password a strong one is "
        "generated and printed once. --from-file F registers many from lines 'IDENTITY PASSWORD' ('-' reads stdin)."
    )

    def add_arguments(self, parser):
        parser.add_argument("identity", nargs="?")
        parser.add_argument("--password", help="16 to 40 printable characters; generated when omitted")
        parser.add_argument("--site", help="site name; created when it does not exist")
        parser.add_argument("--from-file", dest="from_file", help="file of 'IDENTITY PASSWORD' lines")

    def handle(self, *args, identity=None, password=None, site=None, from_file=None, **options):
        if bool(identity) == bool(from_file):
            raise CommandError("give either IDENTITY or --from-file")
        try:
            if from_file:
                entries = self._read_entries(from_file)
                created, updated = registration.stations_register_bulk(entries=entries, site_name=site)
                self.stdout.write(f"{created} stations registered, {updated} updated")
                return
            result = registration.station_register(identity=identity, password=password, site_name=site)
        except registration.RegistrationError as exc:
            raise CommandError(str(exc)) from None
        verb = "registered" if result.created else "updated"
        self.stdout.write(f"{result.station.identity} {verb}")
        if not password:
            self.stdout.write(f"password: {result.password}")

    @staticmethod
    def _read_entries(path: str) -> list[tuple[str, str]]:
        try:
            handle = sys.stdin if path == "-" else open(path, encoding="utf-8")  # noqa: SIM115
        except OSError as exc:
            raise CommandError(f"cannot read {path}: {exc}") from None
        entries = []
        with handle:
            for line_no, line in enumerate(handle, start=1):
                line = line.strip()
                if not line or line.startswith("#"):
                    continue
                parts = line.split()
                if len(parts) != 2:
                    raise CommandError(f"line {line_no}: expected 'IDENTITY PASSWORD'")
                entries.append((parts[0], parts[1]))
        return entries
