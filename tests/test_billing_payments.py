"""Payments: holds, captures, voids, refunds, webhooks and reconciliation, with money that always adds up.

The real `stripe` library talks to tests/fake_stripe.py on loopback. The whole
flow runs through a charger on a real websocket, a real server process and a
real Celery worker; the rest calls the services against the same fake.
"""

import asyncio
import itertools
import json
import threading
import time
import urllib.error
import urllib.request
from datetime import timedelta
from decimal import Decimal as D

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from django.db import connections
from django.utils import timezone
from hypothesis import HealthCheck, given
from hypothesis import settings as hypothesis_settings
from hypothesis import strategies as st

from billing.models import (
    Account,
    AccountStatus,
    AccountTag,
    Funding,
    LedgerEntry,
    Payment,
    PaymentMethod,
    PaymentStatus,
    Refund,
    RefundLimit,
    RefundStatus,
    SessionBilling,
    WebhookEvent,
)
from billing.services import ledger, payments, sessions, tariffs
from billing.services.payments import RefundRefused, TopUpMethod
from stations.models import ChargingSession
from tests.factories import STATION_PASSWORD, ConnectorFactory, IdTagFactory, StationFactory
from tests.fake_stripe import API_KEY, DECLINED_METHOD, WEBHOOK_SECRET, FakeStripe
from tests.helpers import eventually
from tests.ocpp_client import Charger, open_charger

# send_task always goes to the broker, past the test process's eager setting: that is the point.
pytestmark = pytest.mark.filterwarnings("ignore::celery.exceptions.AlwaysEagerIgnored")

CAPTURE = r"POST /v1/payment_intents/\w+/capture"
_numbers = itertools.count(1)


# --- Fixtures -------------------------------------------------------------------


@pytest.fixture(scope="module")
def fake_stripe():
    with FakeStripe(lost_delay=1.5) as fake:
        yield fake


@pytest.fixture(autouse=True)
def stripe_settings(settings, fake_stripe):
    """The test process's services talk to the fake, as the server and worker processes do."""
    fake_stripe.reset()
    settings.STRIPE_API_KEY = API_KEY
    settings.STRIPE_API_BASE = fake_stripe.url
    settings.STRIPE_WEBHOOK_SECRET = WEBHOOK_SECRET
    settings.STRIPE_TIMEOUT_S = 1.0
    settings.STRIPE_MAX_NETWORK_RETRIES = 0
    settings.PAYMENT_CAPTURE_BACKOFF_S = 0
    settings.PAYMENT_CAPTURE_MAX_ATTEMPTS = 3
    return fake_stripe


def stack_env(fake: FakeStripe) -> dict:
    return {
        "STRIPE_API_KEY": API_KEY,
        "STRIPE_API_BASE": fake.url,
        "STRIPE_WEBHOOK_SECRET": WEBHOOK_SECRET,
        "STRIPE_TIMEOUT_S": "1",
        "STRIPE_MAX_NETWORK_RETRIES": "0",
        "PAYMENT_CAPTURE_BACKOFF_S": "0",
        "PAYMENT_CAPTURE_MAX_ATTEMPTS": "3",
    }


class Stack:
    """A server process and a Celery worker, both talking to the fake provider."""

    def __init__(self, server, fake: FakeStripe):
        self.server, self.fake = server, fake
        self._worker_cm = None
        self.worker = None

    def start_worker(self) -> None:
        from tests.conftest import run_worker

        self._worker_cm = run_worker(**stack_env(self.fake))
        self.worker = self._worker_cm.__enter__()

    def stop_worker(self) -> None:
        if self._worker_cm is not None:
            self._worker_cm.__exit__(None, None, None)
            self._worker_cm = self.worker = None


@pytest.fixture(scope="module")
def stack(django_db_setup, django_db_blocker, fake_stripe):
    from tests.conftest import run_server

    with run_server(**stack_env(fake_stripe)) as server:
        running = Stack(server, fake_stripe)
        running.start_worker()
        try:
            yield running
        finally:
            running.stop_worker()


def sweep_on_worker() -> None:
    from config.celery import app as celery_app

    celery_app.send_task("billing.tasks.payment_sweep")


def card_account(*, method: str = "pm_card_visa", preauth: D = D("30"), funding: str = Funding.CARD, tag: str = ""):
    """A station with a 0.50/kWh tariff, and an account whose tag charges there."""
    number = next(_numbers)
    station = StationFactory(identity=f"PAY-{number}")
    ConnectorFactory(station=station, connector_id=1)
    tariffs.tariff_create(
        name=f"Tariff {number}", currency="EUR", stations=[station], price_per_kwh=D("0.50"), preauth_amount=preauth
    )
    account = Account.objects.create(name=f"Driver {number}", funding=funding, currency="EUR")
    if funding == Funding.CARD or method != "pm_card_visa":
        PaymentMethod.objects.create(
            account=account, provider_customer_id=f"cus_{number}", provider_method_id=method, brand="visa", last4="4242"
        )
    id_tag = IdTagFactory(id_tag=tag or f"TAG-PAY-{number}")
    AccountTag.objects.create(account=account, id_tag=id_tag)
    return station, account, id_tag.id_tag


