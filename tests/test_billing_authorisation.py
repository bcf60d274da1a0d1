"""Who may charge, answered from accounts, through a real charger on a real websocket."""

import asyncio
from datetime import timedelta
from decimal import Decimal

import pytest
from django.utils import timezone

from billing.models import Account, AccountStatus, AccountTag, Funding, PaymentMethod
from stations.models import ChargingSession, IdTag, IdTagStatus
from tests.factories import STATION_PASSWORD, IdTagFactory, StationFactory
from tests.ocpp_client import Charger, open_charger

pytestmark = pytest.mark.usefixtures("live_db")

NOW = timezone.now


def account(name: str, *, funding=Funding.CARD, status=AccountStatus.ACTIVE, card=True, **fields) -> Account:
    acct = Account.objects.create(name=name, funding=funding, status=status, **fields)
    if card:
        PaymentMethod.objects.create(
            account=acct,
            provider_customer_id=f"cus_{name}",
            provider_method_id=f"pm_{name}",
            brand="visa",
            last4="4242",
        )
    return acct


def tag_of(acct: Account | None, id_tag: str, **fields) -> IdTag:
    tag = IdTagFactory(id_tag=id_tag, **fields)
    if acct is not None:
        AccountTag.objects.create(account=acct, id_tag=tag)
    return tag


async def _authorise_all(url: str, identity: str, id_tags: list[str], start_with: str | None = None) -> dict:
    async with open_charger(url, identity, STATION_PASSWORD) as ws:
        charger = Charger(ws)
        await charger.result("BootNotification", {"chargePointVendor": "Acme", "chargePointModel": "X1"})
        answers = {}
        for id_tag in id_tags:
            answers[id_tag] = (await charger.result("Authorize", {"idTag": id_tag}))["idTagInfo"]
        if start_with:
            started = await charger.result(
                "StartTransaction",
                {"connectorId": 1, "idTag": start_with, "meterStart": 100, "timestamp": NOW().isoformat()},
            )
            answers["start"] = started["idTagInfo"]
        return answers


def test_every_authorisation_answer_comes_from_the_account(ocpp_server):
    StationFactory(identity="AUTH-1")
    ok = account("ok")
    tag_of(ok, "OK-1")
    tag_of(account("blocked", status=AccountStatus.BLOCKED, status_reason="unpaid"), "BLOCKED-1")
    tag_of(account("closed", status=AccountStatus.CLOSED), "CLOSED-1")
    tag_of(ok, "EXPIRED-1", expiry_date=NOW() - timedelta(days=1))
    tag_of(account("no card", card=False), "NOCARD-1")
    tag_of(account("prepaid empty", funding=Funding.PREPAID, card=False), "PREPAID-0")
    tag_of(account("prepaid", funding=Funding.PREPAID, card=False, balance=Decimal("20.00")), "PREPAID-20")
    tag_of(None, "FREE-1")  # no account: the stations app's own tag rules answer

    answers = asyncio.run(
        _authorise_all(
            ocpp_server.url,
            "AUTH-1",
            ["OK-1", "BLOCKED-1", "CLOSED-1", "EXPIRED-1", "NOCARD-1", "PREPAID-0", "PREPAID-20", "FREE-1", "NOBODY"],
        )
    )

    statuses = {tag: info["status"] for tag, info in answers.items()}
    assert statuses == {
        "OK-1": IdTagStatus.ACCEPTED,
        "BLOCKED-1": IdTagStatus.BLOCKED,
        "CLOSED-1": IdTagStatus.INVALID,
        "EXPIRED-1": IdTagStatus.EXPIRED,
        "NOCARD-1": IdTagStatus.BLOCKED,
        "PREPAID-0": IdTagStatus.BLOCKED,
        "PREPAID-20": IdTagStatus.ACCEPTED,
        "FREE-1": IdTagStatus.ACCEPTED,
        "NOBODY": IdTagStatus.INVALID,
    }


def test_a_driver_account_charging_elsewhere_is_concurrent_but_a_fleet_is_not(ocpp_server):
    station = StationFactory(identity="AUTH-2")
    other = StationFactory(identity="AUTH-3")
    driver = account("driver")
    tag_of(driver, "DRIVER-A")
    tag_of(driver, "DRIVER-B")
    fleet = account("fleet", allow_concurrent_sessions=True)
    tag_of(fleet, "FLEET-A")
    tag_of(fleet, "FLEET-B")
    for id_tag in ("DRIVER-A", "FLEET-A"):
        ChargingSession.objects.create(
            station=other,
            connector=other.connectors.get_or_create(connector_id=1)[0],
            id_tag=id_tag,
            id_tag_status=IdTagStatus.ACCEPTED,
            meter_start=0,
            start_at=NOW() - timedelta(minutes=10),
            start_fingerprint=f"running-{id_tag}",
        )

    answers = asyncio.run(_authorise_all(ocpp_server.url, station.identity, ["DRIVER-B", "FLEET-B"], "DRIVER-B"))

    assert answers["DRIVER-B"]["status"] == IdTagStatus.CONCURRENT_TX
    assert answers["FLEET-B"]["status"] == IdTagStatus.ACCEPTED
    # The charger started anyway (it may have been offline): the session is recorded,
    # and the answer tells it not to go on.
    assert answers["start"]["status"] == IdTagStatus.CONCURRENT_TX
    assert ChargingSession.objects.filter(station=station, id_tag="DRIVER-B").count() == 1


def test_a_child_tag_charges_to_its_parents_account_and_names_the_parent(ocpp_server):
    StationFactory(identity="AUTH-4")
    fleet = account("parent fleet", allow_concurrent_sessions=True)
    parent = tag_of(fleet, "PARENT-1")
    IdTagFactory(id_tag="CHILD-1", parent=parent)
    blocked = account("blocked parent", status=AccountStatus.BLOCKED)
    blocked_parent = tag_of(blocked, "PARENT-2")
    IdTagFactory(id_tag="CHILD-2", parent=blocked_parent)

    answers = asyncio.run(_authorise_all(ocpp_server.url, "AUTH-4", ["CHILD-1", "CHILD-2"]))

    assert answers["CHILD-1"] == {"status": IdTagStatus.ACCEPTED, "parentIdTag": "PARENT-1"}
    assert answers["CHILD-2"] == {"status": IdTagStatus.BLOCKED, "parentIdTag": "PARENT-2"}


def test_a_postpaid_account_over_its_credit_limit_is_blocked(ocpp_server):
    from billing.services import ledger

    StationFactory(identity="AUTH-5")
    within = account("within", funding=Funding.POSTPAID, card=False, credit_limit=Decimal("100"))
    over = account("over", funding=Funding.POSTPAID, card=False, credit_limit=Decimal("100"))
    tag_of(within, "POST-OK")
    tag_of(over, "POST-OVER")
    for acct, owed in ((within, Decimal("99.99")), (over, Decimal("100.00"))):
        ledger.posting_create(
            kind="session_priced",
            currency=acct.currency,
            entries=[(ledger.receivable(acct), owed), (ledger.REVENUE, -owed)],
            account=acct,
        )

    answers = asyncio.run(_authorise_all(ocpp_server.url, "AUTH-5", ["POST-OK", "POST-OVER"]))

    assert answers["POST-OK"]["status"] == IdTagStatus.ACCEPTED
    assert answers["POST-OVER"]["status"] == IdTagStatus.BLOCKED
