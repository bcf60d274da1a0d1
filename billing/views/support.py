"""Support agents' pages: a driver's sessions, prices and payments, and refunds.

Reached from a search by ID tag or from a station. Read-only except for the
refund form, which calls the payments service; its refusal is shown in the
page with what the agent typed kept.
"""

import uuid

from django.contrib import messages
from django.db.models import Prefetch
from django.http import Http404
from django.shortcuts import get_object_or_404, redirect, render
from django.utils import timezone
from django.views.decorators.http import require_POST

from billing.forms import DriverSearchForm, LocalListForm, RefundForm
from billing.models import AccountTag, LocalListVersion, Payment, PaymentStatus, Refund
from billing.selectors import session_money
from billing.services.tariffs import tariff_version_for
from stations.models import ChargingSession, ChargingStation, IdTag

from .common import paginate, portal_permission

SUPPORT_PERMS = ("billing.view_sessionbilling", "billing.view_payment")
REFUNDABLE = (PaymentStatus.CAPTURED,)


@portal_permission(*SUPPORT_PERMS)
def search(request):
    form = DriverSearchForm(request.GET or None)
    not_found = False
    if form.is_valid():
        q = form.cleaned_data["q"].strip()
        if IdTag.objects.filter(id_tag=q).exists():
            return redirect("billing:driver", id_tag=q)
        if ChargingStation.objects.filter(identity=q).exists():
            return redirect("billing:station", identity=q)
        not_found = True
    status = 404 if not_found else 400 if form.is_bound and not form.is_valid() else 200
    return render(request, "billing/support_search.html", {"form": form, "not_found": not_found}, status=status)


def _sessions(queryset):
    return queryset.select_related("station", "connector", "billing__account").order_by("-start_at", "-id")


def _payments_of(sessions: list) -> dict[int, Payment]:
    refunds = Refund.objects.select_related("by").order_by("-created_at")
    return {
        p.session_id: p
        for p in Payment.objects.filter(session__in=[s.pk for s in sessions]).prefetch_related(
            Prefetch("refunds", queryset=refunds)
        )
    }


def _driver_page(request, id_tag: str, *, refund_forms=None, refund_error=None, refund_for=None, status=200):
    tag = IdTag.objects.filter(id_tag=id_tag).first()
    if tag is None:
        raise Http404("No such ID tag")
    link = AccountTag.objects.select_related("account").filter(id_tag=tag).first()
    account = link.account if link else None
    tags = (
        list(AccountTag.objects.filter(account=account).values_list("id_tag__id_tag", flat=True))
        if account
        else [id_tag]
    )
    context = paginate(request, _sessions(ChargingSession.objects.filter(id_tag__in=tags)), per_page=25)
    sessions = context["rows"]
    payments = _payments_of(sessions)
    money = session_money(sessions)
    refund_forms = refund_forms or {}
    rows = []
    for session in sessions:
        payment = payments.get(session.pk)
        form = None
        if payment is not None and request.user.has_perm("billing.add_refund"):
            if payment.pk in refund_forms:
                form = refund_forms[payment.pk]
            elif payment.status in REFUNDABLE and payment.amount_captured > payment.amount_refunded:
                left = payment.amount_captured - payment.amount_refunded
                initial = {"idempotency_key": uuid.uuid4().hex, "amount": left}
                form = RefundForm(initial=initial, prefix=f"p{payment.pk}")
        rows.append(
            {
                "session": session,
                "money": money.get(session.pk, {}),
                "payment": payment,
                "refund_form": form,
                "refund_error": refund_error if payment is not None and payment.pk == refund_for else None,
            }
        )
    context.update(tag=tag, account=account, tags=tags, items=rows, noun="sessions")
    return render(request, "billing/driver.html", context, status=status)


@portal_permission(*SUPPORT_PERMS)
def driver(request, id_tag: str):
    return _driver_page(request, id_tag)


@require_POST
@portal_permission(*SUPPORT_PERMS, "billing.add_refund")
def refund(request, pk: int):
    from billing.services import payments as payment_services

    payment = get_object_or_404(Payment.objects.select_related("session"), pk=pk)
    if payment.session is None:
        raise Http404("This payment is not for a charging session")
    id_tag = payment.session.id_tag
    form = RefundForm(request.POST, prefix=f"p{payment.pk}")
    if not form.is_valid():
        return _driver_page(request, id_tag, refund_forms={payment.pk: form}, status=400)
    data = form.cleaned_data
    try:
        payment_services.payment_refund(
            payment=payment, amount=data["amount"], reason=data["reason"], by=request.user,
            idempotency_key=f"portal:{payment.pk}:{data['idempotency_key']}",
        )  # fmt: skip
    except payment_services.RefundRefused as exc:
        return _driver_page(
            request, id_tag, refund_forms={payment.pk: form}, refund_error=str(exc), refund_for=payment.pk, status=400
        )
    messages.info(request, f"Refunded {data['amount']} {payment.currency} of session {payment.session_id}")
    return redirect("billing:driver", id_tag=id_tag)


@portal_permission(*SUPPORT_PERMS)
def station(request, identity: str):
    station = ChargingStation.objects.select_related("site").filter(identity=identity).first()
    if station is None:
        raise Http404("No such station")
    context = paginate(request, _sessions(ChargingSession.objects.filter(station=station)), per_page=25)
    sessions = context["rows"]
    money = session_money(sessions)
    payments = _payments_of(sessions)
    connectors = list(station.connectors.filter(connector_id__gt=0).order_by("connector_id")[:1])
    version = tariff_version_for(connector=connectors[0], at=timezone.now()) if connectors else None
    context.update(
        station=station,
        items=[{"session": s, "money": money.get(s.pk, {}), "payment": payments.get(s.pk)} for s in sessions],
        tariff_version=version,
        local_list=LocalListVersion.objects.filter(station=station).first(),
        local_list_form=LocalListForm(),
        noun="sessions",
    )
    return render(request, "billing/station.html", context)
