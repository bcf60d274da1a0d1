"""Billing's portal pages: who may see what, the tariff form and its calculator, accounts,
the review queue, CDRs, receipts, invoices and refunds, on real services and a real database."""

import csv
import io
import socket
from datetime import UTC, datetime, timedelta
from decimal import Decimal as D

import pytest
from django.core import mail
from django.core.management import call_command
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from billing.models import (
    Account,
    AccountEvent,
    AccountStatus,
    AccountTag,
    Funding,
    Invoice,
    Payment,
    PaymentMethod,
    PaymentStatus,
    RefundLimit,
    SessionBilling,
    Tariff,
)
from billing.services import payments, receipts, sessions, tariffs
from billing.services.pricing import Terms, Usage, price
from stations.models import ChargingSession, MeterSample
from tests.factories import ConnectorFactory, IdTagFactory, SiteFactory, StationFactory

START = datetime(2026, 11, 10, 8, 0, tzinfo=UTC)


# --- builders shared by the billing tests -----------------------------------


def make_account(name="Ada", *, funding=Funding.PREPAID, email="ada@example.test", tag="ADA-1", **extra) -> Account:
    account = Account.objects.create(
        name=name, funding=funding, email=email, balance=extra.pop("balance", D("100")), **extra
    )
    AccountTag.objects.create(account=account, id_tag=IdTagFactory(id_tag=tag))
    return account


def make_session(
    connector,
    *,
    tag="ADA-1",
    start=START,
    minutes=60,
    wh=10_000,
    samples=6,
    stop_reason="Local",
    flags=(),
    power_w=None,
    running=False,
) -> ChargingSession:
    """A session with evenly spaced energy readings (and power readings when power_w is given)."""
    stop = start + timedelta(minutes=minutes)
    session = ChargingSession.objects.create(
        station=connector.station,
        connector=connector,
        id_tag=tag,
        id_tag_status="Accepted",
        meter_start=1000,
        meter_stop=None if running else 1000 + wh,
        start_at=start,
        stop_at=None if running else stop,
        stop_reason="" if running else stop_reason,
        energy_wh=None if running or flags else wh,
        meter_flags=list(flags),
        start_fingerprint=f"{connector.pk}-{start.isoformat()}",
    )
    rows = []
    for i in range(1, samples + 1):
        at = start + (stop - start) * i / (samples + 1)
        value = 1000 + wh * i / (samples + 1)
        rows.append(
            MeterSample(
                station=connector.station, connector=connector, session=session, timestamp=at,
                value=str(value), numeric_value=D(str(value)),
            )
        )  # fmt: skip
        if power_w is not None:
            rows.append(
                MeterSample(
                    station=connector.station, connector=connector, session=session, timestamp=at,
                    measurand="Power.Active.Import", unit="W", value=str(power_w[i - 1]),
                    numeric_value=D(str(power_w[i - 1])),
                )
            )  # fmt: skip
    MeterSample.objects.bulk_create(rows)
    return session


def make_tariff(station, *, name="Standard", **terms) -> Tariff:
    terms = {"price_per_kwh": D("0.40"), "session_fee": D("1.00"), "tax_rate": D("0.19"), **terms}
    return tariffs.tariff_create(name=name, currency="EUR", stations=[station], **terms)


def priced(session) -> SessionBilling:
    sessions.session_billing_open(session_id=session.pk)
    return sessions.session_price(session_id=session.pk).billing


@pytest.fixture
def place(db):
    site = SiteFactory(name="Harbour", time_zone="Europe/Amsterdam")
    station = StationFactory(identity="BILL-1", site=site)
    connector = ConnectorFactory(station=station, connector_id=1)
    return station, connector


# --- role boundaries ----------------------------------------------------------

OPERATOR_PAGES = [
    "/billing/sessions/",
    "/billing/payments/",
    "/billing/review/",
    "/billing/tariffs/",
    "/billing/tariffs/new/",
    "/billing/accounts/",
    "/billing/accounts/new/",
    "/billing/cdrs/",
    "/billing/invoices/",
]
SUPPORT_PAGES = ["/billing/support/", "/billing/support/tags/ADA-1/", "/billing/stations/BILL-1/"]


