"""Load error-code playbook entries from CSV."""

import sys

from django.core.management.base import BaseCommand, CommandError

from workorders.services import playbook


class Command(BaseCommand):
    help = (
        "Load playbook entries from the CSV file PATH, or from standard input with '-'. Entries are matched on "
        "vendor and code. The whole file is checked first: one bad row and nothing changes."
    )

    def add_arguments(self, parser):
        parser.add_argument("path")
        parser.add_argument("--replace", action="store_true", help="also delete the entries that are not in the file")

    def handle(self, *args, path, replace, **options):
        try:
            if path == "-":
                created, updated = playbook.playbook_import_csv(sys.stdin, replace=replace)
            else:
                with open(path, newline="", encoding="utf-8-sig") as file:
                    created, updated = playbook.playbook_import_csv(file, replace=replace)
        except OSError as exc:
            raise CommandError(f"cannot read {path}: {exc}") from None
        except playbook.PlaybookImportError as exc:
            raise CommandError(f"{path}: {exc}; nothing was imported") from None
        self.stdout.write(f"playbook imported: {created} created, {updated} updated")