def session_started(station, id_tag: str) -> ChargingSession:
    """A session begun as the OCPP handler records it, billed and held as the start task does."""
    session = ChargingSession.objects.create(
        station=station,
        connector=station.connectors.get(connector_id=1),
        id_tag=id_tag,
        id_tag_status="Accepted",
        meter_start=0,
        start_at=timezone.now() - timedelta(hours=1),
        start_fingerprint=f"fp-{next(_numbers)}",
    )
    sessions.session_billing_open(session_id=session.pk)
    payments.payment_authorise(session_id=session.pk)
    return session


def session_stopped(session: ChargingSession, *, wh: int) -> Payment | None:
    ChargingSession.objects.filter(pk=session.pk).update(meter_stop=wh, energy_wh=wh, stop_at=timezone.now())
    sessions.session_price(session_id=session.pk)
    return payments.payment_settle(session_id=session.pk)


def balance(code: str) -> D:
    return ledger.ledger_balance(code, "EUR")


def refund(payment, amount, *, by, key=None, reason="charger fault"):
    return payments.payment_refund(
        payment=payment, amount=D(amount), reason=reason, by=by, idempotency_key=key or f"r-{next(_numbers)}"
    )


def in_threads(count: int, fn) -> list:
    """Run fn(i) in `count` threads started together; returns results or the exceptions raised."""
    barrier = threading.Barrier(count)
    results: list = [None] * count

    def run(i):
        barrier.wait()
        try:
            results[i] = fn(i)
        except Exception as exc:  # collected for the test to look at
            results[i] = exc
        finally:
            connections.close_all()

    threads = [threading.Thread(target=run, args=(i,)) for i in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    return results


# --- Through a charger, the server and a worker ---------------------------------------


async def _charge(url: str, identity: str, id_tag: str, *, wh: int, before_stop=None) -> dict:
    answers = {}
    async with open_charger(url, identity, STATION_PASSWORD) as ws:
        cp = Charger(ws)
        await cp.result("BootNotification", {"chargePointVendor": "Acme", "chargePointModel": "X1"})
        answers["authorize"] = await cp.result("Authorize", {"idTag": id_tag})
        now = timezone.now()
        start = await cp.result(
            "StartTransaction",
            {"connectorId": 1, "idTag": id_tag, "meterStart": 0, "timestamp": (now - timedelta(hours=1)).isoformat()},
        )
        answers["transaction"] = start["transactionId"]
        if before_stop:
            await asyncio.to_thread(before_stop, start["transactionId"])
        answers["stop"] = await cp.result(
            "StopTransaction",
            {"transactionId": start["transactionId"], "meterStop": wh, "timestamp": now.isoformat(), "idTag": id_tag},
        )
    return answers


async def _authorize(url: str, identity: str, id_tag: str) -> dict:
    async with open_charger(url, identity, STATION_PASSWORD) as ws:
        cp = Charger(ws)
        await cp.result("BootNotification", {"chargePointVendor": "Acme", "chargePointModel": "X1"})
        return await cp.result("Authorize", {"idTag": id_tag})


def held(transaction_id: int) -> Payment:
    """Wait (in the charger's thread) until the worker has placed the session's hold."""

    def authorised():
        try:
            return Payment.objects.filter(session_id=transaction_id).exclude(status=PaymentStatus.PENDING).first()
        finally:
            connections.close_all()

    payment = eventually(authorised, timeout=20)
    assert payment is not None, "the hold was never placed"
    return payment


def settled(transaction_id: int, *statuses) -> Payment:
    payment = eventually(
        lambda: Payment.objects.filter(session_id=transaction_id, status__in=statuses).first(), timeout=20
    )
    assert payment is not None, Payment.objects.filter(session_id=transaction_id).values().first()
    return payment


@pytest.mark.usefixtures("live_db")
def test_card_session_is_held_at_start_captured_at_stop_and_the_rest_released(stack, fake_stripe):
    server = stack.server
    station, account, id_tag = card_account(preauth=D("30"))
    seen_at_start = {}

    def before_stop(transaction_id):
        payment = held(transaction_id)
        seen_at_start["payment"] = payment
        seen_at_start["intent"] = fake_stripe.intent(payment.provider_payment_id)
        try:
            seen_at_start["holds"] = balance(ledger.holds("stripe"))
        finally:
            connections.close_all()

    answers = asyncio.run(_charge(server.url, station.identity, id_tag, wh=10_000, before_stop=before_stop))

    assert answers["authorize"]["idTagInfo"]["status"] == "Accepted"
    assert seen_at_start["payment"].status == PaymentStatus.AUTHORISED
    assert seen_at_start["payment"].amount_authorised == D("30.00")
    intent = seen_at_start["intent"]
    assert (intent["status"], intent["amount_capturable"], intent["capture_method"]) == (
        "requires_capture",
        3000,
        "manual",
    )
    assert (intent["customer"], intent["payment_method"]) == (f"cus_{account.name.split()[-1]}", "pm_card_visa")
    assert seen_at_start["holds"] == D("30.00")

    payment = settled(answers["transaction"], PaymentStatus.CAPTURED)
    assert payment.amount_captured == D("5.00")  # 10 kWh at 0.50
    intent = fake_stripe.intent(payment.provider_payment_id)
    assert (intent["status"], intent["amount_received"], intent["amount_capturable"]) == ("succeeded", 500, 0)
    assert balance(ledger.receivable(account)) == 0
    assert balance(ledger.cash("stripe")) == D("5.00")
    assert balance(ledger.holds("stripe")) == 0
    assert ledger.ledger_is_balanced()
    assert list(payment.events.values_list("kind", flat=True)) == ["authorised", "captured"]


@pytest.mark.usefixtures("live_db")
def test_zero_price_voids_the_hold(stack, fake_stripe):
    server = stack.server
    station, account, id_tag = card_account()

    answers = asyncio.run(_charge(server.url, station.identity, id_tag, wh=0, before_stop=held))

    payment = settled(answers["transaction"], PaymentStatus.VOIDED)
    assert fake_stripe.intent(payment.provider_payment_id)["status"] == "canceled"
    assert not fake_stripe.calls(CAPTURE)
    assert balance(ledger.holds("stripe")) == 0
    assert balance(ledger.receivable(account)) == 0
    assert ledger.ledger_is_balanced()


@pytest.mark.usefixtures("live_db")
def test_price_above_the_hold_captures_the_hold_and_leaves_the_rest_owed(stack, fake_stripe):
    server = stack.server
    station, account, id_tag = card_account(preauth=D("30"))

    answers = asyncio.run(_charge(server.url, station.identity, id_tag, wh=100_000, before_stop=held))  # 50.00

    payment = settled(answers["transaction"], PaymentStatus.CAPTURED)
    assert payment.amount_captured == D("30.00")
    assert fake_stripe.intent(payment.provider_payment_id)["amount_received"] == 3000
    assert balance(ledger.receivable(account)) == D("20.00")
    assert "20.00 stays owed" in payment.events.get(kind="captured").detail
    assert ledger.ledger_is_balanced()


@pytest.mark.usefixtures("live_db")
def test_failed_capture_is_retried_by_the_worker_and_succeeds(stack, fake_stripe):
    server = stack.server
    station, account, id_tag = card_account()
    fake_stripe.fail_next(CAPTURE, "server_error")

    answers = asyncio.run(_charge(server.url, station.identity, id_tag, wh=10_000, before_stop=held))

    failed = settled(answers["transaction"], PaymentStatus.CAPTURE_FAILED)
    assert failed.capture_attempts == 1
    assert failed.next_capture_at is not None
    assert "Something went wrong" in failed.last_error
    sweep_on_worker()
    payment = settled(answers["transaction"], PaymentStatus.CAPTURED)
    assert payment.amount_captured == D("5.00")
    assert fake_stripe.captures(payment.provider_payment_id) == 1
    assert Account.objects.get(pk=account.pk).status == AccountStatus.ACTIVE
    assert ledger.ledger_is_balanced()


@pytest.mark.usefixtures("live_db")
def test_exhausted_capture_retries_block_the_account_and_its_tag(stack, fake_stripe):
    server = stack.server
    station, account, id_tag = card_account()
    for _ in range(3):
        fake_stripe.fail_next(CAPTURE, "card_declined")

    answers = asyncio.run(_charge(server.url, station.identity, id_tag, wh=10_000, before_stop=held))
    settled(answers["transaction"], PaymentStatus.CAPTURE_FAILED)
    for attempt in (2, 3):
        sweep_on_worker()
        assert eventually(
            lambda attempt=attempt: (
                Payment.objects.get(session_id=answers["transaction"]).capture_attempts == attempt
                and Payment.objects.get(session_id=answers["transaction"]).last_error
            ),
            timeout=20,
        )

    payment = eventually(
        lambda: Payment.objects.filter(session_id=answers["transaction"], next_capture_at__isnull=True).first(),
        timeout=20,
    )
    assert payment.status == PaymentStatus.CAPTURE_FAILED
    account.refresh_from_db()
    assert account.status == AccountStatus.BLOCKED
    assert f"payment {payment.pk} could not be captured after 3 attempts" in account.status_reason
    assert balance(ledger.receivable(account)) == D("5.00")  # the debt stays on the account
    assert asyncio.run(_authorize(server.url, station.identity, id_tag))["idTagInfo"]["status"] == "Blocked"


@pytest.mark.usefixtures("live_db")
def test_capture_whose_answer_was_lost_ends_captured_once(stack, fake_stripe):
    server = stack.server
    station, account, id_tag = card_account()
    fake_stripe.fail_next(CAPTURE, "lost")  # applied at the provider, answered after the client gave up

    answers = asyncio.run(_charge(server.url, station.identity, id_tag, wh=10_000, before_stop=held))
    failed = settled(answers["transaction"], PaymentStatus.CAPTURE_FAILED)
    assert fake_stripe.captures(failed.provider_payment_id) == 1
    sweep_on_worker()

    payment = settled(answers["transaction"], PaymentStatus.CAPTURED)
    assert payment.amount_captured == D("5.00")
    assert fake_stripe.captures(payment.provider_payment_id) == 1
    assert len(fake_stripe.calls(CAPTURE)) == 1  # the retry looked first, and did not ask again
    assert LedgerEntry.objects.filter(posting__payment=payment, posting__kind="captured").count() == 2
    assert ledger.ledger_is_balanced()


@pytest.mark.usefixtures("live_db")
def test_worker_killed_mid_capture_does_not_capture_twice(stack, fake_stripe):
    server = stack.server
    station, account, id_tag = card_account()
    fake_stripe.lost_delay = 8  # the worker is killed while it waits for this answer
    fake_stripe.fail_next(CAPTURE, "lost")
    try:
        answers = asyncio.run(_charge(server.url, station.identity, id_tag, wh=10_000, before_stop=held))
        assert eventually(lambda: fake_stripe.calls(CAPTURE), timeout=20)
        stack.worker.kill()
        stack.worker.wait(10)
    finally:
        fake_stripe.lost_delay = 1.5
    claimed = Payment.objects.get(session_id=answers["transaction"])
    assert (claimed.status, claimed.capture_attempts) == (PaymentStatus.AUTHORISED, 1)  # claimed, never finished

    stack.stop_worker()
    stack.start_worker()
    time.sleep(max(0.0, (claimed.next_capture_at - timezone.now()).total_seconds()) + 0.2)  # the lease runs out
    sweep_on_worker()
    payment = settled(answers["transaction"], PaymentStatus.CAPTURED)

    assert fake_stripe.captures(payment.provider_payment_id) == 1
    assert payment.amount_captured == D("5.00")
    assert ledger.ledger_is_balanced()


# --- Captures and refunds, concurrently and repeated ---------------------------------


@pytest.mark.usefixtures("transactional_db")
def test_concurrent_captures_of_one_payment_capture_once(fake_stripe):
    station, account, id_tag = card_account()
    session = session_started(station, id_tag)
    ChargingSession.objects.filter(pk=session.pk).update(meter_stop=10_000, stop_at=timezone.now())
    sessions.session_price(session_id=session.pk)
    payment = Payment.objects.get(session=session)

    results = in_threads(6, lambda i: payments.payment_capture(payment=payment))

    assert not [r for r in results if isinstance(r, Exception)], results
    payment.refresh_from_db()
    assert (payment.status, payment.amount_captured, payment.capture_attempts) == (PaymentStatus.CAPTURED, D("5"), 1)
    assert fake_stripe.captures(payment.provider_payment_id) == 1
    assert payment.events.filter(kind="captured").count() == 1
    assert ledger.ledger_is_balanced()


@pytest.mark.usefixtures("transactional_db")
def test_settling_again_moves_no_money(fake_stripe):
    station, account, id_tag = card_account()
    session = session_started(station, id_tag)
    session_stopped(session, wh=10_000)
    entries = LedgerEntry.objects.count()

    payments.payment_settle(session_id=session.pk)
    payments.payment_sweep()

    assert LedgerEntry.objects.count() == entries
    assert len(fake_stripe.calls(CAPTURE)) == 1


@pytest.fixture
def captured(transactional_db, fake_stripe):
    """A card session priced and captured at 5.00."""
    station, account, id_tag = card_account()
    payment = session_stopped(session_started(station, id_tag), wh=10_000)
    assert payment.status == PaymentStatus.CAPTURED
    return payment


def test_refund_with_the_same_key_twice_refunds_once(captured, actors, fake_stripe):
    first = refund(captured, "2.00", by=actors.operator, key="ticket-7")
    again = refund(captured, "2.00", by=actors.operator, key="ticket-7")

    assert again.pk == first.pk
    assert first.status == RefundStatus.SUCCEEDED and first.provider_refund_id.startswith("re_")
    assert len(fake_stripe.calls("POST /v1/refunds")) == 1
    assert fake_stripe.charge_of(captured.provider_payment_id)["amount_refunded"] == 200
    captured.refresh_from_db()
    assert captured.amount_refunded == D("2.00")
    assert balance(ledger.REFUNDS) == D("2.00")
    assert balance(ledger.cash("stripe")) == D("3.00")
    assert first.by == actors.operator
    assert captured.events.get(kind="refunded").by == actors.operator
    assert ledger.ledger_is_balanced()


def test_the_same_key_for_a_different_refund_is_refused(captured, actors):
    refund(captured, "2.00", by=actors.operator, key="ticket-8")
    with pytest.raises(RefundRefused, match="another refund"):
        refund(captured, "3.00", by=actors.operator, key="ticket-8")


def test_concurrent_refunds_never_exceed_the_capture(captured, actors, fake_stripe):
    results = in_threads(6, lambda i: refund(captured, "2.00", by=actors.operator, key=f"race-{i}"))

    granted = [r for r in results if isinstance(r, Refund)]
    refused = [r for r in results if isinstance(r, RefundRefused)]
    assert (len(granted), len(refused)) == (2, 4), results
    assert all("left to refund" in r.message for r in refused)
    captured.refresh_from_db()
    assert captured.amount_refunded == D("4.00")
    assert fake_stripe.charge_of(captured.provider_payment_id)["amount_refunded"] == 400
    assert ledger.ledger_is_balanced()


def test_concurrent_requests_with_one_key_refund_once(captured, actors, fake_stripe):
    results = in_threads(6, lambda i: refund(captured, "1.50", by=actors.operator, key="double-click"))

    assert all(isinstance(r, Refund) for r in results), results
    assert len({r.pk for r in results}) == 1
    assert Refund.objects.count() == 1
    assert fake_stripe.charge_of(captured.provider_payment_id)["amount_refunded"] == 150
    assert balance(ledger.REFUNDS) == D("1.50")


def test_refund_whose_answer_was_lost_is_finished_by_the_same_key(captured, actors, fake_stripe, settings):
    fake_stripe.fail_next("POST /v1/refunds", "lost")

    pending = refund(captured, "2.00", by=actors.operator, key="lost-refund")
    assert pending.status == RefundStatus.PENDING
    captured.refresh_from_db()
    assert captured.amount_refunded == D("2.00")  # reserved meanwhile
    Refund.objects.filter(pk=pending.pk).update(created_at=timezone.now() - timedelta(minutes=5))

    finished = refund(captured, "2.00", by=actors.operator, key="lost-refund")

    assert (finished.pk, finished.status) == (pending.pk, RefundStatus.SUCCEEDED)
    assert fake_stripe.charge_of(captured.provider_payment_id)["amount_refunded"] == 200
    assert balance(ledger.REFUNDS) == D("2.00")
    assert ledger.ledger_is_balanced()


def test_refund_the_provider_refuses_releases_the_reservation(captured, actors, fake_stripe):
    fake_stripe.fail_next("POST /v1/refunds", "server_error")

    with pytest.raises(RefundRefused, match="provider refused"):
        refund(captured, "2.00", by=actors.operator)

    captured.refresh_from_db()
    assert captured.amount_refunded == 0
    assert Refund.objects.get().status == RefundStatus.FAILED
    assert refund(captured, "5.00", by=actors.operator).status == RefundStatus.SUCCEEDED


def test_support_agent_refunds_within_their_limit_only(captured, actors):
    RefundLimit.objects.create(user=actors.support, max_amount=D("2.00"), currency="EUR")

    assert refund(captured, "2.00", by=actors.support).status == RefundStatus.SUCCEEDED
    with pytest.raises(RefundRefused, match="refund limit is 2.00 EUR"):
        refund(captured, "2.50", by=actors.support)
    assert refund(captured, "3.00", by=actors.operator).status == RefundStatus.SUCCEEDED  # operators: any amount


def test_refunds_refused_for_the_wrong_person_or_amount(captured, actors):
    with pytest.raises(RefundRefused, match="no refund limit"):
        refund(captured, "1.00", by=actors.support)  # a support agent without a limit row
    with pytest.raises(RefundRefused, match="may not give refunds"):
        refund(captured, "1.00", by=actors.dispatcher)
    for amount, message in (("0", "positive"), ("-1", "positive"), ("1.001", "decimals"), ("5.01", "at most 5.00")):
        with pytest.raises(RefundRefused, match=message):
            refund(captured, amount, by=actors.operator)
    with pytest.raises(RefundRefused, match="say why"):
        refund(captured, "1.00", by=actors.operator, reason="  ")
    assert not Refund.objects.exists()


# --- Prepaid and postpaid ------------------------------------------------------------


@pytest.mark.usefixtures("transactional_db")
def test_prepaid_top_ups_and_spend_move_the_balance_through_the_ledger(actors, fake_stripe):
    station, account, id_tag = card_account(funding=Funding.PREPAID, method="pm_card_visa_prepaid")

    manual = payments.account_topup(
        account=account, amount=D("20"), method=TopUpMethod.MANUAL, by=actors.operator, idempotency_key="desk-1"
    )
    again = payments.account_topup(
        account=account, amount=D("20"), method=TopUpMethod.MANUAL, by=actors.operator, idempotency_key="desk-1"
    )
    card = payments.account_topup(
        account=account, amount=D("10"), method=TopUpMethod.CARD, by=actors.support, idempotency_key="app-1"
    )
    spend = session_stopped(session_started(station, id_tag), wh=10_000)

    assert again.pk == manual.pk
    assert manual.events.get(kind="topped_up").by == actors.operator
    assert card.status == PaymentStatus.CAPTURED
    assert fake_stripe.intent(card.provider_payment_id)["amount_received"] == 1000
    assert (spend.gateway, spend.status, spend.amount_captured) == ("prepaid", PaymentStatus.CAPTURED, D("5.00"))
    account.refresh_from_db()
    assert account.balance == D("25.00") == -balance(ledger.prepaid(account))
    assert balance(ledger.receivable(account)) == 0
    refund(spend, "1.00", by=actors.operator)
    account.refresh_from_db()
    assert account.balance == D("26.00")
    assert ledger.ledger_is_balanced()


@pytest.mark.usefixtures("transactional_db")
def test_postpaid_session_is_invoiced_and_stays_on_the_receivable(fake_stripe):
    station, account, id_tag = card_account(funding=Funding.POSTPAID)

    payment = session_stopped(session_started(station, id_tag), wh=10_000)

    assert (payment.gateway, payment.status, payment.amount_captured) == ("invoice", PaymentStatus.INVOICED, 0)
    assert balance(ledger.receivable(account)) == D("5.00")
    assert fake_stripe.state.requests == []


@pytest.mark.usefixtures("transactional_db")
def test_declined_hold_is_recorded_without_blocking_the_account(fake_stripe):
    station, account, id_tag = card_account(method=DECLINED_METHOD)

    session = session_started(station, id_tag)
    payment = Payment.objects.get(session=session)
    session_stopped(session, wh=10_000)

    payment.refresh_from_db()
    assert payment.status == PaymentStatus.FAILED
    assert "declined" in payment.last_error
    assert Account.objects.get(pk=account.pk).status == AccountStatus.ACTIVE
    assert balance(ledger.receivable(account)) == D("5.00")


# --- Webhooks ------------------------------------------------------------------


def post_webhook(server, payload: str, signature: str) -> tuple[int, dict | str]:
    request = urllib.request.Request(
        f"{server.http}/billing/webhooks/stripe/",
        data=payload.encode(),
        headers={"Content-Type": "application/json", "Stripe-Signature": signature},
        method="POST",
    )
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read().decode()


@pytest.mark.usefixtures("live_db")
def test_webhook_moves_a_payment_once_and_a_replay_changes_nothing(stack, fake_stripe):
    server = stack.server
    station, account, id_tag = card_account()
    session = session_started(station, id_tag)
    ChargingSession.objects.filter(pk=session.pk).update(meter_stop=10_000, stop_at=timezone.now())
    sessions.session_price(session_id=session.pk)
    payment = Payment.objects.get(session=session)
    # Captured at the provider while our capture's answer never came.
    with fake_stripe.lock:
        fake_stripe._capture(fake_stripe.state.intents[payment.provider_payment_id], {"amount_to_capture": "500"})
    payload = json.dumps(fake_stripe.event("payment_intent.succeeded", fake_stripe.intent(payment.provider_payment_id)))

    first = post_webhook(server, payload, fake_stripe.sign(payload))
    replay = post_webhook(server, payload, fake_stripe.sign(payload))

    assert first == (200, {"received": True, "replay": False, "changes": ["captured"]})
    assert replay == (200, {"received": True, "replay": True, "changes": []})
    payment.refresh_from_db()
    assert (payment.status, payment.amount_captured) == (PaymentStatus.CAPTURED, D("5.00"))
    assert payment.events.filter(kind="captured").count() == 1
    assert WebhookEvent.objects.get().processed_at is not None
    assert balance(ledger.receivable(account)) == 0
    assert ledger.ledger_is_balanced()


@pytest.mark.usefixtures("live_db")
def test_webhook_records_a_refund_made_at_the_provider(stack, fake_stripe):
    server = stack.server
    station, account, id_tag = card_account()
    payment = session_stopped(session_started(station, id_tag), wh=10_000)
    fake_stripe.refund_outside(payment.provider_payment_id, 150)
    payload = json.dumps(fake_stripe.event("charge.refunded", fake_stripe.charge_of(payment.provider_payment_id)))

    status, answer = post_webhook(server, payload, fake_stripe.sign(payload))

    assert status == 200 and answer["changes"][0].endswith("recorded")
    payment.refresh_from_db()
    assert payment.amount_refunded == D("1.50")
    assert Refund.objects.get(payment=payment).status == RefundStatus.SUCCEEDED
    assert balance(ledger.REFUNDS) == D("1.50")
    assert post_webhook(server, payload, fake_stripe.sign(payload))[1]["replay"] is True
    assert Refund.objects.count() == 1


@pytest.mark.usefixtures("live_db")
@pytest.mark.parametrize(
    "signature",
    [
        pytest.param(lambda fake, payload: fake.sign(payload, secret="whsec_someone_else"), id="forged"),
        pytest.param(lambda fake, payload: fake.sign(payload, timestamp=int(time.time()) - 3600), id="stale"),
        pytest.param(lambda fake, payload: "t=1,v1=00", id="garbage"),
        pytest.param(lambda fake, payload: "", id="missing"),
    ],
)
def test_webhook_with_a_bad_signature_is_refused(stack, fake_stripe, signature):
    server = stack.server
    payload = json.dumps(fake_stripe.event("payment_intent.succeeded", {"id": "pi_x", "object": "payment_intent"}))

    status, _ = post_webhook(server, payload, signature(fake_stripe, payload))

    assert status == 400
    assert not WebhookEvent.objects.exists()


# --- Reconciliation -----------------------------------------------------------


@pytest.fixture
def mismatched(transactional_db, fake_stripe):
    """One session that adds up, and one captured at the provider behind our back."""
    station, account, id_tag = card_account()
    good = session_stopped(session_started(station, id_tag), wh=10_000)
    station2, account2, id_tag2 = card_account()
    session = session_started(station2, id_tag2)
    ChargingSession.objects.filter(pk=session.pk).update(meter_stop=10_000, stop_at=timezone.now())
    sessions.session_price(session_id=session.pk)
    bad = Payment.objects.get(session=session)
    with fake_stripe.lock:
        fake_stripe._capture(fake_stripe.state.intents[bad.provider_payment_id], {"amount_to_capture": "400"})
    return good, bad


def test_reconciliation_page_flags_what_does_not_add_up(client, actors, mismatched):
    good, bad = mismatched
    client.force_login(actors.operator)

    page = client.get("/billing/reconciliation/")
    only = client.get("/billing/reconciliation/", {"mismatches": "on"})
    export = client.get("/billing/reconciliation/", {"format": "csv"})

    assert page.status_code == 200
    rows = {row.session_id: row for row in page.context["rows"]}
    assert not rows[good.session_id].mismatch
    assert rows[bad.session_id].provider_status == "captured"
    assert "the provider's is captured" in rows[bad.session_id].reason
    assert "the provider captured 4.00, we recorded 0.00" in rows[bad.session_id].reason
    assert [row.session_id for row in only.context["rows"]] == [bad.session_id]
    lines = export.content.decode().splitlines()
    assert export["Content-Type"].startswith("text/csv")
    assert lines[0].startswith("session,started,account")
    assert len(lines) == 3


def test_reconciliation_page_is_for_operators(client, actors, mismatched):
    client.force_login(actors.support)
    assert client.get("/billing/reconciliation/").status_code == 403
    client.logout()
    assert client.get("/billing/reconciliation/").status_code == 302


def test_reconcile_command_prints_mismatches_and_fails(mismatched, capsys):
    good, bad = mismatched

    with pytest.raises(CommandError, match="1 mismatches"):
        call_command("reconcile_payments")

    out = capsys.readouterr().out
    assert f"session {bad.session_id}" in out
    assert f"session {good.session_id}" not in out


# --- Money always adds up ------------------------------------------------------------


operations = st.lists(
    st.tuples(
        st.sampled_from(["refund", "refund_same_key", "capture_fails", "sweep"]),
        st.integers(min_value=1, max_value=4000),
    ),
    max_size=5,
)


@pytest.mark.usefixtures("transactional_db")
@hypothesis_settings(
    max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow]
)
@given(
    preauth_cents=st.integers(min_value=100, max_value=5000),
    wh=st.integers(min_value=0, max_value=120_000),
    fail_first_capture=st.booleans(),
    ops=operations,
)
def test_random_sessions_captures_and_refunds_keep_the_ledger_balanced(
    actors, fake_stripe, preauth_cents, wh, fail_first_capture, ops
):
    fake_stripe.clear_failures()  # not reset: earlier examples' payments stay in the database
    station, account, id_tag = card_account(preauth=D(preauth_cents) / 100)
    if fail_first_capture:
        fake_stripe.fail_next(CAPTURE, "server_error")
    session = session_started(station, id_tag)
    session_stopped(session, wh=wh)
    last_key = None
    for op, cents in ops:
        payment = Payment.objects.get(session=session)
        if op == "capture_fails":
            fake_stripe.fail_next(CAPTURE, "card_declined")
        elif op == "sweep":
            payments.payment_sweep()
        else:
            key = last_key if op == "refund_same_key" and last_key else f"p-{next(_numbers)}"
            last_key = key
            try:
                payments.payment_refund(
                    payment=payment, amount=D(cents) / 100, reason="test", by=actors.operator, idempotency_key=key
                )
            except RefundRefused:
                pass
    payments.payment_sweep()

    payment = Payment.objects.get(session=session)
    billing = SessionBilling.objects.get(session=session)
    intent = fake_stripe.intent(payment.provider_payment_id)
    charge = intent["latest_charge"] or {}
    assert ledger.ledger_is_balanced()
    assert payment.amount_captured <= payment.amount_authorised
    assert payment.amount_captured <= (billing.total or 0)
    assert payment.amount_refunded <= payment.amount_captured
    assert intent["amount_received"] <= intent["amount"]
    assert charge.get("amount_refunded", 0) == int(payment.amount_refunded * 100)
    assert intent["amount_received"] == int(payment.amount_captured * 100)
    owed = (billing.total or 0) - payment.amount_captured
    assert balance(ledger.receivable(account)) == owed
    refunds = Refund.objects.filter(payment=payment, status=RefundStatus.SUCCEEDED).values_list("amount", flat=True)
    assert sum(refunds, D(0)) == payment.amount_refunded