@pytest.mark.django_db
@pytest.mark.parametrize("url", OPERATOR_PAGES + SUPPORT_PAGES)
def test_every_billing_page_keeps_its_role_boundary(client, actors, place, url):
    make_account()
    expected = {
        "operator": 200,
        "support": 200 if url in SUPPORT_PAGES else 403,
        "dispatcher": 403,
        "technician": 403,
        "outsider": 403,
    }
    for role, status in expected.items():
        client.force_login(getattr(actors, role))
        assert client.get(url).status_code == status, (role, url)
    client.logout()
    response = client.get(url)
    assert response.status_code == 302 and "/login/" in response["Location"]


@pytest.mark.django_db
def test_billing_nav_entry_only_for_billing_roles(client, actors):
    for role, shown in (("operator", True), ("support", True), ("dispatcher", False), ("technician", False)):
        client.force_login(getattr(actors, role))
        page = client.get("/stations/" if role != "technician" else "/workorders/my/")
        assert (b'href="/billing/"' in page.content) is shown, role


@pytest.mark.django_db
def test_support_agent_cannot_post_operator_forms(client, actors, place):
    account = make_account()
    client.force_login(actors.support)
    assert client.post(f"/billing/accounts/{account.pk}/block/", {"reason": "x"}).status_code == 403
    assert client.post("/billing/tariffs/new/", {"name": "x"}).status_code == 403
    assert client.post("/billing/review/1/accept/", {}).status_code == 403
    assert Account.objects.get(pk=account.pk).status == AccountStatus.ACTIVE


# --- tariff form and calculator -------------------------------------------------


def tariff_post(**overrides) -> dict:
    data = {
        "name": "Harbour day/night",
        "currency": "EUR",
        "price_per_kwh": "0.40",
        "price_per_minute": "0",
        "idle_price_per_minute": "0.10",
        "idle_grace_minutes": "15",
        "session_fee": "1.00",
        "minimum_price": "",
        "maximum_price": "",
        "tax_rate": "0.19",
        "preauth_amount": "50",
        "stations": "BILL-1",
        "connectors": "",
        "periods-TOTAL_FORMS": "1",
        "periods-INITIAL_FORMS": "0",
        "periods-MIN_NUM_FORMS": "0",
        "periods-MAX_NUM_FORMS": "50",
        "periods-0-days": ["0", "1", "2", "3", "4", "5", "6"],
        "periods-0-start": "22:00",
        "periods-0-end": "06:00",
        "periods-0-price_per_kwh": "0.25",
        "periods-0-price_per_minute": "",
    }
    data.update(overrides)
    return data


@pytest.mark.django_db
def test_calculator_shows_the_price_of_the_terms_being_edited_without_saving(client, actors, place):
    client.force_login(actors.operator)
    usage = {
        "calc_start": "2026-11-10T20:00",
        "calc_end": "2026-11-11T00:00",
        "calc_energy_kwh": "30",
        "calc_idle_minutes": "45",
        "calc_time_zone": "Europe/Amsterdam",
        "calculate": "1",
    }

    response = client.post("/billing/tariffs/new/", tariff_post(**usage))

    assert response.status_code == 200
    assert not Tariff.objects.exists()
    zone = "Europe/Amsterdam"
    start = datetime(2026, 11, 10, 19, 0, tzinfo=UTC)  # 20:00 in Amsterdam (UTC+1)
    end, idle_from = start + timedelta(hours=4), start + timedelta(hours=4, minutes=-45)
    night = [{"days": list(range(7)), "start": "22:00", "end": "06:00", "price_per_kwh": "0.25"}]
    terms = Terms(
        currency="EUR", time_zone=zone, price_per_kwh=D("0.40"), idle_price_per_minute=D("0.10"),
        idle_grace_minutes=15, session_fee=D("1.00"), tax_rate=D("0.19"), periods=tariffs.periods_parse(night),
    )  # fmt: skip
    readings = ((start, D(0)), (idle_from, D(30000)), (end, D(30000)))
    expected = price(terms, Usage(start=start, end=end, readings=readings, idle=((idle_from, end),)))
    text = response.content.decode()
    assert f"{expected.total} EUR" in text
    # 30 kWh evenly over 20:00-23:15: 11.538 kWh after 22:00 at 0.25 (2.88), 18.462 before at 0.40 (7.38);
    # 30 idle minutes after the grace at 0.10 (3.00); fee 1.00; net 14.26 and 19 % tax.
    assert (expected.net, expected.total) == (D("14.26"), D("16.97"))
    for line in expected.lines:
        assert line.description in text and str(line.amount) in text
    # What the operator typed is still in the form.
    assert 'value="0.25"' in text and 'value="Harbour day/night"' in text


