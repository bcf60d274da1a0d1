"""Asking a charger to act: one catalogue of actions, one service deciding who may
send what (page, API, work order and remediation alike), and remediation that
never sends a step twice."""

import html
import json
import re

import pytest
from django.urls import reverse
from django.utils import timezone

from config.celery import app as celery_app
from stations.models import ChargingSession, ConfigurationKey, RemoteCommand, Reservation
from stations.ocpp.validation import validate, validator_for
from stations.services import command_catalogue as catalogue
from stations.services import commands
from stations.services.command_catalogue import CATALOGUE, FieldKind
from tests.conftest import run_server, run_worker
from tests.factories import STATION_PASSWORD, ConnectorFactory, SiteFactory, StationFactory
from tests.helpers import SCREENSHOTS, amsterdam_station, eventually, fault, login, operator_user, technician
from tests.ocpp_client import BackgroundCharger
from workorders.models import ErrorCode, Incident, IncidentStep, RemoteStep
from workorders.services import fieldwork, lifecycle, remediation

CHARGING_PROFILE = {
    "chargingProfileId": 1,
    "stackLevel": 0,
    "chargingProfilePurpose": "TxDefaultProfile",
    "chargingProfileKind": "Absolute",
    "chargingSchedule": {"chargingRateUnit": "A", "chargingSchedulePeriod": [{"startPeriod": 0, "limit": 16}]},
}
# What a person would type into a field of each kind.
TYPED = {
    FieldKind.CONNECTOR: "1",
    FieldKind.ID_TAG: "TAG1",
    FieldKind.TRANSACTION: "7",
    FieldKind.RESERVATION: "3",
    FieldKind.CONFIG_KEY: "HeartbeatInterval",
    FieldKind.CONFIG_KEYS: "HeartbeatInterval, MeterValueSampleInterval",
    FieldKind.INTEGER: "60",
    FieldKind.TEXT: "ACME",
    FieldKind.DATETIME: "2030-01-31T18:00",
    FieldKind.URL: "https://firmware.example/x1.bin",
}
TYPED_JSON = {
    "chargingProfile": json.dumps({**CHARGING_PROFILE, "chargingProfilePurpose": "TxProfile"}),
    "csChargingProfiles": json.dumps(CHARGING_PROFILE),
    "localAuthorizationList": json.dumps([{"idTag": "TAG1", "idTagInfo": {"status": "Accepted"}}]),
}
# Filled in by the command service when a person leaves them out.
FILLED_BY_US = {"location": "https://portal.example/uploads/diagnostics/t/", "reservationId": 1}


def _typed(action: str, *, only_required: bool = False) -> dict[str, str]:
    values = {}
    for f in CATALOGUE[action].fields:
        if only_required and not f.required:
            continue
        if f.kind == FieldKind.CHOICE:
            values[f.name] = catalogue.choices_for(action, f.name)[0]
        elif f.kind == FieldKind.JSON:
            values[f.name] = TYPED_JSON[f.name]
        else:
            values[f.name] = TYPED[f.kind]
    return values


def _sample_payload(action: str) -> dict:
    return catalogue.payload_from_fields(action, _typed(action, only_required=True))


# --- The catalogue ----------------------------------------------------------


@pytest.mark.parametrize("action", catalogue.ACTIONS)
@pytest.mark.parametrize("only_required", [True, False], ids=["required", "all"])
def test_every_actions_fields_give_a_schema_valid_payload(action, only_required):
    payload = catalogue.payload_from_fields(action, _typed(action, only_required=only_required))
    filled = {name: FILLED_BY_US[name] for name in CATALOGUE[action].filled_by_us}

    validate(action, {**filled, **payload})  # raises on a payload the charger would refuse


@pytest.mark.parametrize("action", catalogue.ACTIONS)
def test_catalogue_fields_are_the_schemas_properties_and_cover_what_it_requires(action):
    spec = CATALOGUE[action]
    properties = {f.name for f in spec.fields}
    schema_properties = {name for name in properties if catalogue.schema_property(action, name)}
    required_by_schema = set(validator_for(action).schema.get("required", []))

    assert schema_properties == properties, "every field is a property of the OCPP request"
    assert required_by_schema <= {f.name for f in spec.fields if f.required} | set(spec.filled_by_us)
    for f in spec.fields:
        if f.kind == FieldKind.CHOICE:
            assert catalogue.choices_for(action, f.name), f"{action}.{f.name} offers the schema's values"


