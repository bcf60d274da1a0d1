"""Read one mail (RFC 822) on standard input and file it: for a mail server that pipes to a command.

Exit status as a mail server reads it: 0 when the mail was dealt with, a
refused automatic mail included (one line says why, and nothing is sent back);
75 (EX_TEMPFAIL) when the database is unreachable, so the server keeps the
mail and tries again later.
"""

import sys
from email import policy
from email.parser import BytesParser

from django.core.management.base import BaseCommand, CommandError
from django.db import DatabaseError

from support.services.email_in import email_ingest

EX_TEMPFAIL = 75
# A mail larger than this is not read further (attachments have their own limit).
MAX_MAIL_BYTES = 50 * 1024 * 1024


class Command(BaseCommand):
    help = "File one mail read from standard input as a support ticket or a reply on one."

    def handle(self, *args, **options):
        raw = sys.stdin.buffer.read(MAX_MAIL_BYTES + 1)
        if len(raw) > MAX_MAIL_BYTES:
            raise CommandError(f"the mail is larger than {MAX_MAIL_BYTES} bytes")
        if not raw.strip():
            raise CommandError("no mail on standard input")
        message = BytesParser(policy=policy.default).parsebytes(raw)
        try:
            result = email_ingest(message=message)
        except DatabaseError as exc:
            self.stderr.write(f"not filed, try again later: {exc}")
            sys.exit(EX_TEMPFAIL)
        self.stdout.write(result.describe())