@pytest.mark.django_db
def test_bad_tariff_form_is_a_400_in_the_page_with_the_input_kept(client, actors, place):
    client.force_login(actors.operator)

    response = client.post("/billing/tariffs/new/", tariff_post(price_per_kwh="-1", stations="NOPE-9"))

    assert response.status_code == 400
    text = response.content.decode()
    assert "no such station: NOPE-9" in text and 'value="-1"' in text
    assert "<nav>" in text  # the site's own layout
    assert not Tariff.objects.exists()


@pytest.mark.django_db
def test_tariff_revision_keeps_the_version_of_a_session_already_started(client, actors, place):
    station, connector = place
    make_account()
    client.force_login(actors.operator)
    assert client.post("/billing/tariffs/new/", tariff_post(**{"periods-TOTAL_FORMS": "0"})).status_code == 302
    tariff = Tariff.objects.get()
    session = make_session(connector, start=timezone.now() - timedelta(hours=1), minutes=30, running=True)
    sessions.session_billing_open(session_id=session.pk)

    revised = tariff_post(**{"price_per_kwh": "0.90", "periods-TOTAL_FORMS": "0"})
    assert client.post(f"/billing/tariffs/{tariff.pk}/", revised).status_code == 302

    tariff.refresh_from_db()
    assert tariff.current_version.version == 2 and tariff.current_version.price_per_kwh == D("0.90")
    ChargingSession.objects.filter(pk=session.pk).update(
        stop_at=session.start_at + timedelta(minutes=30), meter_stop=11_000
    )
    billing = sessions.session_price(session_id=session.pk).billing
    assert billing.tariff_version.version == 1
    energy = next(line for line in billing.lines if line["kind"] == "energy")
    assert energy["unit_price"] == "0.40000"
    # A session starting now gets version 2.
    later = make_session(connector, start=timezone.now(), minutes=10, tag="ADA-1")
    assert priced(later).tariff_version.version == 2


@pytest.mark.django_db
def test_tariff_form_edits_periods_as_rows_and_assignment(client, actors, place):
    station, _ = place
    other = StationFactory(identity="BILL-2")
    ConnectorFactory(station=other, connector_id=2)
    client.force_login(actors.operator)

    response = client.post("/billing/tariffs/new/", tariff_post(connectors="BILL-2/2"))

    assert response.status_code == 302
    tariff = Tariff.objects.get()
    assert tariff.current_version.periods == [
        {"days": [0, 1, 2, 3, 4, 5, 6], "start": "22:00", "end": "06:00", "price_per_kwh": "0.25"}
    ]
    places = {(a.station_id, a.connector_id) for a in tariff.assignments.all()}
    assert places == {(station.pk, None), (None, other.connectors.get().pk)}
    page = client.get(f"/billing/tariffs/{tariff.pk}/").content.decode()
    assert 'value="22:00"' in page and "BILL-2/2" in page


# --- accounts -------------------------------------------------------------------


