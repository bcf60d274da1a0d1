"""Operator pages: priced sessions, payments, the review queue, CDRs, invoices, local lists."""

import csv
from datetime import UTC, datetime, time, timedelta

from django.contrib import messages
from django.db.models import Prefetch
from django.http import Http404, HttpResponse, StreamingHttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.http import require_POST

from billing.forms import CdrFilterForm, LocalListForm, PaymentFilterForm, ReviewForm, SessionFilterForm
from billing.models import Invoice, LocalListVersion, Payment, PaymentStatus, SessionBilling
from billing.selectors import ENERGY_REGISTER
from billing.services import cdrs, invoices, local_list, receipts
from billing.services.sessions import ReviewRefused, session_review_accept
from stations.models import ChargingStation, MeterSample

from .common import paginate, portal_permission

REVIEW_PAGE = 20


@portal_permission("billing.view_sessionbilling")
def home(request):
    if request.user.has_perm("billing.change_sessionbilling"):
        return redirect("billing:sessions")
    return redirect("billing:support-search")


@portal_permission("billing.change_sessionbilling")
def session_list(request):
    filters = SessionFilterForm(request.GET or None)
    rows = SessionBilling.objects.select_related(
        "session__station", "session__connector", "account", "tariff_version__tariff"
    ).order_by("-session__start_at", "-session_id")
    if filters.is_valid():
        data = filters.cleaned_data
        if data["station"]:
            rows = rows.filter(session__station__identity=data["station"])
        if data["account"]:
            rows = rows.filter(account_id=data["account"])
        if data["status"]:
            rows = rows.filter(status=data["status"])
    status = 400 if filters.is_bound and not filters.is_valid() else 200
    context = paginate(request, rows) | {"filters": filters, "noun": "sessions"}
    return render(request, "billing/session_list.html", context, status=status)


@portal_permission("billing.change_payment")
def payment_list(request):
    filters = PaymentFilterForm(request.GET or None)
    rows = Payment.objects.select_related("account", "session__station").order_by("-created_at", "-id")
    if filters.is_valid():
        data = filters.cleaned_data
        if data["status"]:
            rows = rows.filter(status=data["status"])
        if data["account"]:
            rows = rows.filter(account_id=data["account"])
    status = 400 if filters.is_bound and not filters.is_valid() else 200
    context = paginate(request, rows) | {"filters": filters, "noun": "payments", "statuses": PaymentStatus.choices}
    return render(request, "billing/payment_list.html", context, status=status)


def _review_page(request, *, forms=None, error_for=None, error=None, status=200):
    readings = MeterSample.objects.filter(measurand=ENERGY_REGISTER).order_by("timestamp", "id")
    rows = (
        SessionBilling.objects.filter(status=SessionBilling.Status.REVIEW)
        .select_related("session__station", "session__connector", "account")
        .prefetch_related(Prefetch("session__meter_samples", queryset=readings, to_attr="energy_readings"))
        .order_by("session__stop_at", "session_id")
    )
    context = paginate(request, rows, per_page=REVIEW_PAGE) | {"noun": "sessions to review"}
    forms = forms or {}
    context["items"] = [
        (
            billing,
            forms.get(billing.session_id)
            or ReviewForm(initial=_suggested(billing.session), prefix=f"s{billing.session_id}"),
            error if billing.session_id == error_for else None,
        )
        for billing in context["rows"]
    ]
    return render(request, "billing/review_queue.html", context, status=status)


def _suggested(session) -> dict:
    if session.meter_stop is not None and session.meter_stop >= session.meter_start:
        return {"energy_wh": session.meter_stop - session.meter_start}
    return {}


@portal_permission("billing.change_sessionbilling")
def review_queue(request):
    return _review_page(request)


@require_POST
@portal_permission("billing.change_sessionbilling")
def review_accept(request, session_id: int):
    form = ReviewForm(request.POST, prefix=f"s{session_id}")
    if not form.is_valid():
        return _review_page(request, forms={session_id: form}, status=400)
    try:
        outcome = session_review_accept(
            session_id=session_id, energy_wh=form.cleaned_data["energy_wh"], note=form.cleaned_data["note"],
            by=request.user,
        )  # fmt: skip
    except ReviewRefused as exc:
        return _review_page(request, forms={session_id: form}, error_for=session_id, error=str(exc), status=400)
    if outcome is not None and outcome.priced_now:
        receipts.receipt_after_pricing(session_id=session_id)
        billing = outcome.billing
        messages.info(request, f"Session {session_id} priced: {billing.total or 0} {billing.currency}")
    return redirect("billing:review")


def _day_start(day) -> datetime:
    return datetime.combine(day, time.min, tzinfo=UTC)


@portal_permission("billing.change_sessionbilling")
def cdr_page(request):
    filters = CdrFilterForm(request.GET or None)
    if filters.is_bound and not filters.is_valid():
        return render(request, "billing/cdrs.html", {"filters": filters}, status=400)
    data = filters.cleaned_data if filters.is_bound else {}
    sessions = cdrs.cdr_sessions(
        station=data.get("station") or "",
        stopped_after=_day_start(data["stopped_after"]) if data.get("stopped_after") else None,
        stopped_before=_day_start(data["stopped_before"] + timedelta(days=1)) if data.get("stopped_before") else None,
    )
    if request.GET.get("format") == "csv":
        return _csv(sessions)
    context = paginate(request, sessions) | {"filters": filters, "noun": "sessions"}
    context["records"] = cdrs.cdrs_build(context["rows"])
    return render(request, "billing/cdrs.html", context)


class _Echo:
    def write(self, value):
        return value


def _csv(sessions):
    writer = csv.writer(_Echo())
    response = StreamingHttpResponse(
        (writer.writerow(row) for row in cdrs.cdrs_csv_rows(sessions)), content_type="text/csv"
    )
    response["Content-Disposition"] = 'attachment; filename="cdrs.csv"'
    return response


@portal_permission("billing.view_invoice")
def invoice_list(request):
    rows = Invoice.objects.select_related("account").order_by("-period_start", "account__name", "id")
    return render(request, "billing/invoice_list.html", paginate(request, rows) | {"noun": "invoices"})


@portal_permission("billing.view_invoice")
def invoice_detail(request, pk: int):
    invoice = get_object_or_404(Invoice.objects.select_related("account"), pk=pk)
    context = {"invoice": invoice, "sessions": invoices.invoice_sessions(invoice)}
    return render(request, "billing/invoice_detail.html", context)


@portal_permission("billing.view_invoice")
def invoice_pdf(request, pk: int):
    invoice = get_object_or_404(Invoice.objects.select_related("account"), pk=pk)
    response = HttpResponse(invoices.invoice_pdf(invoice), content_type="application/pdf")
    response["Content-Disposition"] = f'inline; filename="{invoice.number}.pdf"'
    return response


@require_POST
@portal_permission("billing.change_locallistversion")
def local_list_send(request, identity: str):
    station = ChargingStation.objects.filter(identity=identity).first()
    if station is None:
        raise Http404("No such station")
    form = LocalListForm(request.POST)
    form.is_valid()
    full = form.cleaned_data.get("full", False)
    try:
        command = local_list.local_list_send(station=station, full=full, by=request.user)
    except local_list.LocalListNotSent as exc:
        messages.info(request, str(exc))
    else:
        version = LocalListVersion.objects.filter(station=station).values_list("version", flat=True).first()
        messages.info(
            request,
            f"SendLocalList ({'full' if full else 'differential'}) {command.get_status_display()}; "
            f"the station holds version {version or 0}",
        )
    return redirect("billing:station", identity=station.identity)
