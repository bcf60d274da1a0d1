"""Billing's REST API, the price on the sessions API, and the local authorisation list,
down to a real charger on a real websocket."""

import asyncio
from datetime import UTC, datetime, timedelta
from decimal import Decimal as D

import pytest
from django.core.management import call_command
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone
from rest_framework.test import APIClient

from billing.models import Account, AccountEvent, AccountTag, Funding, LocalListVersion, Tariff
from billing.services import local_list, payments, sessions
from stations.models import CommandStatus, IdTag, RemoteCommand
from tests.factories import STATION_PASSWORD, ConnectorFactory, IdTagFactory, StationFactory
from tests.helpers import eventually
from tests.ocpp_client import BackgroundCharger, Charger, open_charger
from tests.test_billing_pages import START, make_account, make_session, make_tariff, priced


@pytest.fixture
def api():
    return APIClient()


@pytest.fixture
def station(db):
    station = StationFactory(identity="API-B1")
    ConnectorFactory(station=station, connector_id=1)
    return station


# --- roles ------------------------------------------------------------------------------------


@pytest.mark.django_db
@pytest.mark.parametrize(
    "endpoint, support_reads",
    [
        ("/api/accounts/", True),
        ("/api/tags/", True),
        ("/api/payments/", True),
        ("/api/cdrs/", True),
        ("/api/tariffs/", False),
    ],
)
def test_billing_api_roles(api, actors, station, endpoint, support_reads):
    for role, status in (
        ("operator", 200),
        ("support", 200 if support_reads else 403),
        ("dispatcher", 403),
        ("technician", 403),
        ("outsider", 403),
    ):
        api.force_authenticate(getattr(actors, role))
        assert api.get(endpoint).status_code == status, (role, endpoint)
    api.force_authenticate(actors.support)
    assert api.post(endpoint, {}, format="json").status_code == 403
    api.force_authenticate(None)
    assert api.get(endpoint).status_code in (401, 403)


@pytest.mark.django_db
def test_accounts_and_tags_through_the_api_are_recorded(api, actors):
    api.force_authenticate(actors.operator)

    created = api.post("/api/accounts/", {"name": "Fleet", "kind": "fleet", "funding": "postpaid", "currency": "usd"})
    assert created.status_code == 201 and created.json()["currency"] == "USD"
    account_id = created.json()["id"]
    linked = api.post("/api/tags/", {"id_tag": "VAN-1", "account": account_id, "label": "van"}, format="json")
    assert linked.status_code == 201 and linked.json()["id_tag"] == "VAN-1"
    again = api.post("/api/tags/", {"id_tag": "VAN-1", "account": account_id}, format="json")
    assert again.status_code == 201 and again.json()["id"] == linked.json()["id"]  # linking again changes nothing
    blocked = api.post(f"/api/accounts/{account_id}/block/", {"reason": "unpaid invoice"}, format="json")
    assert blocked.status_code == 200 and blocked.json()["status"] == "blocked"
    assert api.post(f"/api/accounts/{account_id}/block/", {"reason": "again"}, format="json").status_code == 409
    assert api.get("/api/accounts/", {"id_tag": "VAN-1"}).json()["count"] == 1
    assert api.delete(f"/api/tags/{linked.json()['id']}/").status_code == 204

    kinds = list(AccountEvent.objects.filter(account_id=account_id).order_by("id").values_list("kind", flat=True))
    assert kinds == ["created", "tag_linked", "blocked", "tag_unlinked"]
    assert not AccountTag.objects.exists()


@pytest.mark.django_db
def test_tariff_post_refuses_unknown_stations_and_bad_periods(api, actors, station):
    api.force_authenticate(actors.operator)
    base = {"currency": "EUR", "price_per_kwh": "0.4", "session_fee": "1", "tax_rate": "0.19"}

    unknown = api.post("/api/tariffs/", {**base, "stations": ["NOPE"]}, format="json")
    bad_period = api.post(
        "/api/tariffs/",
        {**base, "stations": ["API-B1"], "periods": [{"start": "25:00", "end": "06:00"}]},
        format="json",
    )
    bad_rate = api.post("/api/tariffs/", {**base, "tax_rate": "1.5"}, format="json")

    assert unknown.status_code == 400 and "NOPE" in unknown.json()["stations"]
    assert bad_period.status_code == 400 and "periods" in bad_period.json()
    assert bad_rate.status_code == 400 and "tax_rate" in bad_rate.json()
    assert not Tariff.objects.exists()


@pytest.mark.django_db
def test_tariff_revise_keeps_started_sessions_on_their_version(api, actors, station):
    api.force_authenticate(actors.operator)
    make_account()
    created = api.post(
        "/api/tariffs/",
        {"name": "Flat", "currency": "EUR", "price_per_kwh": "0.40", "session_fee": "1", "tax_rate": "0.19",
         "stations": ["API-B1"]},
        format="json",
    )  # fmt: skip
    tariff_id = created.json()["id"]
    running = make_session(
        station.connectors.get(), start=timezone.now() - timedelta(minutes=20), minutes=10, running=True
    )
    sessions.session_billing_open(session_id=running.pk)

    revised = api.post(f"/api/tariffs/{tariff_id}/revise/", {"price_per_kwh": "0.80"}, format="json")

    assert revised.status_code == 200 and revised.json()["version"] == 2
    assert revised.json()["session_fee"] == "1.00"  # terms left out stay
    assert running.billing.tariff_version.version == 1


