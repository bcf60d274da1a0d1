"""Management commands: register_station and bootstrap."""

import pytest
from django.contrib.auth import get_user_model
from django.core.management import CommandError, call_command

from stations.models import ChargingStation, IdTag
from stations.services import credentials


@pytest.mark.django_db
def test_register_station_with_password_and_site(capsys):
    call_command("register_station", "CP-77", "--password", "a-long-enough-secret", "--site", "Depot")
    station = ChargingStation.objects.select_related("site").get(identity="CP-77")
    assert station.site.name == "Depot"
    assert credentials.verify_password("a-long-enough-secret", station.password_hash)
    assert "a-long-enough-secret" not in station.password_hash


@pytest.mark.django_db
def test_register_station_generates_and_prints_a_password(capsys):
    call_command("register_station", "CP-78")
    printed = capsys.readouterr().out
    password = printed.split("password: ")[1].strip()
    assert len(password) >= 32
    assert credentials.verify_password(password, ChargingStation.objects.get(identity="CP-78").password_hash)


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["CP-1", "--password", "short"], "16 to 40"),
        (["CP 1", "--password", "a-long-enough-secret"], "may not contain"),
        ([], "either IDENTITY or --from-file"),
    ],
)
def test_register_station_refuses_bad_input(args, message):
    with pytest.raises(CommandError, match=message):
        call_command("register_station", *args)
    assert not ChargingStation.objects.exists()


@pytest.mark.django_db
def test_register_many_from_file(tmp_path, capsys):
    ChargingStation.objects.create(identity="BULK-0001", password_hash="x")
    lines = [f"BULK-{n:04d} secret-number-{n:06d}" for n in range(1, 501)]
    path = tmp_path / "stations.txt"
    path.write_text("# identity password\n" + "\n".join(lines) + "\n")

    call_command("register_station", "--from-file", str(path), "--site", "Yard")

    assert "499 stations registered, 1 updated" in capsys.readouterr().out
    assert ChargingStation.objects.filter(site__name="Yard").count() == 500
    station = ChargingStation.objects.get(identity="BULK-0250")
    assert credentials.verify_password("secret-number-000250", station.password_hash)


@pytest.mark.django_db
def test_register_from_file_is_all_or_nothing(tmp_path):
    path = tmp_path / "stations.txt"
    path.write_text("GOOD-1 a-long-enough-secret\nBAD-1 short\n")
    with pytest.raises(CommandError, match="line 2"):
        call_command("register_station", "--from-file", str(path))
    assert not ChargingStation.objects.exists()


@pytest.mark.django_db
def test_bootstrap_creates_roles_and_demo_data_once():
    call_command("bootstrap", "--stations", "4")
    call_command("bootstrap", "--stations", "4")
    users = get_user_model().objects.all()
    assert sorted(u.username for u in users) == [
        "anna",
        "bram",
        "carla",
        "dispatcher",
        "operator",
        "support",
        "technician",
    ]
    assert get_user_model().objects.get(username="support").groups.get().name == "support agent"
    assert ChargingStation.objects.count() == 4
    assert IdTag.objects.filter(id_tag="DEMO-TAG-0001").exists()
