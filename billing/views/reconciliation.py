"""The operators' reconciliation page: per session, ours against the provider's, with a CSV export."""

from datetime import datetime, time, timedelta

from django import forms
from django.http import HttpResponse
from django.shortcuts import render
from django.utils import timezone

from billing.reconciliation import reconciliation_billings, reconciliation_csv, reconciliation_rows

from .common import paginate, portal_permission

# Each card payment costs a call to the provider: a page or an export covers at most this many sessions.
MAX_SESSIONS = 2000


class ReconciliationFilter(forms.Form):
    since = forms.DateField(required=False, widget=forms.DateInput(attrs={"type": "date"}))
    until = forms.DateField(required=False, widget=forms.DateInput(attrs={"type": "date"}), help_text="inclusive")
    mismatches = forms.BooleanField(required=False, label="Mismatches only")

    def clean(self):
        data = super().clean()
        if data.get("since") and data.get("until") and data["since"] > data["until"]:
            raise forms.ValidationError("the start is after the end")
        return data


def _range(data: dict) -> tuple[datetime, datetime]:
    today = timezone.localdate()
    since = data.get("since") or today - timedelta(days=7)
    until = data.get("until") or today
    zone = timezone.get_current_timezone()
    return datetime.combine(since, time.min, zone), datetime.combine(until + timedelta(days=1), time.min, zone)


@portal_permission("billing.reconcile_payments")
def reconciliation(request):
    filters = ReconciliationFilter(request.GET or None)
    if filters.is_bound and not filters.is_valid():
        return render(request, "billing/reconciliation.html", {"filters": filters, "rows": []}, status=400)
    data = filters.cleaned_data if filters.is_bound else {}
    since, until = _range(data)
    billings = reconciliation_billings(since=since, until=until)
    if request.GET.get("format") == "csv":
        rows = reconciliation_rows(billings[:MAX_SESSIONS])
        if data.get("mismatches"):
            rows = [row for row in rows if row.mismatch]
        response = HttpResponse(content_type="text/csv; charset=utf-8")
        response["Content-Disposition"] = f'attachment; filename="reconciliation-{since:%Y%m%d}-{until:%Y%m%d}.csv"'
        reconciliation_csv(rows, response)
        return response
    if data.get("mismatches"):
        context = paginate(request, [row for row in reconciliation_rows(billings[:MAX_SESSIONS]) if row.mismatch])
    else:
        # Only the shown page's payments are looked up at the provider.
        context = paginate(request, billings)
        context["rows"] = reconciliation_rows(context["rows"])
    csv_query = request.GET.copy()
    csv_query.pop("page", None)
    csv_query["format"] = "csv"
    context |= {"filters": filters, "noun": "sessions", "csv_query": csv_query.urlencode(), "capped": MAX_SESSIONS}
    return render(request, "billing/reconciliation.html", context)
