"""The KPI page for dispatchers and operators: a period, and the KPIs per site, model and technician."""

from datetime import datetime, time, timedelta

from django import forms
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.shortcuts import render
from django.utils import timezone

from workorders.selectors import kpis

PERMISSION = "workorders.view_all_workorders"
GROUP_TITLES = {"site": "By site", "model": "By vendor / model", "technician": "By technician"}


class PeriodForm(forms.Form):
    """Whole days in the report's time zone, both included: from 00:00 on `start` to 24:00 on `end`."""

    start = forms.DateField(label="From", widget=forms.DateInput(attrs={"type": "date"}))
    end = forms.DateField(label="To (included)", widget=forms.DateInput(attrs={"type": "date"}))

    @classmethod
    def default_days(cls) -> dict:
        today = timezone.localdate()
        return {"start": today - kpis.DEFAULT_PERIOD + timedelta(days=1), "end": today}

    def clean(self):
        data = super().clean()
        if data.get("start") and data.get("end") and data["start"] > data["end"]:
            raise forms.ValidationError("“From” must not be after “To”.")
        return data

    def period(self) -> tuple[datetime, datetime]:
        start, end = self.cleaned_data["start"], self.cleaned_data["end"] + timedelta(days=1)
        return (
            timezone.make_aware(datetime.combine(start, time.min)),
            timezone.make_aware(datetime.combine(end, time.min)),
        )


@login_required
def kpi_page(request):
    if not request.user.has_perm(PERMISSION):
        raise PermissionDenied
    zone = kpis.report_zone()
    given = "start" in request.GET or "end" in request.GET
    with timezone.override(zone):
        form = PeriodForm(request.GET if given else PeriodForm.default_days())
        valid = form.is_valid()
        context = {"form": form, "reports": [], "zone": zone}
        if valid:
            start, end = form.period()
            # Each grouping is two or three aggregate queries, whatever the number of incidents.
            for group in kpis.GROUPS:
                report = kpis.kpi_report(start=start, end=end, group=group)
                # The total is the table's last row.
                context["reports"].append((GROUP_TITLES[group], report, [*report.rows, report.total]))
            context.update(start=start, end=end)
    return render(request, "workorders/kpis/kpis.html", context, status=200 if valid else 400)
