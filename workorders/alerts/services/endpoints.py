"""Endpoints: created with a secret shown once, counted while failing, paused, resumed.

An endpoint that fails ALERTS_ENDPOINT_MAX_FAILURES times in a row, or has
failed without a success for ALERTS_ENDPOINT_MAX_FAILING_S, is paused: nothing
more is sent to it until an operator resumes it, and the operators hear about
it in the portal (the alerts page) and by email.
"""

from datetime import datetime, timedelta

from django.conf import settings
from django.db import transaction
from django.db.models import F
from django.utils import timezone

from ..models import ENDPOINT_TRANSITIONS, AlertEndpoint, AlertEndpointEvent, ChannelKind, EndpointStatus
from ..secrets import secret_generate, secret_seal


class EndpointTransitionError(Exception):
    pass


def endpoint_create(
    *, name: str, kind: str, target: str, by, secret_env: str = "", via: str = "portal"
) -> tuple[AlertEndpoint, str | None]:
    """Create an endpoint; a webhook without `secret_env` gets a generated secret,
    returned here and never again."""
    secret = None
    sealed = ""
    if kind == ChannelKind.WEBHOOK and not secret_env:
        secret = secret_generate()
        sealed = secret_seal(secret)
    now = timezone.now()
    with transaction.atomic():
        endpoint = AlertEndpoint.objects.create(
            name=name,
            kind=kind,
            target=target,
            secret_env=secret_env if kind == ChannelKind.WEBHOOK else "",
            secret_encrypted=sealed,
            created_by=by,
        )
        AlertEndpointEvent.objects.create(
            endpoint=endpoint, to_status=EndpointStatus.ACTIVE, reason="created", by=by, via=via, at=now
        )
    return endpoint, secret


def endpoint_succeeded(*, endpoint_id: int) -> None:
    AlertEndpoint.objects.filter(pk=endpoint_id).exclude(consecutive_failures=0, failing_since=None).update(
        consecutive_failures=0, failing_since=None
    )


def endpoint_failed(*, endpoint_id: int, error: str, now: datetime) -> bool:
    """Count a failure; pause the endpoint when it has failed too often or too long. True if paused."""
    AlertEndpoint.objects.filter(pk=endpoint_id).update(consecutive_failures=F("consecutive_failures") + 1)
    AlertEndpoint.objects.filter(pk=endpoint_id, failing_since__isnull=True).update(failing_since=now)
    endpoint = AlertEndpoint.objects.get(pk=endpoint_id)
    too_many = endpoint.consecutive_failures >= settings.ALERTS_ENDPOINT_MAX_FAILURES
    too_long = now - endpoint.failing_since >= timedelta(seconds=settings.ALERTS_ENDPOINT_MAX_FAILING_S)
    if endpoint.status != EndpointStatus.ACTIVE or not (too_many or too_long):
        return False
    reason = (
        f"{endpoint.consecutive_failures} failures in a row"
        if too_many
        else f"failing since {endpoint.failing_since:%Y-%m-%d %H:%M} UTC"
    )
    return endpoint_pause(
        endpoint=endpoint, reason=f"{reason}; last: {error}"[:300], by=None, via="deliveries", now=now
    )


def _move(endpoint: AlertEndpoint, target: EndpointStatus, **fields) -> bool:
    if target not in ENDPOINT_TRANSITIONS[EndpointStatus(endpoint.status)]:
        raise EndpointTransitionError(f"an endpoint that is {endpoint.status} cannot become {target}")
    return bool(AlertEndpoint.objects.filter(pk=endpoint.pk, status=endpoint.status).update(status=target, **fields))


def endpoint_pause(*, endpoint: AlertEndpoint, reason: str, by, via: str, now: datetime | None = None) -> bool:
    now = now or timezone.now()
    with transaction.atomic():
        if not _move(endpoint, EndpointStatus.PAUSED, paused_at=now, paused_reason=reason):
            return False
        AlertEndpointEvent.objects.create(
            endpoint=endpoint,
            from_status=endpoint.status,
            to_status=EndpointStatus.PAUSED,
            reason=reason,
            by=by,
            via=via,
            at=now,
        )
        from ..tasks import endpoint_paused_notify

        endpoint_id = endpoint.pk
        transaction.on_commit(lambda: endpoint_paused_notify.delay(endpoint_id))
    endpoint.status = EndpointStatus.PAUSED
    return True


def endpoint_resume(*, endpoint: AlertEndpoint, by, via: str = "portal", now: datetime | None = None) -> AlertEndpoint:
    from .deliveries import endpoint_deliveries_resume

    now = now or timezone.now()
    with transaction.atomic():
        if not _move(
            endpoint,
            EndpointStatus.ACTIVE,
            paused_at=None,
            paused_reason="",
            consecutive_failures=0,
            failing_since=None,
        ):
            raise EndpointTransitionError("the endpoint changed meanwhile; look again")
        AlertEndpointEvent.objects.create(
            endpoint=endpoint,
            from_status=endpoint.status,
            to_status=EndpointStatus.ACTIVE,
            reason="resumed",
            by=by,
            via=via,
            at=now,
        )
        endpoint_deliveries_resume(endpoint=endpoint, now=now)
    endpoint.refresh_from_db()
    return endpoint