@pytest.mark.parametrize("target", [0, 2])
def test_every_quick_command_is_schema_valid(target):
    buttons = catalogue.quick_commands(connector_ids=[0, 1, 2], target=target)

    for button in buttons:
        validate(button.action, button.payload)
    assert {b.key for b in buttons} >= {"soft_reset", "hard_reset", "trigger_status", "unlock_1", "unlock_2"}
    assert "unlock_0" not in {b.key for b in buttons}


def test_a_missing_required_field_is_named():
    with pytest.raises(catalogue.FieldInvalid) as refused:
        catalogue.payload_from_fields("ChangeConfiguration", {"key": "HeartbeatInterval", "value": " "})
    assert refused.value.name == "value"
    assert "Value is required" in str(refused.value)


@pytest.mark.django_db
def test_soft_reset_means_one_payload_on_the_page_the_work_order_and_in_remediation(actors):
    station = amsterdam_station("SAME-1")
    order = lifecycle.workorder_create(kind="corrective", station=station, title="look")
    page = catalogue.quick_command("soft_reset", connector_ids=[0, 1])
    work_order = next(b for b in fieldwork.onsite_commands(work_order=order, connectors=[]) if b.key == "soft_reset")
    (remediation_step,) = remediation._commands_for(RemoteStep.SOFT_RESET, 1)

    assert page == work_order == remediation_step
    assert (page.action, page.payload) == ("Reset", {"type": "Soft"})


# --- Who may send what, through command_request ---------------------------


@pytest.fixture
def work(actors):
    """The technician actor with an open work order on WORK-1, and a cancelled one on WORK-DONE."""
    tom = technician("tom")
    station = amsterdam_station("WORK-1", connected=False)
    done = amsterdam_station("WORK-DONE", connected=False)
    elsewhere = amsterdam_station("WORK-ELSEWHERE", connected=False)
    for where, moves in ((station, []), (done, ["cancelled"])):
        order = lifecycle.workorder_create(kind="corrective", station=where, title="fix")
        order = lifecycle.workorder_transition(work_order=order, to="assigned", technician=tom)
        for to in moves:
            lifecycle.workorder_transition(work_order=order, to=to)
    return {"own": station, "closed": done, "elsewhere": elsewhere, "user": tom.user}


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("who", "where", "action", "allowed"),
    [
        ("operator", "own", "UpdateFirmware", True),
        ("operator", "own", "SendLocalList", True),
        ("support", "own", "RemoteStartTransaction", True),
        ("support", "own", "RemoteStopTransaction", True),
        ("support", "own", "UnlockConnector", True),
        ("support", "own", "Reset", False),
        ("technician", "own", "Reset", True),
        ("technician", "own", "ChangeAvailability", True),
        ("technician", "own", "UnlockConnector", True),
        ("technician", "own", "RemoteStartTransaction", False),
        ("technician", "own", "ChangeConfiguration", False),
        ("technician", "elsewhere", "Reset", False),
        ("technician", "closed", "Reset", False),
        ("dispatcher", "own", "ClearCache", False),
        ("dispatcher", "own", "TriggerMessage", False),
        ("outsider", "own", "RemoteStartTransaction", False),
        ("system", "own", "Reset", True),
    ],
)
def test_who_may_send_what(actors, work, who, where, action, allowed):
    by = {"technician": work["user"], "system": None}[who] if who in ("technician", "system") else getattr(actors, who)
    station = work[where]

    def ask():
        return commands.command_request(
            station=station, action=action, payload=_sample_payload(action), by=by, confirmed=True, via="test"
        )

    if allowed:
        command = ask()
        assert command.status == "offline"  # recorded and tried; the station is not connected
        assert command.requested_by == by
    else:
        with pytest.raises(commands.CommandRefused) as refused:
            ask()
        assert refused.value.forbidden
        assert str(refused.value) == f"you may not send {action} to {station.identity}"
        assert not RemoteCommand.objects.exists()


