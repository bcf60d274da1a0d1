"""Load the error-code playbook from workorders/playbook_seed.csv.

Self-contained on purpose: a migration must keep working as the services
change, so it parses the file here instead of importing the importer.
Idempotent: entries are matched on (vendor, code) and updated in place.
"""

import csv
from pathlib import Path

from django.db import migrations

SEED = Path(__file__).resolve().parent.parent / "playbook_seed.csv"


def _list(value):
    return [p.strip() for p in value.split(";") if p.strip()]


def load_seed(apps, schema_editor):
    ErrorCode = apps.get_model("workorders", "ErrorCode")
    with SEED.open(newline="", encoding="utf-8-sig") as f:
        for row in csv.DictReader(f):
            ErrorCode.objects.update_or_create(
                vendor=row["vendor"].strip(),
                code=row["code"].strip(),
                defaults={
                    "meaning": row["meaning"].strip(),
                    "severity": row["severity"].strip(),
                    "cause": row["cause"].strip(),
                    "remotely_fixable": row["remotely_fixable"].strip().lower() in {"yes", "true", "1"},
                    "remote_steps": _list(row["remote_steps"]),
                    "field_steps": row["field_steps"].strip(),
                    "likely_parts": row["likely_parts"].strip(),
                    "skills": _list(row["skills"]),
                },
            )


class Migration(migrations.Migration):
    dependencies = [
        ("workorders", "0001_initial"),
    ]

    operations = [
        migrations.RunPython(load_seed, migrations.RunPython.noop),
    ]
