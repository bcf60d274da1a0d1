"""Alert deliveries against real receivers on loopback: a webhook receiver that checks the
Standard Webhooks signature, an SMS provider speaking Twilio's API, an SMTP server; a real
charger over a real websocket for flapping; a real worker for retries."""

import asyncio
import base64
import json
import threading
import time
from datetime import timedelta
from email import message_from_bytes
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs

import pytest
from aiosmtpd.controller import Controller
from django.urls import reverse
from django.utils import timezone
from standardwebhooks.webhooks import Webhook, WebhookVerificationError

from stations.models import ChargingStation
from tests.factories import STATION_PASSWORD, ConnectorFactory, StationFactory, UserFactory
from tests.helpers import eventually, orm
from tests.ocpp_client import Charger, open_charger
from workorders.alerts.models import (
    Alert,
    AlertDelivery,
    AlertEndpoint,
    AlertKind,
    AlertRule,
    AlertSeverity,
    AlertStatus,
    ChannelKind,
    DeliveryStatus,
    EndpointStatus,
)
from workorders.alerts.services import deliveries, endpoints
from workorders.alerts.services.evaluation import alerts_evaluate

SID, TOKEN, FROM = "AC" + "1" * 32, "token-for-tests", "+15005550006"


class WebhookReceiver:
    """A paging tool's webhook: verifies every request with standardwebhooks and its secret,
    answers with the scripted status codes in turn (then 200)."""

    def __init__(self, secret: str, answers=()):
        self.secret = secret
        self.answers = list(answers)
        self.received: list[dict] = []
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):
                body = self.rfile.read(int(self.headers["Content-Length"]))
                try:
                    payload = Webhook(receiver.secret).verify(body, dict(self.headers))
                    verified = True
                except WebhookVerificationError:
                    payload, verified = json.loads(body), False
                code = receiver.answers.pop(0) if receiver.answers else 200
                if not verified:
                    code = 401
                receiver.received.append(
                    {"verified": verified, "payload": payload, "id": self.headers["webhook-id"], "answered": code}
                )
                self.send_response(code)
                self.end_headers()
                self.wfile.write(b"ok")

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_port}/hooks/alerts"

    def __enter__(self):
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        return self

    def __exit__(self, *exc):
        self.server.shutdown()
        self.server.server_close()


class SmsProvider:
    """Twilio's Messages endpoint on loopback: checks the account, the Basic auth and the form."""

    def __init__(self, answers=()):
        self.answers = list(answers)
        self.sent: list[dict] = []
        provider = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):
                form = parse_qs(self.rfile.read(int(self.headers["Content-Length"])).decode())
                auth = base64.b64decode(self.headers.get("Authorization", "Basic ").split(" ", 1)[1]).decode()
                ok_request = self.path == f"/2010-04-01/Accounts/{SID}/Messages.json" and auth == f"{SID}:{TOKEN}"
                code = provider.answers.pop(0) if provider.answers else 201
                if not ok_request:
                    code = 401
                if code == 201:
                    provider.sent.append({k: v[0] for k, v in form.items()})
                    body = {"sid": "SM" + "0" * 32, "status": "queued", "to": form["To"][0], "body": form["Body"][0]}
                else:
                    body = {"code": 20003 if code == 401 else 30008, "message": "refused", "status": code}
                data = json.dumps(body).encode()
                self.send_response(code)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.base = f"http://127.0.0.1:{self.server.server_port}"

    def __enter__(self):
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        return self

    def __exit__(self, *exc):
        self.server.shutdown()
        self.server.server_close()


class _Mailbox:
    def __init__(self):
        self.messages = []

    async def handle_DATA(self, server, session, envelope):
        self.messages.append(message_from_bytes(envelope.content))
        return "250 OK"


@pytest.fixture
def smtp(settings):
    box = _Mailbox()
    from tests.conftest import _free_port

    port = _free_port()
    controller = Controller(box, hostname="127.0.0.1", port=port)
    controller.start()
    settings.EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
    settings.EMAIL_HOST, settings.EMAIL_PORT = "127.0.0.1", port
    settings.EMAIL_USE_TLS = settings.EMAIL_USE_SSL = False
    settings.EMAIL_TIMEOUT = 5
    yield box
    controller.stop()