@pytest.mark.django_db
def test_station_page_offers_exactly_what_command_request_accepts(client, actors):
    station = amsterdam_station("OFFER-1", connected=False)
    offered, accepted = {}, {}
    for who in ("operator", "support", "dispatcher"):
        user = getattr(actors, who)
        client.force_login(user)
        offered[who] = client.get(reverse("stations:station-detail", args=[station.identity])).context[
            "command_actions"
        ]
        accepted[who] = []
        for action in catalogue.ACTIONS:
            try:
                commands.command_check(station=station, action=action, by=user, confirmed=True)
            except commands.CommandRefused:
                continue
            accepted[who].append(action)

    assert offered == accepted
    assert offered["operator"] == list(catalogue.ACTIONS)
    assert offered["support"] == [
        "UnlockConnector",
        "RemoteStartTransaction",
        "RemoteStopTransaction",
        "TriggerMessage",
    ]
    assert offered["dispatcher"] == []


# --- Page and API refuse alike ---------------------------------------------


REFUSALS = [
    ("support", "Reset", {"type": "Soft"}, True, 403, "you may not send Reset to REF-1"),
    ("technician", "Reset", {"type": "Soft"}, True, 403, "you may not send Reset to REF-1"),
    ("dispatcher", "ClearCache", {}, True, 403, "you may not send ClearCache to REF-1"),
    ("outsider", "RemoteStartTransaction", {"idTag": "T1"}, True, 403, "you may not send RemoteStartTransaction"),
    ("operator", "Reset", {"type": "Soft"}, False, 400, "Reset interrupts the station: confirm it to send it"),
    ("support", "UnlockConnector", {"connectorId": 1}, False, 400, "UnlockConnector interrupts the station"),
    ("operator", "Reset", {"type": "Gentle"}, True, 400, "'Gentle' is not one of ['Hard', 'Soft']"),
    ("operator", "ChangeAvailability", {"connectorId": "one", "type": "Operative"}, True, 400, "is not of type"),
]


@pytest.mark.django_db
@pytest.mark.parametrize(("who", "action", "payload", "confirm", "status", "message"), REFUSALS)
def test_page_and_api_refuse_with_the_same_status_and_reason(
    client, actors, who, action, payload, confirm, status, message
):
    station = amsterdam_station("REF-1", connected=False)
    client.force_login(getattr(actors, who))

    page = client.post(
        reverse("stations:station-command", args=[station.identity]),
        {"action": action, "payload": json.dumps(payload), "confirm": "on" if confirm else ""},
    )
    api = client.post(
        f"/api/stations/{station.identity}/commands/",
        {"action": action, "payload": payload, "confirm": confirm, "wait": False},
        content_type="application/json",
    )

    assert (page.status_code, api.status_code) == (status, status)
    assert message in html.unescape(page.content.decode())
    assert message in json.dumps(api.json())
    assert not RemoteCommand.objects.exists()


# --- The station page's form -----------------------------------------------


def _post(client, station, data: dict):
    return client.post(reverse("stations:station-command", args=[station.identity]), data)


def _textarea(response) -> str:
    match = re.search(r'<textarea name="payload"[^>]*>(.*?)</textarea>', response.content.decode(), re.S)
    assert match, "the payload box is on the page"
    return html.unescape(match.group(1))


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("typed", "message"),
    [
        ('{"type": "Soft", <b>not json', "payload is not valid JSON"),
        ('["Soft"]', "payload must be a JSON object"),
        ('{"type": "Gentle", "note": "<b>kept</b>"}', "Additional properties are not allowed ('note' was unexpected)"),
    ],
)
def test_bad_payload_shows_the_station_page_with_the_error_and_what_was_typed(client, actors, typed, message):
    station = amsterdam_station("BAD-1", connected=False)
    client.force_login(actors.operator)

    response = _post(client, station, {"action": "Reset", "payload": typed, "confirm": "on"})

    assert response.status_code == 400
    body = response.content.decode()
    assert 'class="card commands-panel"' in body and 'id="station-live"' in body  # the page, in its layout
    assert "<h1>BAD-1" in body
    error = re.search(r'<div class="command-error" role="alert">(.*?)</div>', body, re.S).group(1)
    assert message in html.unescape(error)
    assert _textarea(response) == typed
    assert '<option value="Reset" selected>' in body
    assert "<b>kept</b>" not in body and "<b>not json" not in body  # typed markup comes back as text
    assert not RemoteCommand.objects.exists()


