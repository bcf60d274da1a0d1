"""The operators' page for uptime exclusions the system proposed (confirm or reject, with a note)
and for scheduling maintenance windows. Rules live in exclusions.py; this reads the form."""

from datetime import timedelta

from django import forms
from django.contrib import messages
from django.db.models import Count
from django.shortcuts import redirect
from django.urls import reverse
from django.utils import timezone
from django.views.generic import TemplateView

from config.roles import PortalPermissionMixin
from stations.models import (
    ChargingStation,
    ExclusionState,
    MaintenanceWindow,
    Site,
    UptimeExclusion,
)

from . import exclusions

SHOWN = 200


class MaintenanceWindowForm(forms.Form):
    title = forms.CharField(max_length=200)
    # The portal's clock is UTC (settings.TIME_ZONE): these are read as UTC.
    starts_at = forms.DateTimeField(label="Starts (UTC)", widget=forms.DateTimeInput(attrs={"type": "datetime-local"}))
    ends_at = forms.DateTimeField(label="Ends (UTC)", widget=forms.DateTimeInput(attrs={"type": "datetime-local"}))
    site = forms.ModelChoiceField(queryset=Site.objects.order_by("name"), required=False, help_text="a whole site")
    station = forms.CharField(max_length=48, required=False, help_text="or one station (its identity)")
    connector_id = forms.IntegerField(min_value=1, required=False, help_text="and one of its ports")

    def clean(self):
        data = super().clean()
        identity = data.get("station")
        station = ChargingStation.objects.filter(identity=identity).first() if identity else None
        if identity and station is None:
            self.add_error("station", "no such station")
        if bool(data.get("site")) == bool(identity):
            raise forms.ValidationError("name a site or a station")
        connector = None
        if data.get("connector_id"):
            connector = station.connectors.filter(connector_id=data["connector_id"]).first() if station else None
            if connector is None:
                self.add_error("connector_id", "no such port on that station")
        data["station_obj"] = None if connector else station
        data["connector_obj"] = connector
        return data


class UptimeExclusionsView(PortalPermissionMixin, TemplateView):
    """Proposed exclusions oldest first, with the maintenance windows to come and just past."""

    permission_required = ("stations.change_uptimeexclusion", "stations.add_maintenancewindow")
    template_name = "stations/uptime_exclusions.html"

    def get_context_data(self, **kwargs):
        context = super().get_context_data(**kwargs)
        proposed = UptimeExclusion.objects.filter(state=ExclusionState.PROPOSED).select_related(
            "site", "station", "connector__station"
        )
        now = timezone.now()
        context.update(
            proposed=list(proposed.order_by("starts_at", "id")[:SHOWN]),
            proposed_total=proposed.count(),
            by_source=dict(proposed.order_by().values_list("source").annotate(n=Count("id"))),
            windows=list(
                MaintenanceWindow.objects.filter(ends_at__gte=now - timedelta(days=7))
                .select_related("site", "station", "connector__station", "created_by")
                .order_by("starts_at")[:SHOWN]
            ),
            form=kwargs.get("form") or MaintenanceWindowForm(),
        )
        return context

    def post(self, request, *args, **kwargs):
        if request.POST.get("action") == "schedule":
            form = MaintenanceWindowForm(request.POST)
            if not form.is_valid():
                return self.render_to_response(self.get_context_data(form=form), status=400)
            data = form.cleaned_data
            try:
                exclusions.maintenance_window_schedule(
                    title=data["title"], starts_at=data["starts_at"], ends_at=data["ends_at"],
                    by=request.user, site=data.get("site"), station=data["station_obj"],
                    connector=data["connector_obj"],
                )  # fmt: skip
            except exclusions.ExclusionError as exc:
                form.add_error(None, str(exc))
                return self.render_to_response(self.get_context_data(form=form), status=400)
            messages.success(request, "Maintenance window scheduled; its time is proposed for exclusion.")
            return redirect(reverse("uptime-exclusions"))
        move = {"confirm": exclusions.uptime_exclusion_confirm, "reject": exclusions.uptime_exclusion_reject}.get(
            request.POST.get("action", "")
        )
        ids = [int(pk) for pk in request.POST.getlist("exclusion") if pk.isdigit()]
        if move is None or not ids:
            messages.error(request, "Pick proposals and confirm or reject them.")
            return redirect(reverse("uptime-exclusions"))
        done, refused = 0, []
        note = request.POST.get("note", "")[:2000]
        for exclusion in UptimeExclusion.objects.filter(pk__in=ids):
            try:
                move(exclusion=exclusion, by=request.user, note=note, via="portal")
                done += 1
            except exclusions.ExclusionError as exc:
                refused.append(f"#{exclusion.pk}: {exc}")
        messages.success(request, f"{done} proposal{'s' if done != 1 else ''} {request.POST['action']}ed.")
        for text in refused:
            messages.error(request, text)
        return redirect(reverse("uptime-exclusions"))