@pytest.fixture
def sms_settings(settings):
    settings.TWILIO_ACCOUNT_SID, settings.TWILIO_AUTH_TOKEN, settings.TWILIO_FROM_NUMBER = SID, TOKEN, FROM
    return settings


def offline_rule(identity: str, *, delay=1, severity=AlertSeverity.WARNING, **fields) -> AlertRule:
    return AlertRule.objects.create(
        name=f"{identity} offline",
        kind=AlertKind.STATION_OFFLINE,
        severity=severity,
        delay_minutes=delay,
        station_identities=[identity],
        **fields,
    )


def fire_one(identity: str, *, endpoints_=(), users=()) -> Alert:
    """A station offline for ten minutes and a rule that fires on it."""
    station = StationFactory(identity=identity, connected=False, last_message_at=timezone.now() - timedelta(minutes=10))
    ConnectorFactory(station=station)
    rule = offline_rule(identity)
    rule.endpoints.set(endpoints_)
    rule.users.set(users)
    alerts_evaluate(kinds=[AlertKind.STATION_OFFLINE])
    return Alert.objects.get(rule=rule)


def webhook_endpoint(url: str) -> tuple[AlertEndpoint, str]:
    return endpoints.endpoint_create(name="pager", kind=ChannelKind.WEBHOOK, target=url, by=None)


# --- A real charger flapping over a real websocket ----------------------------------------


@pytest.mark.django_db(transaction=True)
def test_charger_back_within_the_delay_raises_nothing_and_one_staying_away_raises_one_alert(
    ocpp_server, smtp, sms_settings
):
    StationFactory(identity="FLAP-1", last_message_at=None)
    ConnectorFactory(station=ChargingStation.objects.get(identity="FLAP-1"), connector_id=1)
    pager_secret = None
    with SmsProvider() as sms, WebhookReceiver("whsec_placeholder") as hook:
        sms_settings.TWILIO_API_BASE = sms.base
        pager, pager_secret = webhook_endpoint(hook.url)
        hook.secret = pager_secret
        phone, _ = endpoints.endpoint_create(name="on call", kind=ChannelKind.SMS, target="+31612345678", by=None)
        mail, _ = endpoints.endpoint_create(name="ops list", kind=ChannelKind.EMAIL, target="ops@example.com", by=None)
        rule = offline_rule("FLAP-1", delay=1)
        rule.endpoints.set([pager, phone, mail])

        def connected(expected: bool):
            return eventually(lambda: ChargingStation.objects.get(identity="FLAP-1").connected is expected, 5)

        async def while_connected(then=None):
            """Connect and boot, run `then` (in a thread, with the ORM) while connected, leave."""
            async with open_charger(ocpp_server.url, "FLAP-1", STATION_PASSWORD) as ws:
                await Charger(ws).result("BootNotification", {"chargePointVendor": "Acme", "chargePointModel": "X1"})
                assert await orm(lambda: connected(True))
                return await orm(then) if then else None

        # Away for a moment, back well within the one-minute delay: nothing fires.
        asyncio.run(while_connected())
        assert connected(False)
        fired_meanwhile = asyncio.run(
            while_connected(lambda: alerts_evaluate(now=timezone.now() + timedelta(minutes=2)).fired)
        )
        assert fired_meanwhile == []
        assert not Alert.objects.exists()

        # Away for longer than the delay: one alert, one delivery per channel.
        assert connected(False)
        later = timezone.now() + timedelta(minutes=2)
        assert len(alerts_evaluate(now=later).fired) == 1
        alert = Alert.objects.get(rule=rule)
        assert alert.subject_label == "FLAP-1" and alert.status == AlertStatus.FIRING
        assert eventually(lambda: len(hook.received) == 1 and len(sms.sent) == 1 and len(smtp.messages) == 1, 10)
        assert hook.received[0]["verified"]
        assert hook.received[0]["payload"]["type"] == "alert.fired"
        assert hook.received[0]["payload"]["data"]["subject"]["label"] == "FLAP-1"
        assert sms.sent[0]["To"] == "+31612345678" and "FLAP-1" in sms.sent[0]["Body"]
        assert "FLAP-1 is offline" in smtp.messages[0]["Subject"]

        # Asked again while it is still away: nothing more.
        assert alerts_evaluate(now=later + timedelta(minutes=1)).fired == []
        assert AlertDelivery.objects.filter(alert=alert).count() == 3

        # It comes back: the alert resolves, and every channel hears it.
        resolved = asyncio.run(
            while_connected(lambda: alerts_evaluate(now=timezone.now() + timedelta(minutes=3)).resolved)
        )
        assert resolved == [alert.pk]
        assert eventually(lambda: len(hook.received) == 2 and len(sms.sent) == 2 and len(smtp.messages) == 2, 10)
        assert hook.received[1]["payload"]["type"] == "alert.resolved"
        assert "RESOLVED" in sms.sent[1]["Body"]
        assert smtp.messages[1]["Subject"].startswith("[resolved]")
        assert set(AlertDelivery.objects.filter(alert=alert).values_list("status", flat=True)) == {DeliveryStatus.SENT}