@pytest.mark.django_db
def test_a_quick_command_refused_for_confirmation_can_be_confirmed_from_the_page(client, actors):
    station = amsterdam_station("CONF-1", connected=False)
    client.force_login(actors.operator)

    refused = _post(client, station, {"action": "Reset", "preset": "hard_reset", "confirm": ""})
    assert refused.status_code == 400
    assert "Reset interrupts the station: confirm it to send it" in html.unescape(refused.content.decode())
    assert json.loads(_textarea(refused)) == {"type": "Hard"}
    assert 'name="confirm" value="on"' in refused.content.decode()  # works without the page's script

    # The form as shown, sent with its "Confirm and send" button.
    sent = _post(client, station, {"action": "Reset", "payload": _textarea(refused), "confirm": ["", "on"]})

    assert sent.status_code == 302
    command = RemoteCommand.objects.get()
    assert (command.action, command.payload, command.requested_via) == ("Reset", {"type": "Hard"}, "station page")


@pytest.mark.django_db
def test_a_missing_field_is_shown_beside_it(client, actors):
    station = amsterdam_station("FIELD-1", connected=False)
    client.force_login(actors.operator)

    response = _post(client, station, {"action": "ChangeConfiguration", "ChangeConfiguration.key": "HeartbeatInterval"})

    assert response.status_code == 400
    form = response.context["view"].form
    assert form.errors["ChangeConfiguration.value"] == ["Value is required for ChangeConfiguration"]
    assert form["ChangeConfiguration.key"].value() == "HeartbeatInterval"
    assert not RemoteCommand.objects.exists()


@pytest.fixture
def busy_station(db):
    """A station in Amsterdam with two connectors, a running session and reported configuration."""
    site = SiteFactory(time_zone="Europe/Amsterdam")
    station = StationFactory(identity="FORM-1", site=site, connected=False)
    ConnectorFactory(station=station, connector_id=0)
    ConnectorFactory(station=station, connector_id=1)
    two = ConnectorFactory(station=station, connector_id=2)
    session = ChargingSession.objects.create(
        station=station, connector=two, id_tag="TAG9", id_tag_status="Accepted", meter_start=0,
        start_at=timezone.now(), start_fingerprint="running",
    )  # fmt: skip
    for key in ("HeartbeatInterval", "MeterValueSampleInterval"):
        ConfigurationKey.objects.create(station=station, key=key, value="60", reported_at=timezone.now())
    station.running_session = session
    return station


@pytest.mark.django_db
def test_form_offers_the_stations_connectors_sessions_and_configuration_keys(client, actors, busy_station):
    client.force_login(actors.operator)

    response = client.get(reverse("stations:station-detail", args=[busy_station.identity]))

    form = response.context["view"].form
    body = response.content.decode()

    def options(name):
        return [value for value, _ in form[name].field.widget.choices]

    assert options("UnlockConnector.connectorId") == [1, 2]
    assert options("ChangeAvailability.connectorId") == [0, 1, 2]  # the whole station too
    assert options("RemoteStartTransaction.connectorId") == ["", 1, 2]  # optional
    assert options("RemoteStopTransaction.transactionId") == [busy_station.running_session.pk]
    assert options("Reset.type") == ["Hard", "Soft"]
    assert '<option value="HeartbeatInterval">' in body and '<option value="MeterValueSampleInterval">' in body
    assert json.loads(re.search(r'id="command-catalogue"[^>]*>(.*?)</script>', body, re.S).group(1))["Reset"] == {
        "label": "Reset",
        "disruptive": True,
        "fields": ["type"],
    }


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("action", "fields", "expected"),
    [
        ("ChangeAvailability", {"connectorId": "0", "type": "Inoperative"}, {"connectorId": 0, "type": "Inoperative"}),
        ("UnlockConnector", {"connectorId": "2"}, {"connectorId": 2}),
        ("RemoteStartTransaction", {"idTag": "TAG1", "connectorId": ""}, {"idTag": "TAG1"}),
        ("GetConfiguration", {"key": "HeartbeatInterval, MeterValueSampleInterval"},
         {"key": ["HeartbeatInterval", "MeterValueSampleInterval"]}),
        ("ChangeConfiguration", {"key": "HeartbeatInterval", "value": "300"},
         {"key": "HeartbeatInterval", "value": "300"}),
        ("TriggerMessage", {"requestedMessage": "MeterValues", "connectorId": "1"},
         {"requestedMessage": "MeterValues", "connectorId": 1}),
        ("GetCompositeSchedule", {"connectorId": "0", "duration": "3600", "chargingRateUnit": ""},
         {"connectorId": 0, "duration": 3600}),
    ],
)  # fmt: skip
def test_fields_of_the_chosen_action_make_its_payload(client, actors, busy_station, action, fields, expected):
    client.force_login(actors.operator)
    data = {"action": action, "confirm": "on", **{f"{action}.{name}": value for name, value in fields.items()}}
    data["Reset.type"] = "Hard"  # another action's field, as a page without its script sends them all

    response = _post(client, busy_station, data)

    assert response.status_code == 302, response.content.decode()[:2000]
    assert RemoteCommand.objects.get().payload == expected