# --- CDRs ----------------------------------------------------------------------------------------


@pytest.mark.django_db
def test_cdrs_api_by_station(api, actors, station):
    make_tariff(station)
    make_account()
    connector = station.connectors.get()
    billing = priced(make_session(connector, samples=3, power_w=[3000, 7400, 5000]))
    other = StationFactory(identity="API-B2")
    make_session(ConnectorFactory(station=other, connector_id=1), tag="X")
    api.force_authenticate(actors.support)

    response = api.get("/api/cdrs/", {"station": "API-B1"})

    assert response.status_code == 200
    [record] = response.json()["results"]
    assert record["transaction_id"] == billing.session_id and record["station"] == "API-B1"
    assert (record["energy_kwh"], record["peak_kw"], record["total"], record["currency"]) == (
        "10.000", "7.40", "5.95", "EUR",
    )  # fmt: skip
    assert record["payment_method"] == "prepaid" and record["error"] == ""
    assert [line["kind"] for line in record["lines"]] == ["energy", "fee"]
    assert api.get("/api/cdrs/", {"stopped_after": "yesterday"}).status_code == 400


# --- query counts --------------------------------------------------------------------------------


@pytest.mark.django_db
@pytest.mark.parametrize(
    "endpoint", ["/api/accounts/", "/api/tags/", "/api/tariffs/", "/api/payments/", "/api/cdrs/", "/api/sessions/"]
)
def test_billing_api_lists_keep_their_query_count(api, actors, station, endpoint):
    connector = station.connectors.get()
    make_tariff(station)
    api.force_authenticate(actors.operator)
    counter = iter(range(1, 1000))

    def add(n):
        for _ in range(n):
            i = next(counter)
            make_tariff(station, name=f"T{i}")
            make_account(f"A{i}", tag=f"T-{i}", balance=D("100"))
            done = priced(make_session(connector, tag=f"T-{i}", start=START + timedelta(hours=i)))
            payments.payment_settle(session_id=done.session_id)
            # A running session: its cost so far is priced with the whole page.
            other = ConnectorFactory(station=station, connector_id=i + 1)
            running = make_session(other, tag=f"T-{i}", start=timezone.now() - timedelta(minutes=30), running=True)
            sessions.session_billing_open(session_id=running.pk)

    def count() -> int:
        with CaptureQueriesContext(connection) as queries:
            response = api.get(endpoint)
            assert response.status_code == 200
        return len(queries.captured_queries)

    add(2)
    count()
    few = count()
    add(5)
    assert count() == few
    if endpoint == "/api/sessions/":
        rows = api.get(endpoint).json()["results"]
        assert sum(1 for row in rows if row["cost_so_far"]) == 7 and sum(1 for row in rows if row["price"]) == 7


@pytest.mark.django_db
def test_openapi_schema_validates_with_billing(tmp_path):
    call_command("spectacular", "--validate", "--fail-on-warn", "--file", str(tmp_path / "schema.yaml"))
    schema = (tmp_path / "schema.yaml").read_text()
    assert "/api/cdrs/" in schema and "/api/tariffs/{id}/revise/" in schema and "cost_so_far" in schema


# --- end to end: a tariff from the API prices a session from a real charger ----------------------


@pytest.mark.usefixtures("live_db")
def test_api_tariff_prices_a_real_chargers_session_and_the_sessions_api_shows_it(api, actors):
    station = StationFactory(identity="E2E-B1")
    ConnectorFactory(station=station, connector_id=1)
    make_account("Fleet", funding=Funding.POSTPAID, tag="E2E-TAG")
    api.force_authenticate(actors.operator)
    created = api.post(
        "/api/tariffs/",
        {"currency": "EUR", "price_per_kwh": "0.40", "session_fee": "1.00", "tax_rate": "0.19", "stations": ["E2E-B1"]},
        format="json",
    )
    assert created.status_code == 201 and created.json()["stations"] == ["E2E-B1"]
    now = datetime.now(UTC).replace(microsecond=0)
    start, middle, stop = now - timedelta(minutes=30), now - timedelta(minutes=15), now

    async def charge(step):
        async with open_charger(server.url, "E2E-B1", STATION_PASSWORD) as ws:
            cp = Charger(ws)
            await cp.result("BootNotification", {"chargePointVendor": "Acme", "chargePointModel": "X1"})
            return await step(cp)

    async def start_and_meter(cp):
        started = await cp.result(
            "StartTransaction", {"connectorId": 1, "idTag": "E2E-TAG", "meterStart": 0, "timestamp": start.isoformat()}
        )
        assert started["idTagInfo"]["status"] == "Accepted"
        await cp.result(
            "MeterValues",
            {"connectorId": 1, "transactionId": started["transactionId"],
             "meterValue": [{"timestamp": middle.isoformat(), "sampledValue": [{"value": "5000"}]}]},
        )  # fmt: skip
        return started["transactionId"]

    async def stop_(cp):
        return await cp.result(
            "StopTransaction",
            {
                "transactionId": transaction_id,
                "meterStop": 10_000,
                "timestamp": stop.isoformat(),
                "reason": "EVDisconnected",
            },
        )

    from tests.conftest import run_server

    with run_server(CELERY_TASK_ALWAYS_EAGER="1") as server:
        transaction_id = asyncio.run(charge(start_and_meter))
        running = eventually(lambda: api.get(f"/api/sessions/{transaction_id}/").json()["cost_so_far"])
        assert running is not None and D(running["total"]) >= D("1.19")
        assert api.get(f"/api/sessions/{transaction_id}/").json()["price"] is None

        asyncio.run(charge(stop_))
        body = eventually(lambda: api.get(f"/api/sessions/{transaction_id}/").json()["price"] and api.get(
            f"/api/sessions/{transaction_id}/").json(), timeout=10)  # fmt: skip

    assert body["price"]["total"] == "5.95" and body["price"]["currency"] == "EUR"
    assert [(line["kind"], line["quantity"], line["amount"]) for line in body["price"]["lines"]] == [
        ("energy", "10.000", "4.00"),
        ("fee", "1", "1.00"),
    ]
    assert body["cost_so_far"] is None
    version = Tariff.objects.get(pk=created.json()["id"]).current_version
    assert sessions.SessionBilling.objects.get(session_id=transaction_id).tariff_version == version


