"""The payment provider's webhook endpoint: signed, stored once, answered fast."""

import stripe
from django.conf import settings
from django.http import HttpResponse, HttpResponseBadRequest, JsonResponse
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_POST

from billing.services.webhooks import stripe_event_receive


@csrf_exempt  # the provider signs its requests instead; it has no CSRF token
@require_POST
def stripe_webhook(request):
    secret = settings.STRIPE_WEBHOOK_SECRET
    if not secret:
        # Unconfigured: the provider keeps the event and delivers it again later.
        return HttpResponse("webhook secret not configured", status=503, content_type="text/plain")
    try:
        event = stripe.Webhook.construct_event(
            request.body,
            request.headers.get("Stripe-Signature"),
            secret,
            tolerance=settings.STRIPE_WEBHOOK_TOLERANCE_S,
        )
    except (ValueError, stripe.SignatureVerificationError):
        return HttpResponseBadRequest("invalid payload or signature", content_type="text/plain")
    outcome = stripe_event_receive(event=event.to_dict())
    return JsonResponse({"received": True, "replay": outcome.replay, "changes": list(outcome.changes)})