@pytest.mark.usefixtures("transactional_db")
def test_hold_whose_answer_was_lost_is_found_by_its_webhook(fake_stripe):
    from billing.services.webhooks import stripe_event_receive

    station, account, id_tag = card_account()
    fake_stripe.fail_next(r"POST /v1/payment_intents$", "lost")
    with pytest.raises(payments.GatewayError):
        session_started(station, id_tag)
    payment = Payment.objects.get()
    assert (payment.status, payment.provider_payment_id) == (PaymentStatus.PENDING, "")
    intent = fake_stripe.intent(next(iter(fake_stripe.state.intents)))

    outcome = stripe_event_receive(event=fake_stripe.event("payment_intent.amount_capturable_updated", intent))

    payment.refresh_from_db()
    assert outcome.changes == ("authorised",)
    assert (payment.status, payment.amount_authorised) == (PaymentStatus.AUTHORISED, D("30.00"))
    assert payment.provider_payment_id == intent["id"]
    assert balance(ledger.holds("stripe")) == D("30.00")


@pytest.mark.usefixtures("transactional_db")
def test_hold_canceled_at_the_provider_is_voided_by_its_webhook(fake_stripe):
    from billing.services.webhooks import stripe_event_receive

    station, account, id_tag = card_account()
    payment = Payment.objects.get(session=session_started(station, id_tag))
    with fake_stripe.lock:
        fake_stripe._cancel(fake_stripe.state.intents[payment.provider_payment_id])
    event = fake_stripe.event("payment_intent.canceled", fake_stripe.intent(payment.provider_payment_id))

    assert stripe_event_receive(event=event).changes == ("voided",)
    assert stripe_event_receive(event=event).replay

    payment.refresh_from_db()
    assert payment.status == PaymentStatus.VOIDED
    assert balance(ledger.holds("stripe")) == 0
    assert payment.events.filter(kind="voided").count() == 1


@pytest.mark.usefixtures("transactional_db")
def test_session_priced_after_a_meter_review_is_captured_by_the_sweep(actors, fake_stripe):
    station, account, id_tag = card_account()
    session = session_started(station, id_tag)
    ChargingSession.objects.filter(pk=session.pk).update(meter_flags=["register_backwards"])

    assert session_stopped(session, wh=10_000) is None  # waits for a person
    sessions.session_review_accept(session_id=session.pk, energy_wh=10_000, note="meter replaced", by=actors.operator)
    payments.payment_sweep()

    payment = Payment.objects.get(session=session)
    assert (payment.status, payment.amount_captured) == (PaymentStatus.CAPTURED, D("5.00"))