@pytest.mark.django_db
def test_operator_creates_account_links_tag_and_blocks_with_a_reason(client, actors):
    client.force_login(actors.operator)
    response = client.post(
        "/billing/accounts/new/",
        {"name": "Fleet One", "kind": "fleet", "funding": "postpaid", "currency": "eur", "email": "f@example.test",
         "credit_limit": "500"},
    )  # fmt: skip
    account = Account.objects.get(name="Fleet One")
    assert response.status_code == 302 and account.currency == "EUR"

    assert (
        client.post(f"/billing/accounts/{account.pk}/tags/", {"id_tag": "FLEET-7", "label": "van 7"}).status_code == 302
    )
    refused = client.post(f"/billing/accounts/{account.pk}/block/", {"reason": ""})
    assert refused.status_code == 400 and "This field is required" in refused.content.decode()
    assert client.post(f"/billing/accounts/{account.pk}/block/", {"reason": "card stolen"}).status_code == 302

    account.refresh_from_db()
    assert account.status == AccountStatus.BLOCKED and account.status_reason == "card stolen"
    kinds = list(
        AccountEvent.objects.filter(account=account).order_by("id").values_list("kind", "detail", "by__username")
    )
    assert kinds == [
        ("created", "Fleet One (Postpaid (monthly invoice))", "olga"),
        ("tag_linked", "FLEET-7", "olga"),
        ("blocked", "card stolen", "olga"),
    ]
    page = client.get(f"/billing/accounts/{account.pk}/").content.decode()
    assert "card stolen" in page and "FLEET-7" in page and "Unblock" in page


@pytest.mark.django_db
def test_a_tag_of_another_account_is_refused_in_the_page(client, actors):
    make_account("Ada", tag="SHARED")
    other = Account.objects.create(name="Bob")
    client.force_login(actors.operator)

    response = client.post(f"/billing/accounts/{other.pk}/tags/", {"id_tag": "SHARED", "label": "mine"})

    assert response.status_code == 400
    assert "SHARED already charges to Ada" in response.content.decode()
    assert 'value="mine"' in response.content.decode()


# --- review queue -------------------------------------------------------------------


@pytest.mark.django_db
def test_review_accept_prices_a_flagged_session(client, actors, place, django_capture_on_commit_callbacks):
    station, connector = place
    make_tariff(station)
    account = make_account()
    session = make_session(connector, flags=["register_backwards"])
    assert priced(session).status == SessionBilling.Status.REVIEW
    client.force_login(actors.operator)

    queue = client.get("/billing/review/").content.decode()
    assert f"Transaction {session.pk}" in queue and "register_backwards" in queue and "6 energy readings" in queue

    missing_note = client.post(f"/billing/review/{session.pk}/accept/", {f"s{session.pk}-energy_wh": "8000"})
    assert missing_note.status_code == 400 and 'value="8000"' in missing_note.content.decode()

    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(
            f"/billing/review/{session.pk}/accept/",
            {f"s{session.pk}-energy_wh": "8000", f"s{session.pk}-note": "meter swapped; reading from the display"},
        )
    assert response.status_code == 302
    billing = SessionBilling.objects.get(session=session)
    assert billing.status == SessionBilling.Status.PRICED and billing.reviewed_by == actors.operator
    assert (billing.energy_wh, billing.net, billing.total) == (8000, D("4.20"), D("5.00"))  # 8 x 0.40 + 1.00, 19 %
    assert f"Transaction {session.pk}" not in client.get("/billing/review/").content.decode()
    assert [m.to for m in mail.outbox] == [[account.email]]  # the receipt, after commit


# --- CDRs -------------------------------------------------------------------------------