# --- Webhooks: signature, retries, pausing ------------------------------------------------


@pytest.mark.django_db
def test_failing_webhook_is_retried_with_backoff_until_the_receiver_takes_it(settings):
    settings.ALERTS_RETRY_BACKOFF_S = 60
    with WebhookReceiver("", answers=[500]) as hook:
        pager, secret = webhook_endpoint(hook.url)
        hook.secret = secret
        alert = fire_one("RETRY-1", endpoints_=[pager])
        delivery = AlertDelivery.objects.get(alert=alert)
        now = timezone.now()

        first = deliveries.delivery_send(delivery_id=delivery.pk, now=now)
        assert first.status == DeliveryStatus.PENDING and first.last_status_code == 500
        assert first.next_attempt_at >= now + timedelta(seconds=59)
        # Not due yet: nothing is sent, whoever asks.
        assert deliveries.delivery_send(delivery_id=delivery.pk, now=now) is None
        assert deliveries.deliveries_due(now=now) == []
        # Due: the sweep lists it and the next try gets through.
        later = first.next_attempt_at + timedelta(seconds=1)
        assert deliveries.deliveries_due(now=later) == [delivery.pk]
        second = deliveries.delivery_send(delivery_id=delivery.pk, now=later)

    assert second.status == DeliveryStatus.SENT and second.attempts == 2
    assert [(t.ok, t.status_code) for t in second.tries.all()] == [(False, 500), (True, 200)]
    # Every try carried the same webhook-id, so the receiver can drop a repeat.
    assert [r["id"] for r in hook.received] == [delivery.message_id] * 2
    assert all(r["verified"] for r in hook.received)
    pager.refresh_from_db()
    assert pager.consecutive_failures == 0


@pytest.mark.django_db
def test_a_forged_secret_fails_the_receivers_check():
    with WebhookReceiver("", answers=[]) as hook:
        pager, secret = webhook_endpoint(hook.url)
        hook.secret = "whsec_" + base64.b64encode(b"not the endpoint's secret at all!").decode()
        alert = fire_one("FORGED-1", endpoints_=[pager])
        delivery = deliveries.delivery_send(delivery_id=AlertDelivery.objects.get(alert=alert).pk)
    assert hook.received and not hook.received[0]["verified"]
    assert delivery.status == DeliveryStatus.PENDING and delivery.last_status_code == 401
    assert secret != hook.secret


@pytest.mark.django_db
def test_endpoint_that_keeps_failing_is_paused_and_operators_are_told(
    settings, smtp, actors, client, django_capture_on_commit_callbacks
):
    settings.ALERTS_ENDPOINT_MAX_FAILURES = 3
    settings.ALERTS_RETRY_BACKOFF_S = 0
    actors.operator.email = "olga@example.com"
    actors.operator.save()
    with WebhookReceiver("", answers=[500] * 10) as hook:
        pager, secret = webhook_endpoint(hook.url)
        hook.secret = secret
        alert = fire_one("PAUSE-1", endpoints_=[pager])
        delivery_id = AlertDelivery.objects.get(alert=alert).pk
        with django_capture_on_commit_callbacks(execute=True):
            for _ in range(3):
                deliveries.delivery_send(delivery_id=delivery_id, now=timezone.now() + timedelta(seconds=1))
        # Paused: no fourth try reaches the receiver.
        assert deliveries.delivery_send(delivery_id=delivery_id, now=timezone.now() + timedelta(seconds=1)) is None
        assert len(hook.received) == 3

    pager.refresh_from_db()
    assert pager.status == EndpointStatus.PAUSED and "3 failures in a row" in pager.paused_reason
    assert pager.events.last().to_status == EndpointStatus.PAUSED
    told = [m for m in smtp.messages if "olga@example.com" in m["To"]]
    assert told and "pager" in told[0]["Subject"]
    client.force_login(actors.operator)
    page = client.get(reverse("workorders:alert-list")).content.decode()
    assert f'data-paused-endpoint="{pager.pk}"' in page and "3 failures in a row" in page
    # Resumed by an operator: what waited is due again.
    endpoints.endpoint_resume(endpoint=pager, by=actors.operator)
    assert delivery_id in deliveries.deliveries_due()


