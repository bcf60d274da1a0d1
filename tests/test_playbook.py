"""The error-code playbook: seed data, lookup, CSV export and import, admin."""

import csv
import importlib
import io

import pytest
from django.apps import apps
from django.contrib.messages import get_messages
from django.core.files.uploadedfile import SimpleUploadedFile
from django.core.management import CommandError, call_command
from django.urls import reverse
from ocpp.v16.enums import ChargePointErrorCode

from stations.simulator import CHARGEX_FAULTS, MODELS
from tests.factories import UserFactory
from workorders.models import ErrorCode, FaultCause, RemoteStep
from workorders.services.playbook import (
    PlaybookImportError,
    playbook_entry_for,
    playbook_export_csv,
    playbook_import_csv,
)

seed_migration = importlib.import_module("workorders.migrations.0002_playbook_seed")

HEADER = "vendor,code,meaning,severity,cause,remotely_fixable,remote_steps,field_steps,likely_parts,skills\n"
GOOD_ROW = "Acme,AC-1,Door open,low,equipment,no,,Close the door,,mechanical\n"


@pytest.fixture
def seeded(db):
    """The seed, loaded again (idempotent) in case an earlier test flushed the tables."""
    seed_migration.load_seed(apps, None)


def seed_rows() -> list[dict]:
    with seed_migration.SEED.open(newline="", encoding="utf-8") as f:
        return list(csv.DictReader(f))


def export_text() -> str:
    out = io.StringIO()
    playbook_export_csv(out)
    return out.getvalue()


def superuser():
    return UserFactory(username="root", is_staff=True, is_superuser=True)


# Seed


@pytest.mark.django_db
def test_migration_loaded_the_seed():
    assert ErrorCode.objects.count() == len(seed_rows())
    internal = ErrorCode.objects.get(vendor="", code="InternalError")
    assert internal.remote_steps[:2] == [RemoteStep.TRIGGER_STATUS, RemoteStep.SOFT_RESET]
    assert internal.remotely_fixable


@pytest.mark.django_db
def test_seed_loader_is_idempotent():
    ErrorCode.objects.filter(code="CX026").update(meaning="edited")
    seed_migration.load_seed(apps, None)
    seed_migration.load_seed(apps, None)
    assert ErrorCode.objects.count() == len(seed_rows())
    assert ErrorCode.objects.get(code="CX026").meaning != "edited"


def test_cut_cable_needs_a_technician(seeded):
    entry = ErrorCode.objects.get(vendor="", code="CX026")
    assert not entry.remotely_fixable
    assert entry.cause == FaultCause.EQUIPMENT


def test_authorization_timeout_is_the_drivers(seeded):
    assert ErrorCode.objects.get(vendor="", code="CX009").cause == FaultCause.DRIVER


def test_every_ocpp_error_code_has_an_entry(seeded):
    codes = {c.value for c in ChargePointErrorCode} - {"NoError"}
    assert codes <= set(ErrorCode.objects.filter(vendor="").values_list("code", flat=True))


def test_every_fault_the_simulator_sends_has_its_own_entry(seeded):
    for model in MODELS:
        for fault in (*CHARGEX_FAULTS, *model.vendor_faults):
            entry = playbook_entry_for(
                vendor=model.vendor, vendor_error_code=fault.vendor_error_code, error_code=fault.error_code
            )
            assert entry is not None and entry.code == fault.vendor_error_code, (model.vendor, fault)


def test_seed_passes_the_importers_checks(seeded):
    with seed_migration.SEED.open(newline="", encoding="utf-8") as f:
        assert playbook_import_csv(f) == (0, 0)


# Lookup


@pytest.mark.django_db
def test_lookup_prefers_the_vendors_own_entry():
    own = ErrorCode.objects.create(vendor="Acme", code="CX002", meaning="Acme's take on CX002")
    assert playbook_entry_for(vendor="Acme", vendor_error_code="CX002", error_code="GroundFailure") == own


def test_lookup_falls_back_to_the_vendor_independent_code(seeded):
    entry = playbook_entry_for(vendor="Acme", vendor_error_code="CX002", error_code="GroundFailure")
    assert (entry.vendor, entry.code) == ("", "CX002")


def test_lookup_falls_back_to_the_ocpp_error_code(seeded):
    entry = playbook_entry_for(vendor="Acme", vendor_error_code="E-999", error_code="InternalError")
    assert (entry.vendor, entry.code) == ("", "InternalError")