@pytest.mark.django_db
def test_cdr_columns_and_values_of_hand_made_sessions(client, actors, place):
    station, connector = place
    make_tariff(station)
    account = make_account(funding=Funding.CARD)
    PaymentMethod.objects.create(
        account=account, provider_customer_id="cus_1", provider_method_id="pm_1", brand="visa", last4="4242"
    )
    with_power = make_session(connector, samples=3, power_w=[7200, 11040, 9000])
    no_power = make_session(connector, start=START + timedelta(hours=2), minutes=40, wh=6000, samples=3)
    failed = make_session(connector, start=START + timedelta(hours=4), wh=0, samples=0, stop_reason="EmergencyStop")
    for session in (with_power, no_power, failed):
        priced(session)
    client.force_login(actors.operator)

    response = client.get("/billing/cdrs/", {"station": "BILL-1", "stopped_after": "2026-11-10", "format": "csv"})

    assert response.status_code == 200 and response["Content-Type"] == "text/csv"
    rows = list(csv.DictReader(io.StringIO(b"".join(response.streaming_content).decode())))
    assert list(rows[0]) == [
        "transaction_id", "station", "connector_id", "id_tag", "start", "end", "energy_kwh", "peak_kw", "currency",
        "lines", "net", "tax", "total", "payment_method", "error",
    ]  # fmt: skip
    first, second, third = rows
    assert (
        first["transaction_id"] == str(with_power.pk) and first["station"] == "BILL-1" and first["connector_id"] == "1"
    )
    assert (first["start"], first["end"]) == ("2026-11-10T08:00:00+00:00", "2026-11-10T09:00:00+00:00")
    assert (first["energy_kwh"], first["peak_kw"]) == ("10.000", "11.04")
    assert (first["net"], first["tax"], first["total"], first["currency"]) == ("5.00", "0.95", "5.95", "EUR")
    assert "Energy (standard): 10.000 kWh = 4.00" in first["lines"] and "Session fee" in first["lines"]
    assert (first["payment_method"], first["error"]) == ("visa 4242", "")
    # 6 kWh over 40 minutes in 4 equal steps: 1.5 kWh per 10 minutes is 9 kW.
    assert (second["energy_kwh"], second["peak_kw"]) == ("6.000", "9.00")
    assert (third["energy_kwh"], third["error"]) == ("0.000", "EmergencyStop")

    page = client.get("/billing/cdrs/", {"station": "BILL-1"}).content.decode()
    assert "11.04" in page and "EmergencyStop" in page
    assert client.get("/billing/cdrs/", {"stopped_after": "not a date"}).status_code == 400


@pytest.mark.django_db
def test_a_session_without_energy_is_an_error_in_its_cdr(client, actors, place):
    _, connector = place
    make_session(connector, wh=0, samples=2, stop_reason="EVDisconnected")
    client.force_login(actors.operator)
    rows = list(csv.reader(io.StringIO(b"".join(client.get("/billing/cdrs/?format=csv").streaming_content).decode())))
    assert rows[1][-1] == "NoEnergy" and rows[1][-2] == ""  # no account: no payment method


# --- receipts through a real SMTP server ------------------------------------------------------


@pytest.fixture
def smtp(settings):
    from aiosmtpd.controller import Controller
    from aiosmtpd.handlers import Message

    received = []

    class Keep(Message):
        def handle_message(self, message):
            received.append(message)

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    controller = Controller(Keep(), hostname="127.0.0.1", port=port)
    controller.start()
    settings.EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
    settings.EMAIL_HOST, settings.EMAIL_PORT = "127.0.0.1", port
    settings.EMAIL_USE_TLS = settings.EMAIL_USE_SSL = False
    try:
        yield received
    finally:
        controller.stop()


@pytest.mark.django_db
def test_receipt_mail_has_the_breakdown_and_is_sent_once(place, smtp):
    station, connector = place
    make_tariff(station)
    make_account(email="ada@example.test")
    billing = priced(make_session(connector))

    assert receipts.receipt_send(session_id=billing.session_id) is True
    assert receipts.receipt_send(session_id=billing.session_id) is False

    assert len(smtp) == 1
    message = smtp[0]
    assert message["To"] == "ada@example.test"
    assert message["Subject"] == f"Receipt for charging session {billing.session_id}: 5.95 EUR"
    text, html = (part.get_payload(decode=True).decode() for part in message.get_payload())
    for body in (text, html):
        assert "Energy (standard)" in body and "10.000 kWh" in body and "4.00" in body
        assert "Session fee" in body and "1.00" in body and "0.95" in body and "5.95 EUR" in body
    assert SessionBilling.objects.get(pk=billing.pk).receipt_sent_at is not None


@pytest.mark.django_db
def test_no_receipt_without_an_address(place):
    station, connector = place
    make_tariff(station)
    make_account(email="")
    billing = priced(make_session(connector))
    assert receipts.receipt_send(session_id=billing.session_id) is False
    assert mail.outbox == []


# --- invoices ------------------------------------------------------------------------------------