@pytest.mark.django_db
def test_stopping_the_running_session_and_reserving_in_the_sites_time(client, actors, busy_station):
    client.force_login(actors.support)
    session = busy_station.running_session
    _post(
        client,
        busy_station,
        {"action": "RemoteStopTransaction", "RemoteStopTransaction.transactionId": str(session.pk), "confirm": "on"},
    )
    client.force_login(actors.operator)
    _post(
        client,
        busy_station,
        {
            "action": "ReserveNow",
            "ReserveNow.connectorId": "1",
            "ReserveNow.idTag": "TAG1",
            "ReserveNow.expiryDate": "2030-01-31T18:00",  # Amsterdam, winter: UTC+1
        },
    )

    stop, reserve = RemoteCommand.objects.order_by("id")
    assert (stop.requested_by, stop.payload) == (actors.support, {"transactionId": session.pk})
    reservation = Reservation.objects.get()
    assert reserve.payload == {
        "connectorId": 1,
        "idTag": "TAG1",
        "expiryDate": "2030-01-31T17:00:00Z",
        "reservationId": reservation.pk,
    }


@pytest.mark.django_db
def test_typed_json_wins_over_the_fields(client, actors, busy_station):
    client.force_login(actors.operator)

    _post(
        client, busy_station, {"action": "Reset", "Reset.type": "Soft", "payload": '{"type": "Hard"}', "confirm": "on"}
    )

    assert RemoteCommand.objects.get().payload == {"type": "Hard"}


@pytest.mark.django_db
def test_long_payloads_and_answers_are_cut_in_the_history_with_the_whole_a_click_away(client, actors):
    station = amsterdam_station("LONG-1")
    data = "x" * 1000
    command = RemoteCommand.objects.create(
        station=station,
        action="DataTransfer",
        payload={"vendorId": "ACME", "data": data},
        requested_via="test",
        status="accepted",
        response={"status": "Accepted", "data": data[::-1] + "END"},
    )
    RemoteCommand.objects.create(station=station, action="ClearCache", requested_via="test", status="accepted")
    client.force_login(actors.operator)

    body = client.get(reverse("stations:station-live", args=[station.identity])).content.decode()

    long_cells = re.findall(r'<details class="json-long"><summary><code>(.*?)</code>', body, re.S)
    assert len(long_cells) == 2  # the payload and the answer
    assert all(len(html.unescape(cell)) == 200 for cell in long_cells)
    assert data in body and "END" in body  # inside the details
    assert f'href="/api/commands/{command.pk}/"' in body
    assert "<code>{}</code>" in body  # short ones stay as they are


# --- In a real browser -------------------------------------------------------


@pytest.mark.browser
@pytest.mark.usefixtures("live_db")
def test_form_shows_the_chosen_actions_fields_and_sends_them(ocpp_server, browser):
    operator_user()
    station = StationFactory(identity="JS-FORM", connected=False)
    for n in (0, 1, 2):
        ConnectorFactory(station=station, connector_id=n)
    page = browser.new_page(viewport={"width": 1280, "height": 900})
    login(page, ocpp_server.http, "browser-op")
    page.goto(f"{ocpp_server.http}/stations/JS-FORM/")

    visible = page.locator("form.advanced fieldset.action-fields:visible")
    assert visible.count() == 1 and visible.get_attribute("data-fields-for") == "Reset"
    page.select_option("form.advanced select[name=action]", "ChangeAvailability")
    assert visible.count() == 1 and visible.get_attribute("data-fields-for") == "ChangeAvailability"
    page.select_option("select[name='ChangeAvailability.connectorId']", "2")
    page.select_option("select[name='ChangeAvailability.type']", "Inoperative")
    page.once("dialog", lambda dialog: dialog.accept())  # it interrupts the station

    page.click("form.advanced button[type=submit]:has-text('Send')")

    page.wait_for_function(
        "() => document.querySelector('table.commands tbody tr')?.innerText.includes('ChangeAvailability')",
        timeout=10_000,
    )
    assert RemoteCommand.objects.get().payload == {"connectorId": 2, "type": "Inoperative"}