def test_lookup_ignores_another_vendors_code(seeded):
    entry = playbook_entry_for(vendor="Voltora", vendor_error_code="ACME-E117", error_code="OtherError")
    assert (entry.vendor, entry.code) == ("", "OtherError")


def test_lookup_finds_nothing_for_unknown_codes(seeded):
    assert playbook_entry_for(vendor="Acme", vendor_error_code="E-999", error_code="NoError") is None
    assert playbook_entry_for(vendor="", vendor_error_code="", error_code="") is None


# Export and import


def test_export_then_import_restores_the_playbook(seeded):
    original = export_text()
    ErrorCode.objects.filter(code="CX026").delete()
    ErrorCode.objects.filter(code="CX009").update(remote_steps=["soft_reset"], skills=["dc"], severity="critical")

    created, updated = playbook_import_csv(io.StringIO(original))

    assert (created, updated) == (1, 1)
    assert export_text() == original


def test_import_reads_uploaded_bytes_with_a_bom(db):
    data = ("\ufeff" + HEADER + GOOD_ROW).encode("utf-8")
    assert playbook_import_csv(io.BytesIO(data)) == (1, 0)
    entry = ErrorCode.objects.get(vendor="Acme", code="AC-1")
    assert entry.skills == ["mechanical"] and entry.remote_steps == [] and not entry.remotely_fixable


def test_import_with_only_some_columns_keeps_the_others(seeded):
    playbook_import_csv(io.StringIO("vendor,code,meaning\n,CX026,Cable cut through\n"))
    entry = ErrorCode.objects.get(vendor="", code="CX026")
    assert entry.meaning == "Cable cut through"
    assert entry.severity == "critical"


def test_import_with_replace_deletes_entries_not_in_the_file(seeded):
    assert playbook_import_csv(io.StringIO(HEADER + GOOD_ROW), replace=True) == (1, 0)
    assert list(ErrorCode.objects.values_list("code", flat=True)) == ["AC-1"]


@pytest.mark.parametrize(
    ("bad_row", "field", "message"),
    [
        ("Acme,AC-2,Door,low,equipment,yes,soft_reset;reboot_twice,,,\n", "remote_steps", "unknown remote step"),
        ("Acme,AC-2,Door,urgent,equipment,no,,,,\n", "severity", "'urgent' is not a severity"),
        ("Acme,AC-2,Door,low,weather,no,,,,\n", "cause", "'weather' is not a cause"),
        ("Acme,AC-2,Door,low,equipment,maybe,,,,\n", "remotely_fixable", "'maybe' is not yes or no"),
        ("Acme,AC-2,,low,equipment,no,,,,\n", "meaning", "is empty"),
        ("Acme,AC-2,Door,low,equipment,yes,,,,\n", "remote_steps", "remotely_fixable is yes"),
        ("Acme,AC-2,Door,low,equipment,no,,,,High Voltage\n", "skills", "lower-case word"),
    ],
)
def test_import_refuses_a_bad_row_and_changes_nothing(seeded, bad_row, field, message):
    before = export_text()

    with pytest.raises(PlaybookImportError, match=message) as caught:
        playbook_import_csv(io.StringIO(HEADER + GOOD_ROW + bad_row))

    assert (caught.value.line, caught.value.field) == (3, field)
    assert str(caught.value).startswith(f"line 3 field '{field}': ")
    assert export_text() == before
    assert not ErrorCode.objects.filter(vendor="Acme").exists()


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("", "the file is empty"),
        ("vendor,code,colour\n", "unknown column"),
        ("vendor,meaning\n", "missing column"),
        (HEADER + GOOD_ROW + GOOD_ROW, "Acme AC-1 already on line 2"),
        (HEADER + "Acme,AC-1,Door,low,equipment,no,,,,,extra\n", "more values than columns"),
    ],
)
def test_import_refuses_a_malformed_file(db, content, message):
    with pytest.raises(PlaybookImportError, match=message):
        playbook_import_csv(io.StringIO(content))
    assert not ErrorCode.objects.filter(vendor="Acme").exists()


@pytest.mark.django_db
def test_import_refuses_a_file_that_is_not_utf8():
    with pytest.raises(PlaybookImportError, match="not UTF-8"):
        playbook_import_csv(io.BytesIO((HEADER + "Acme,AC-1,T\xfcr,low,equipment,no,,,,\n").encode("latin-1")))


