"""Write the error-code playbook as CSV."""

import io

from django.core.management.base import BaseCommand, CommandError

from workorders.services import playbook


class Command(BaseCommand):
    help = "Write the error-code playbook as CSV to PATH, or to standard output with '-' (the default)."

    def add_arguments(self, parser):
        parser.add_argument("path", nargs="?", default="-")

    def handle(self, *args, path, **options):
        if path == "-":
            buffer = io.StringIO()
            playbook.playbook_export_csv(buffer)
            self.stdout.write(buffer.getvalue(), ending="")
        else:
            try:
                with open(path, "w", newline="", encoding="utf-8") as out:
                    count = playbook.playbook_export_csv(out)
            except OSError as exc:
                raise CommandError(f"cannot write {path}: {exc}") from None
            self.stdout.write(f"{count} playbook entries written to {path}")