@pytest.mark.browser
@pytest.mark.usefixtures("live_db")
def test_bad_json_in_the_browser_comes_back_on_the_station_page_as_typed(ocpp_server, browser):
    operator_user()
    StationFactory(identity="JS-BAD", connected=False)
    page = browser.new_page(viewport={"width": 1280, "height": 900})
    login(page, ocpp_server.http, "browser-op")
    page.goto(f"{ocpp_server.http}/stations/JS-BAD/")
    typed = '{"vendorId": "ACME", "data": <script>window.__xss=1</script>'
    page.select_option("form.advanced select[name=action]", "DataTransfer")
    page.click("form.advanced details.raw-payload summary")
    page.fill("form.advanced textarea[name=payload]", typed)

    with page.expect_response(lambda r: r.request.method == "POST") as posted:
        page.click("form.advanced button[type=submit]:has-text('Send')")

    assert posted.value.status == 400
    alert = page.locator(".commands-panel .command-error")
    assert "payload is not valid JSON" in alert.inner_text()
    assert page.input_value("form.advanced textarea[name=payload]") == typed
    assert page.input_value("form.advanced select[name=action]") == "DataTransfer"
    assert page.locator("form.advanced fieldset.action-fields:visible").get_attribute("data-fields-for") == (
        "DataTransfer"
    )
    # The station page in its desktop layout: the panel beside the station, not a bare error.
    panel, live = page.locator(".commands-panel").bounding_box(), page.locator("#station-live").bounding_box()
    assert panel["x"] > live["x"] + live["width"] - 1
    assert page.locator("#station-live h1").inner_text().startswith("JS-BAD")
    assert page.evaluate("() => window.__xss") is None
    assert not RemoteCommand.objects.exists()
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SCREENSHOTS / "station-command-refused.png"), full_page=True)


# --- Remediation: intent before effect -------------------------------------


@pytest.mark.usefixtures("live_db")
@pytest.mark.filterwarnings("ignore::celery.exceptions.AlwaysEagerIgnored")  # send_task always goes to the broker
def test_step_of_a_worker_killed_while_the_charger_answers_is_not_sent_again(django_db_setup):
    station = amsterdam_station("KILL-1")
    ErrorCode.objects.update_or_create(
        vendor="",
        code="CX998",
        defaults={"meaning": "test fault", "remotely_fixable": True, "remote_steps": ["soft_reset"]},
    )
    env = {"REMEDIATION_GRACE_S": "0", "REMEDIATION_WAIT_S": "1", "REMEDIATION_COMMAND_TIMEOUT_S": "15"}
    with (
        run_server(**env) as server,
        BackgroundCharger(server.url, "KILL-1", STATION_PASSWORD, delay=4) as charger,
    ):
        fault(station, error_code="OtherError", vendor_error_code="CX998")
        incident = Incident.objects.get(station=station)
        with run_worker(**env) as first:
            celery_app.send_task("workorders.tasks.advance_incident", args=[incident.pk])
            assert eventually(lambda: charger.calls, timeout=20)
            first.kill()  # SIGKILL while the charger holds its answer back
            first.wait(10)
        step = IncidentStep.objects.select_related("command").get(incident=incident, key="step-0-0")
        assert step.command.action == "Reset"  # written before it was sent

        with run_worker(**env):
            # The advance runs again, as the broker hands an unacknowledged task to the next worker.
            celery_app.send_task("workorders.tasks.advance_incident", args=[incident.pk])

            def decided():
                celery_app.send_task("workorders.tasks.remediation_sweep")
                return Incident.objects.filter(pk=incident.pk, status="dispatched").exists()

            assert eventually(decided, timeout=60)

    assert [c[2] for c in charger.calls] == ["Reset"]
    command = RemoteCommand.objects.get(station=station)
    assert command.status == "accepted"
    assert IncidentStep.objects.filter(incident=incident, key="decision").exists()
    assert list(IncidentStep.objects.filter(incident=incident, kind="command").values_list("command", flat=True)) == [
        command.pk
    ]