# Management commands


def test_export_and_import_commands_round_trip(seeded, tmp_path):
    path = tmp_path / "playbook.csv"
    call_command("playbook_export", str(path), stdout=io.StringIO())
    stdout = io.StringIO()
    call_command("playbook_export", "-", stdout=stdout)
    assert path.read_text(encoding="utf-8") == stdout.getvalue() == export_text()

    ErrorCode.objects.filter(code="CX001").delete()
    out = io.StringIO()
    call_command("playbook_import", str(path), stdout=out)
    assert "1 created, 0 updated" in out.getvalue()


def test_import_command_reports_the_bad_line(seeded, tmp_path):
    path = tmp_path / "bad.csv"
    path.write_text(HEADER + "Acme,AC-2,Door,low,equipment,perhaps,,,,\n", encoding="utf-8")
    with pytest.raises(CommandError, match="line 2 field 'remotely_fixable'.*nothing was imported"):
        call_command("playbook_import", str(path))


# Admin


def test_admin_changelist_lists_and_filters_the_playbook(client, seeded):
    client.force_login(superuser())
    url = reverse("admin:workorders_errorcode_changelist")

    response = client.get(url)
    assert response.status_code == 200
    assert b"CX026" in response.content
    assert reverse("admin:workorders_errorcode_import").encode() in response.content

    response = client.get(url, {"vendor": "Voltora"})
    assert b"VT-3021" in response.content and b"CX026" not in response.content
    response = client.get(url, {"vendor": "-", "q": "latch"})
    assert b"CX025" in response.content and b"ACME-E042" not in response.content


def test_admin_action_exports_selected_entries(client, seeded):
    client.force_login(superuser())
    picked = ErrorCode.objects.filter(code__in=["CX001", "CX026"])
    response = client.post(
        reverse("admin:workorders_errorcode_changelist"),
        {"action": "export_selected", "_selected_action": [e.pk for e in picked]},
    )
    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/csv")
    rows = list(csv.DictReader(io.StringIO(response.content.decode())))
    assert [r["code"] for r in rows] == ["CX001", "CX026"]


def test_admin_import_view_loads_a_file(client, seeded):
    client.force_login(superuser())
    url = reverse("admin:workorders_errorcode_import")
    assert client.get(url).status_code == 200

    upload = SimpleUploadedFile("playbook.csv", (HEADER + GOOD_ROW).encode(), content_type="text/csv")
    response = client.post(url, {"file": upload})

    assert response.status_code == 302
    assert ErrorCode.objects.filter(vendor="Acme", code="AC-1").exists()
    assert [str(m) for m in get_messages(response.wsgi_request)] == ["Playbook imported: 1 created, 0 updated."]


def test_admin_import_view_shows_the_error_and_changes_nothing(client, seeded):
    client.force_login(superuser())
    count = ErrorCode.objects.count()
    bad = HEADER + GOOD_ROW + "Acme,AC-2,Door,low,equipment,no,teleport,,,\n"
    upload = SimpleUploadedFile("playbook.csv", bad.encode(), content_type="text/csv")

    response = client.post(reverse("admin:workorders_errorcode_import"), {"file": upload, "replace": "on"})

    assert response.status_code == 200
    assert "line 3 field &#x27;remote_steps&#x27;: unknown remote step &#x27;teleport&#x27;" in response.text
    assert ErrorCode.objects.count() == count


def test_admin_import_view_needs_permission(client, seeded):
    client.force_login(UserFactory(username="viewer", is_staff=True))
    assert client.get(reverse("admin:workorders_errorcode_import")).status_code == 403


def test_admin_form_rejects_an_unknown_remote_step(client, seeded):
    client.force_login(superuser())
    entry = ErrorCode.objects.get(vendor="", code="CX001")
    response = client.post(
        reverse("admin:workorders_errorcode_change", args=[entry.pk]),
        {
            "vendor": "",
            "code": "CX001",
            "meaning": entry.meaning,
            "severity": "medium",
            "cause": "equipment",
            "remotely_fixable": "on",
            "remote_steps": "unlock; teleport",
            "skills": "mechanical",
        },
    )
    assert response.status_code == 200
    assert "unknown remote step" in response.text
    entry.refresh_from_db()
    assert entry.remote_steps == ["unlock", "availability_cycle", "soft_reset"]