@pytest.mark.django_db
def test_monthly_invoice_command_page_and_pdf_with_the_total(client, actors, place):
    from pypdf import PdfReader

    station, connector = place
    make_tariff(station)
    account = make_account("Fleet One", funding=Funding.POSTPAID, tag="FLEET-1")
    first = priced(make_session(connector, tag="FLEET-1"))
    second = priced(make_session(connector, tag="FLEET-1", start=START + timedelta(days=3), wh=20_000))
    december = priced(make_session(connector, tag="FLEET-1", start=datetime(2026, 12, 1, 9, tzinfo=UTC)))
    out = io.StringIO()

    call_command("issue_invoices", "--month", "2026-11", stdout=out)
    call_command("issue_invoices", "--month", "2026-11", stdout=out)  # again: the same invoice

    invoice = Invoice.objects.get()
    assert invoice.number == f"INV-202611-{account.pk:06d}" and invoice.total == first.total + second.total
    assert invoice.total == D("16.66")  # (4.00 + 1.00) and (8.00 + 1.00), 19 % tax each
    assert set(invoice.sessions.values_list("pk", flat=True)) == {first.pk, second.pk}
    assert SessionBilling.objects.get(pk=december.pk).invoice is None
    client.force_login(actors.operator)
    page = client.get(f"/billing/invoices/{invoice.pk}/").content.decode()
    assert invoice.number in page and "16.66 EUR" in page
    pdf = client.get(f"/billing/invoices/{invoice.pk}/pdf/")
    assert pdf["Content-Type"] == "application/pdf" and pdf.content.startswith(b"%PDF-")
    text = "".join(page.extract_text() for page in PdfReader(io.BytesIO(pdf.content)).pages)
    assert invoice.number in text and "16.66 EUR" in text and "BILL-1/1" in text
    assert client.get(f"/billing/invoices/{invoice.pk}/pdf/").status_code == 200
    client.force_login(actors.support)
    assert client.get(f"/billing/invoices/{invoice.pk}/pdf/").status_code == 403


# --- support: a driver's sessions and refunds ------------------------------------------------------


def prepaid_payment(place) -> Payment:
    station, connector = place
    make_tariff(station)
    make_account(balance=D("50"))
    billing = priced(make_session(connector))
    payment = payments.payment_settle(session_id=billing.session_id)
    assert payment.status == PaymentStatus.CAPTURED and payment.amount_captured == D("5.95")
    return payment


@pytest.mark.django_db
def test_support_agent_refunds_a_session_from_the_driver_page(client, actors, place):
    payment = prepaid_payment(place)
    RefundLimit.objects.create(user=actors.support, max_amount=D("10"), currency="EUR")
    client.force_login(actors.support)
    found = client.get("/billing/support/", {"q": "ADA-1"})
    assert found.status_code == 302 and found["Location"] == "/billing/support/tags/ADA-1/"
    page = client.get("/billing/support/tags/ADA-1/").content.decode()
    assert "5.95 EUR" in page and "Captured" in page and "Refund" in page

    response = client.post(
        f"/billing/support/payments/{payment.pk}/refund/",
        {f"p{payment.pk}-amount": "2.00", f"p{payment.pk}-reason": "charger stopped early",
         f"p{payment.pk}-idempotency_key": "k1"},
    )  # fmt: skip

    assert response.status_code == 302
    payment.refresh_from_db()
    assert payment.amount_refunded == D("2.00")
    refund = payment.refunds.get()
    assert (refund.by, refund.reason) == (actors.support, "charger stopped early")
    assert "charger stopped early" in client.get("/billing/support/tags/ADA-1/").content.decode()


@pytest.mark.django_db
def test_a_refused_refund_shows_why_with_the_form_kept(client, actors, place):
    payment = prepaid_payment(place)
    RefundLimit.objects.create(user=actors.support, max_amount=D("1"), currency="EUR")
    client.force_login(actors.support)

    response = client.post(
        f"/billing/support/payments/{payment.pk}/refund/",
        {f"p{payment.pk}-amount": "3.00", f"p{payment.pk}-reason": "goodwill", f"p{payment.pk}-idempotency_key": "k2"},
    )

    assert response.status_code == 400
    text = response.content.decode()
    assert "your refund limit is 1.00 EUR" in text
    assert 'value="3.00"' in text and 'value="goodwill"' in text and "<nav>" in text
    payment.refresh_from_db()
    assert payment.amount_refunded == 0


