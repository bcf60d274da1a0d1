"""Support reports: SLA, volume, first-contact resolution, truck rolls avoided, satisfaction."""

from datetime import timedelta

from django.contrib.auth import get_user_model
from django.shortcuts import render
from django.utils import timezone
from django.views.decorators.http import require_GET

from billing.views.common import portal_permission
from support.forms import ReportPeriodForm
from support.services import actions
from support.services.reports import support_report


@require_GET
@portal_permission("support.view_support_reports")
def reports(request):
    agents = list(actions.agents())
    # The last 30 days unless asked otherwise, shown in the form as such.
    data = request.GET.copy()
    today = timezone.localdate()
    data.setdefault("end", today.isoformat())
    data.setdefault("start", (today - timedelta(days=29)).isoformat())
    form = ReportPeriodForm(data, agents=agents)
    if not form.is_valid():
        return render(request, "support/reports/report.html", {"form": form, "report": None}, status=400)
    data = form.cleaned_data
    agent = get_user_model().objects.filter(pk=data["agent"]).first() if data["agent"] else None
    report = support_report(start=data["start"], end=data["end"], agent=agent)
    return render(request, "support/reports/report.html", {"form": form, "report": report, "agent": agent})
