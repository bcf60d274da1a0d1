"""The error-code playbook: finding the entry for a fault, and CSV export and import.

CSV columns, in this order on export: vendor, code, meaning, severity, cause,
remotely_fixable, remote_steps, field_steps, likely_parts, skills.
`remote_steps` and `skills` are lists written as `a;b;c` (`,` and `|` are
accepted on import too); `remotely_fixable` is yes/no (true/false and 1/0 are
accepted). The seed file `workorders/playbook_seed.csv` uses the same format.
"""

import csv
import io
import re
from collections.abc import Iterable
from dataclasses import dataclass
from typing import IO, Any, NoReturn

from django.db import transaction
from django.db.models import Q

from workorders.models import ErrorCode, FaultCause, RemoteStep, Severity

COLUMNS = (
    "vendor",
    "code",
    "meaning",
    "severity",
    "cause",
    "remotely_fixable",
    "remote_steps",
    "field_steps",
    "likely_parts",
    "skills",
)
REQUIRED_COLUMNS = ("vendor", "code", "meaning")
LIST_SEPARATOR = ";"
_LIST_SPLIT = re.compile(r"[;,|]")
_SKILL = re.compile(r"^[a-z0-9][a-z0-9_-]*$")
_TRUE = {"yes", "y", "true", "t", "1"}
_FALSE = {"no", "n", "false", "f", "0", ""}
_MAX_LENGTH = {f: ErrorCode._meta.get_field(f).max_length for f in ("vendor", "code", "meaning", "likely_parts")}


class PlaybookImportError(Exception):
    """A CSV file the playbook refuses; nothing was changed."""

    def __init__(self, message: str, *, line: int | None = None, field: str | None = None):
        self.line = line
        self.field = field
        where = " ".join(p for p in (f"line {line}" if line else "", f"field {field!r}" if field else "") if p)
        super().__init__(f"{where}: {message}" if where else message)


def playbook_entry_for(*, vendor: str, vendor_error_code: str, error_code: str) -> ErrorCode | None:
    """The playbook entry for a fault, most specific first.

    1. the vendor's own entry for its vendor error code;
    2. a vendor-independent entry for that vendor error code (ChargeX codes
       come from any vendor);
    3. the vendor-independent entry for the OCPP errorCode the fault came with.
    """
    candidates = []
    if vendor_error_code:
        if vendor:
            candidates.append((vendor, vendor_error_code))
        candidates.append(("", vendor_error_code))
    if error_code:
        candidates.append(("", error_code))
    if not candidates:
        return None
    # One query for all candidates, then pick by precedence.
    match = Q()
    for v, c in candidates:
        match |= Q(vendor=v, code=c)
    found = {(e.vendor, e.code): e for e in ErrorCode.objects.filter(match)}
    for key in candidates:
        if key in found:
            return found[key]
    return None


def playbook_clean_remote_steps(values: Iterable[Any]) -> list[str]:
    """The steps as RemoteStep values, in order; ValueError names an unknown one."""
    steps = []
    for value in values:
        step = str(value).strip()
        if not step:
            continue
        if step not in RemoteStep.values:
            raise ValueError(f"unknown remote step {step!r}; known: {', '.join(RemoteStep.values)}")
        steps.append(step)
    return steps


def playbook_clean_skills(values: Iterable[Any]) -> list[str]:
    """Lower-case skill names without duplicates; ValueError names a malformed one."""
    skills: list[str] = []
    for value in values:
        skill = str(value).strip().lower()
        if not skill:
            continue
        if not _SKILL.match(skill):
            raise ValueError(f"skill {skill!r} must be a short lower-case word such as 'ac', 'dc' or 'network'")
        if skill not in skills:
            skills.append(skill)
    return skills


def playbook_export_csv(out: IO[str], *, entries: Iterable[ErrorCode] | None = None) -> int:
    """Write the playbook (or just `entries`) to the text stream `out`; returns the number of rows."""
    if entries is None:
        entries = ErrorCode.objects.order_by("vendor", "code")
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(COLUMNS)
    count = 0
    for entry in entries:
        writer.writerow(
            [
                entry.vendor,
                entry.code,
                entry.meaning,
                entry.severity,
                entry.cause,
                "yes" if entry.remotely_fixable else "no",
                LIST_SEPARATOR.join(entry.remote_steps),
                entry.field_steps,
                entry.likely_parts,
                LIST_SEPARATOR.join(entry.skills),
            ]
        )
        count += 1
    return count


@dataclass
class _Row:
    line: int
    vendor: str
    code: str
    values: dict[str, Any]


def _text_stream(file: IO) -> IO[str]:
    content = file.read()
    if isinstance(content, bytes):
        content = content.decode("utf-8-sig")
    return io.StringIO(content, newline="")