@pytest.mark.django_db
def test_support_search_by_station_and_unknown(client, actors, place):
    client.force_login(actors.support)
    assert client.get("/billing/support/", {"q": "BILL-1"})["Location"] == "/billing/stations/BILL-1/"
    missing = client.get("/billing/support/", {"q": "nobody"})
    assert missing.status_code == 404 and "nobody" in missing.content.decode()
    assert client.get("/billing/support/", {"q": "x" * 49}).status_code == 400


# --- the live cost on the station page ---------------------------------------------------------------


@pytest.mark.django_db
def test_station_page_shows_the_cost_so_far_of_a_running_session(client, actors, place):
    station, connector = place
    make_tariff(station)
    make_account()
    session = make_session(connector, start=timezone.now() - timedelta(minutes=30), minutes=30, running=True)
    billing = sessions.session_billing_open(session_id=session.pk)
    expected = sessions.session_cost(session, billing)
    client.force_login(actors.operator)

    page = client.get("/stations/BILL-1/").content.decode()

    assert f"{expected.total} EUR so far" in page
    assert expected.total > D("1.19")  # more than the session fee alone


# --- lists keep a constant number of queries ----------------------------------------------------------


@pytest.mark.django_db
@pytest.mark.parametrize(
    "url",
    [
        "/billing/sessions/",
        "/billing/payments/",
        "/billing/review/",
        "/billing/tariffs/",
        "/billing/accounts/",
        "/billing/cdrs/?station=BILL-1",
        "/billing/invoices/",
        "/billing/support/tags/ADA-1/",
        "/billing/stations/BILL-1/",
    ],
)
def test_billing_lists_keep_their_query_count_as_rows_grow(client, actors, place, url):
    station, connector = place
    make_tariff(station)
    make_account(funding=Funding.PREPAID, balance=D("1000"))
    client.force_login(actors.operator)
    counter = iter(range(1, 10_000))

    def add(n):
        for _ in range(n):
            i = next(counter)
            make_tariff(station, name=f"T{i}")
            account = make_account(f"A{i}", tag=f"T-{i}", funding=Funding.POSTPAID)
            for tag, flags in (("ADA-1", ()), (f"T-{i}", ("register_backwards",))):
                session = make_session(
                    connector, tag=tag, start=START + timedelta(hours=i * 3 + len(flags)), flags=flags
                )
                priced(session)
                payments.payment_settle(session_id=session.pk)
            invoice_month = START + timedelta(days=31 * i)
            Invoice.objects.create(
                account=account, number=f"N{i}", period_start=invoice_month.date(), period_end=invoice_month.date(),
                currency="EUR", net=1, tax=0, total=1,
            )  # fmt: skip

    def count() -> int:
        with CaptureQueriesContext(connection) as queries:
            assert client.get(url).status_code == 200
        return len(queries.captured_queries)

    add(2)
    count()
    few = count()
    add(6)
    many = count()
    assert many == few, f"{url}: {few} queries with few rows, {many} with more"


# --- admin ------------------------------------------------------------------------------------------------


@pytest.mark.django_db
def test_billing_admin_shows_money_read_only(client, actors, place):
    station, connector = place
    make_tariff(station)
    make_account()
    billing = priced(make_session(connector))
    payment = payments.payment_settle(session_id=billing.session_id)
    client.force_login(actors.operator)
    for model in ("ledgerposting", "ledgerentry", "payment", "sessionbilling", "account", "tariff", "locallistversion"):
        assert client.get(f"/admin/billing/{model}/").status_code == 200, model
    posting = payment.postings.first()
    assert client.get(f"/admin/billing/ledgerposting/{posting.pk}/change/").status_code == 200
    assert client.get("/admin/billing/ledgerentry/add/").status_code == 403
    assert client.get("/admin/billing/payment/add/").status_code == 403
    client.post(f"/admin/billing/payment/{payment.pk}/change/", {"status": "voided"})
    payment.refresh_from_db()
    assert payment.status == PaymentStatus.CAPTURED