def test_webhook_signature_is_the_standard_one():
    """Our headers verify with the standardwebhooks library and its secret, and only with it."""
    from workorders.alerts.channels import webhook_headers
    from workorders.alerts.secrets import secret_generate

    secret, body = secret_generate(), '{"type":"alert.fired"}'
    headers = webhook_headers(secret=secret, message_id="msg_1", body=body, at=timezone.now())
    assert Webhook(secret).verify(body, headers) == {"type": "alert.fired"}
    with pytest.raises(WebhookVerificationError):
        Webhook(secret_generate()).verify(body, headers)


# --- SMS and email ----------------------------------------------------------------------------


@pytest.mark.django_db
def test_sms_goes_through_twilios_client_and_a_refusal_is_retried(sms_settings):
    with SmsProvider(answers=[429]) as sms:
        sms_settings.TWILIO_API_BASE = sms.base
        phone, _ = endpoints.endpoint_create(name="on call", kind=ChannelKind.SMS, target="+31612345678", by=None)
        alert = fire_one("SMS-1", endpoints_=[phone])
        delivery = AlertDelivery.objects.get(alert=alert)
        first = deliveries.delivery_send(delivery_id=delivery.pk)
        second = deliveries.delivery_send(delivery_id=delivery.pk, now=first.next_attempt_at)
    assert first.last_status_code == 429 and first.status == DeliveryStatus.PENDING
    assert second.status == DeliveryStatus.SENT and second.last_status_code == 201
    assert sms.sent == [{"To": "+31612345678", "From": FROM, "Body": sms.sent[0]["Body"]}]
    assert "SMS-1 is offline" in sms.sent[0]["Body"]


@pytest.mark.django_db
def test_email_to_a_user_reaches_the_smtp_server_as_text_and_html(smtp):
    user = UserFactory(username="ops-user", email="ops-user@example.com")
    alert = fire_one("MAIL-1", users=[user])
    delivery = deliveries.delivery_send(delivery_id=AlertDelivery.objects.get(alert=alert).pk)
    assert delivery.status == DeliveryStatus.SENT
    (message,) = smtp.messages
    assert message["To"] == "ops-user@example.com"
    assert message["Subject"] == "[warning] MAIL-1 is offline"
    parts = {
        part.get_content_type(): part.get_payload(decode=True).decode()
        for part in message.walk()
        if not part.is_multipart()
    }
    assert "MAIL-1" in parts["text/plain"] and "<strong>" in parts["text/html"]


# --- A real worker: retries survive in the broker, not in the test ----------------------------


@pytest.mark.filterwarnings("ignore::celery.exceptions.AlwaysEagerIgnored")  # sent to the real worker on purpose
@pytest.mark.django_db(transaction=True)
def test_worker_retries_a_failed_webhook_by_itself(django_db_setup):
    from config.celery import app as celery_app
    from tests.conftest import run_worker

    with WebhookReceiver("", answers=[503]) as hook:
        pager, secret = webhook_endpoint(hook.url)
        hook.secret = secret
        station = StationFactory(
            identity="WORKER-1", connected=False, last_message_at=timezone.now() - timedelta(hours=1)
        )
        ConnectorFactory(station=station)
        rule = offline_rule("WORKER-1")
        rule.endpoints.set([pager])
        with run_worker(ALERTS_RETRY_BACKOFF_S="1"):
            celery_app.send_task("workorders.alerts.tasks.alerts_sweep")
            assert eventually(
                lambda: AlertDelivery.objects.filter(alert__rule=rule, status=DeliveryStatus.SENT).exists(), 20
            )
    delivery = AlertDelivery.objects.get(alert__rule=rule)
    assert [t.status_code for t in delivery.tries.all()] == [503, 200]
    assert [r["answered"] for r in hook.received] == [503, 200]
    time.sleep(0.1)