def _split(value: str) -> list[str]:
    return [p.strip() for p in _LIST_SPLIT.split(value) if p.strip()]


def _parse_row(raw: dict[str, str], line: int) -> _Row:
    def fail(field: str, message: str) -> NoReturn:
        raise PlaybookImportError(message, line=line, field=field)

    values: dict[str, Any] = {}
    for field, text in raw.items():
        text = (text or "").strip()
        if field in _MAX_LENGTH and len(text) > _MAX_LENGTH[field]:
            fail(field, f"longer than {_MAX_LENGTH[field]} characters")
        if field == "meaning" and not text:
            fail(field, "is empty")
        elif field == "severity" and text not in Severity.values:
            fail(field, f"{text!r} is not a severity; known: {', '.join(Severity.values)}")
        elif field == "cause" and text not in FaultCause.values:
            fail(field, f"{text!r} is not a cause; known: {', '.join(FaultCause.values)}")
        elif field == "remotely_fixable":
            if text.lower() not in _TRUE | _FALSE:
                fail(field, f"{text!r} is not yes or no")
            values[field] = text.lower() in _TRUE
            continue
        elif field == "remote_steps":
            try:
                values[field] = playbook_clean_remote_steps(_split(text))
            except ValueError as exc:
                fail(field, str(exc))
            continue
        elif field == "skills":
            try:
                values[field] = playbook_clean_skills(_split(text))
            except ValueError as exc:
                fail(field, str(exc))
            continue
        values[field] = text
    vendor, code = values.pop("vendor"), values.pop("code")
    if not code:
        fail("code", "is empty")
    if values.get("remotely_fixable") and "remote_steps" in values and not values["remote_steps"]:
        fail("remote_steps", "is empty, but remotely_fixable is yes")
    return _Row(line=line, vendor=vendor, code=code, values=values)


def _parse(file: IO) -> list[_Row]:
    try:
        reader = csv.DictReader(_text_stream(file))
        header = [(h or "").strip().lstrip("\ufeff") for h in (reader.fieldnames or [])]
        if not header:
            raise PlaybookImportError("the file is empty", line=1)
        unknown = [h for h in header if h not in COLUMNS]
        if unknown:
            raise PlaybookImportError(f"unknown column(s) {', '.join(map(repr, unknown))}", line=1)
        missing = [c for c in REQUIRED_COLUMNS if c not in header]
        if missing:
            raise PlaybookImportError(f"missing column(s) {', '.join(missing)}", line=1)
        if len(set(header)) != len(header):
            raise PlaybookImportError("a column appears twice", line=1)
        reader.fieldnames = header
        rows: list[_Row] = []
        seen: dict[tuple[str, str], int] = {}
        for raw in reader:
            line = reader.line_num  # where the record ends: the same line unless a value spans lines
            if None in raw:
                raise PlaybookImportError("more values than columns", line=line)
            if not any((v or "").strip() for v in raw.values()):
                continue  # a blank line
            row = _parse_row(raw, line)
            key = (row.vendor, row.code)
            if key in seen:
                entry = f"{row.vendor or '(any vendor)'} {row.code}"
                raise PlaybookImportError(f"{entry} already on line {seen[key]}", line=line)
            seen[key] = line
            rows.append(row)
    except UnicodeDecodeError:
        raise PlaybookImportError("the file is not UTF-8 text") from None
    except csv.Error as exc:
        raise PlaybookImportError(f"not a valid CSV file: {exc}") from None
    return rows


def playbook_import_csv(file: IO, *, replace: bool = False) -> tuple[int, int]:
    """Load playbook entries from a CSV text or binary stream; returns (created, updated).

    Every row is checked before anything is written, and the writes happen in
    one transaction: a bad row raises PlaybookImportError naming its line and
    field, and the playbook stays as it was. Entries are matched on (vendor,
    code); columns missing from the file keep their current values (or the
    defaults, for new entries), and unchanged entries are not counted as
    updated. With `replace`, entries that are not in the file are deleted
    (incidents that pointed at them keep their codes but lose the link).
    """
    rows = _parse(file)
    created = updated = 0
    with transaction.atomic():
        existing = {(e.vendor, e.code): e for e in ErrorCode.objects.select_for_update()}
        for row in rows:
            entry = existing.pop((row.vendor, row.code), None)
            if entry is None:
                ErrorCode.objects.create(vendor=row.vendor, code=row.code, **row.values)
                created += 1
                continue
            changed = [f for f, v in row.values.items() if getattr(entry, f) != v]
            if changed:
                for f in changed:
                    setattr(entry, f, row.values[f])
                entry.save(update_fields=changed)
                updated += 1
        if replace and existing:
            ErrorCode.objects.filter(pk__in=[e.pk for e in existing.values()]).delete()
    return created, updated
