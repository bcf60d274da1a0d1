"""Sending one notification: email (Django's mail), a signed webhook, an SMS.

Each sender either returns the provider's status code or raises SendFailed with
what went wrong; recording the outcome and retrying is services/deliveries.py's.
"""

import json
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from urllib.parse import urlsplit, urlunsplit

import httpx
from django.conf import settings
from django.core.mail import EmailMultiAlternatives
from django.template.loader import render_to_string
from standardwebhooks.webhooks import Webhook
from twilio.base.exceptions import TwilioException, TwilioRestException
from twilio.http.http_client import TwilioHttpClient
from twilio.rest import Client as TwilioClient

from .models import AlertDelivery, AlertEndpoint
from .secrets import secret_open


class SendFailed(Exception):
    def __init__(self, error: str, status_code: int | None = None):
        super().__init__(error)
        self.error = error
        self.status_code = status_code


@dataclass
class Outcome:
    status_code: int | None
    duration_ms: int


def _absolute(path: str) -> str:
    return settings.PUBLIC_BASE_URL.rstrip("/") + path if path and settings.PUBLIC_BASE_URL else path


def message_context(delivery: AlertDelivery) -> dict:
    alert = delivery.alert
    return {
        "alert": alert,
        "rule": alert.rule,
        "resolved": delivery.notification == "resolved",
        "subject_link": _absolute(alert.subject_url),
        "alerts_link": _absolute("/workorders/alerts/"),
    }


def payload(delivery: AlertDelivery) -> dict:
    """The JSON body of a webhook: the Standard Webhooks envelope (type, timestamp, data)."""
    alert = delivery.alert
    return {
        "type": f"alert.{delivery.notification}",
        "timestamp": datetime.now(UTC).isoformat(),
        "data": {
            "alert": {
                "id": alert.pk,
                "rule": {"id": alert.rule_id, "name": alert.rule.name},
                "kind": alert.kind,
                "severity": alert.severity,
                "status": alert.status,
                "summary": alert.summary,
                "condition_since": alert.condition_since.isoformat(),
                "fired_at": alert.fired_at.isoformat(),
                "resolved_at": alert.resolved_at.isoformat() if alert.resolved_at else None,
                "url": _absolute("/workorders/alerts/"),
            },
            "subject": {
                "key": alert.subject_key,
                "label": alert.subject_label,
                "station_id": alert.station_id,
                "site": alert.site.name if alert.site_id else None,
                "url": _absolute(alert.subject_url) or None,
                "details": alert.details,
            },
        },
    }


def send_email(delivery: AlertDelivery) -> Outcome:
    to = delivery.endpoint.target if delivery.endpoint_id else delivery.user.email
    context = message_context(delivery)
    subject = " ".join(render_to_string("emails/alerts/alert_subject.txt", context).split())
    message = EmailMultiAlternatives(
        subject=subject,
        body=render_to_string("emails/alerts/alert_body.txt", context),
        from_email=settings.ALERTS_FROM_EMAIL,
        to=[to],
        headers={"Message-ID": f"<{delivery.message_id}@alerts>"},
    )
    message.attach_alternative(render_to_string("emails/alerts/alert_body.html", context), "text/html")
    started = time.monotonic()
    try:
        message.send()
    except OSError as exc:  # smtplib's errors are OSErrors too
        raise SendFailed(f"{type(exc).__name__}: {exc}"[:500]) from exc
    return Outcome(None, int((time.monotonic() - started) * 1000))


def webhook_headers(*, secret: str, message_id: str, body: str, at: datetime) -> dict:
    signature = Webhook(secret).sign(message_id, at, body)
    return {
        "content-type": "application/json",
        "webhook-id": message_id,
        "webhook-timestamp": str(int(at.timestamp())),
        "webhook-signature": signature,
    }


def send_webhook(delivery: AlertDelivery) -> Outcome:
    endpoint: AlertEndpoint = delivery.endpoint
    try:
        secret = secret_open(sealed=endpoint.secret_encrypted, env_name=endpoint.secret_env)
    except Exception as exc:
        raise SendFailed(str(exc)) from exc
    body = json.dumps(payload(delivery), separators=(",", ":"))
    # The same webhook-id on every try, a fresh timestamp and signature each time.
    headers = webhook_headers(secret=secret, message_id=delivery.message_id, body=body, at=datetime.now(UTC))
    started = time.monotonic()
    try:
        response = httpx.post(
            endpoint.target,
            content=body.encode(),
            headers=headers,
            timeout=settings.ALERTS_WEBHOOK_TIMEOUT_S,
            follow_redirects=False,
        )
    except httpx.HTTPError as exc:
        raise SendFailed(f"{type(exc).__name__}: {exc}"[:500]) from exc
    duration = int((time.monotonic() - started) * 1000)
    if not 200 <= response.status_code < 300:
        raise SendFailed(f"answered {response.status_code}: {response.text[:200]}", response.status_code)
    return Outcome(response.status_code, duration)


class _TwilioHttp(TwilioHttpClient):
    """Twilio's own HTTP client, sent to TWILIO_API_BASE instead of api.twilio.com when set
    (a regional proxy, or a loopback server in tests). Remembers the last status code."""

    last_status: int | None = None

    def request(self, method, url, *args, **kwargs):
        base = settings.TWILIO_API_BASE
        if base:
            target = urlsplit(base)
            parts = urlsplit(url)
            url = urlunsplit((target.scheme, target.netloc, target.path.rstrip("/") + parts.path, parts.query, ""))
        response = super().request(method, url, *args, **kwargs)
        self.last_status = response.status_code
        return response


def sms_text(delivery: AlertDelivery) -> str:
    return " ".join(render_to_string("emails/alerts/alert_sms.txt", message_context(delivery)).split())[:600]


def send_sms(delivery: AlertDelivery) -> Outcome:
    if not (settings.TWILIO_ACCOUNT_SID and settings.TWILIO_AUTH_TOKEN and settings.TWILIO_FROM_NUMBER):
        raise SendFailed("SMS is not configured (TWILIO_ACCOUNT_SID, TWILIO_AUTH_TOKEN, TWILIO_FROM_NUMBER)")
    http = _TwilioHttp(timeout=settings.ALERTS_WEBHOOK_TIMEOUT_S)
    client = TwilioClient(settings.TWILIO_ACCOUNT_SID, settings.TWILIO_AUTH_TOKEN, http_client=http)
    started = time.monotonic()
    try:
        client.messages.create(to=delivery.endpoint.target, from_=settings.TWILIO_FROM_NUMBER, body=sms_text(delivery))
    except TwilioRestException as exc:
        raise SendFailed(f"{exc.status} {exc.code}: {exc.msg}"[:500], exc.status) from exc
    except (TwilioException, OSError) as exc:
        raise SendFailed(f"{type(exc).__name__}: {exc}"[:500], http.last_status) from exc
    return Outcome(http.last_status, int((time.monotonic() - started) * 1000))


SENDERS = {"email": send_email, "webhook": send_webhook, "sms": send_sms}