# --- the local authorisation list, to a real charger ------------------------------------------------


@pytest.mark.django_db
def test_local_list_entries_follow_the_account_rules(station):
    make_account("Ada", tag="OK-1", balance=D("10"))
    make_account("Empty", tag="BROKE-1", balance=D("0"))
    blocked = make_account("Gone", tag="BLOCKED-1")
    Account.objects.filter(pk=blocked.pk).update(status="blocked")
    expired = make_account("Old", tag="OLD-1")
    IdTagFactory(id_tag="PLAIN")  # no account: not on the list
    IdTag.objects.filter(billing_account__account=expired).update(expiry_date=START)

    entries = local_list.local_list_entries(now=START + timedelta(days=1))

    assert {tag: info["status"] for tag, info in entries.items()} == {
        "OK-1": "Accepted",
        "BROKE-1": "Blocked",
        "BLOCKED-1": "Blocked",
        "OLD-1": "Expired",
    }


@pytest.mark.usefixtures("live_db")
def test_local_list_is_sent_full_then_as_differences_to_a_real_charger(ocpp_server, actors):
    station = StationFactory(identity="LL-1")
    make_account("Ada", tag="LL-ADA", balance=D("10"))
    make_account("Bob", tag="LL-BOB", balance=D("10"))
    with BackgroundCharger(ocpp_server.url, "LL-1", STATION_PASSWORD) as charger:
        eventually(lambda: type(station).objects.get(pk=station.pk).connected)
        full = local_list.local_list_send(station=station, full=True, by=actors.operator)
        Account.objects.filter(name="Bob").update(status="blocked")
        make_account("Cy", tag="LL-CY", balance=D("10"))
        AccountTag.objects.filter(id_tag__id_tag="LL-ADA").delete()
        diff = local_list.local_list_send(station=station, full=False, by=actors.operator)
        with pytest.raises(local_list.LocalListUnchanged):
            local_list.local_list_send(station=station, full=False, by=actors.operator)

    assert full.status == diff.status == CommandStatus.ACCEPTED
    sent = [frame[3] for frame in charger.calls if frame[2] == "SendLocalList"]
    assert sent[0]["updateType"] == "Full" and sent[0]["listVersion"] == 1
    assert [e["idTag"] for e in sent[0]["localAuthorizationList"]] == ["LL-ADA", "LL-BOB"]
    assert sent[1] == {
        "listVersion": 2,
        "updateType": "Differential",
        "localAuthorizationList": [
            {"idTag": "LL-BOB", "idTagInfo": {"status": "Blocked"}},
            {"idTag": "LL-CY", "idTagInfo": {"status": "Accepted"}},
            {"idTag": "LL-ADA"},
        ],
    }
    held = LocalListVersion.objects.get(station=station)
    assert held.version == 2 and set(held.entries) == {"LL-BOB", "LL-CY"}
    assert RemoteCommand.objects.filter(action="SendLocalList", requested_by=actors.operator).count() == 2


@pytest.mark.usefixtures("live_db")
def test_a_refused_local_list_keeps_the_version(ocpp_server, actors):
    station = StationFactory(identity="LL-2")
    make_account("Ada", tag="LL2-ADA", balance=D("10"))
    with BackgroundCharger(ocpp_server.url, "LL-2", STATION_PASSWORD, answers={"SendLocalList": {"status": "Failed"}}):
        eventually(lambda: type(station).objects.get(pk=station.pk).connected)
        command = local_list.local_list_send(station=station, full=True, by=actors.operator)
    assert command.status == CommandStatus.REJECTED
    assert LocalListVersion.objects.get(station=station).version == 0
