"""Operator pages for stations. Reads go through selectors; no rules here."""

import json

from django.contrib import messages
from django.contrib.auth.mixins import LoginRequiredMixin
from django.core.exceptions import PermissionDenied
from django.http import Http404, HttpResponse, HttpResponseBadRequest, JsonResponse
from django.shortcuts import get_object_or_404, redirect
from django.views import View
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_http_methods
from django.views.generic import ListView, TemplateView

from config.roles import PortalPermissionMixin
from stations import selectors
from stations.forms import CommandForm
from stations.models import ChargingStation, CommandStatus, ConnectorStatus, Site
from stations.services import command_access, commands, diagnostics


def _quick_commands(connectors) -> list[tuple[str, str, dict]]:
    """The everyday commands, one button each."""
    buttons = [
        ("Trigger status", "TriggerMessage", {"requestedMessage": "StatusNotification"}),
        ("Soft reset", "Reset", {"type": "Soft"}),
        ("Hard reset", "Reset", {"type": "Hard"}),
    ]
    for connector in connectors:
        if connector.connector_id:
            buttons.append(
                (f"Unlock {connector.connector_id}", "UnlockConnector", {"connectorId": connector.connector_id})
            )
    buttons += [
        ("Make unavailable", "ChangeAvailability", {"connectorId": 0, "type": "Inoperative"}),
        ("Make available", "ChangeAvailability", {"connectorId": 0, "type": "Operative"}),
        ("Get configuration", "GetConfiguration", {}),
        ("Clear cache", "ClearCache", {}),
    ]
    return buttons


class StationListView(PortalPermissionMixin, ListView):
    permission_required = "stations.view_chargingstation"
    template_name = "stations/station_list.html"
    context_object_name = "stations"
    paginate_by = 50

    def get_queryset(self):
        return selectors.station_list(filters=self.request.GET.dict())

    def get_context_data(self, **kwargs):
        context = super().get_context_data(**kwargs)
        params = self.request.GET.copy()
        params.pop("page", None)
        context.update(
            sites=Site.objects.only("id", "name"),
            statuses=[s for s in ConnectorStatus.values if s != ConnectorStatus.UNKNOWN],
            filters=self.request.GET,
            querystring=params.urlencode(),
        )
        return context


class StationDetailView(PortalPermissionMixin, TemplateView):
    permission_required = "stations.view_chargingstation"
    template_name = "stations/station_detail.html"

    def get_context_data(self, **kwargs):
        context = super().get_context_data(**kwargs)
        try:
            station = selectors.station_detail(identity=kwargs["identity"])
        except ChargingStation.DoesNotExist:
            raise Http404("No such station") from None
        user = self.request.user
        can_see_frames = user.has_perm("stations.view_framelog")
        connectors = selectors.station_connectors(station=station)
        allowed = command_access.allowed_actions(user, station, commands.ACTIONS)
        context.update(
            station=station,
            command_actions=allowed,
            quick_commands=[
                (label, action, json.dumps(payload))
                for label, action, payload in _quick_commands(connectors)
                if action in allowed
            ],
            disruptive_json=json.dumps(sorted(commands.DISRUPTIVE)),
            recent_commands=selectors.station_recent_commands(station=station),
            connectors=connectors,
            sessions=selectors.station_recent_sessions(station=station),
            frames=selectors.station_recent_frames(station=station) if can_see_frames else None,
        )
        return context


class StationCommandView(LoginRequiredMixin, View):
    """Send a remote command from the station page; its outcome arrives live."""

    def post(self, request, identity: str):
        station = get_object_or_404(ChargingStation, identity=identity)
        form = CommandForm(request.POST)
        if not form.is_valid():
            return HttpResponseBadRequest(form.errors.as_text())
        action = form.cleaned_data["action"]
        if not command_access.can_send(request.user, station, action):
            raise PermissionDenied(f"you may not send {action} to this station")
        if action in commands.DISRUPTIVE and not form.cleaned_data["confirm"]:
            return HttpResponseBadRequest(f"{action} interrupts the station: confirm it to send it")
        try:
            command = commands.command_send(
                station=station,
                action=action,
                payload=form.cleaned_data["payload"],
                requested_by=request.user,
                wait=False,
            )
        except commands.CommandInvalid as exc:
            return HttpResponseBadRequest(str(exc))
        if command.status == CommandStatus.OFFLINE:
            messages.warning(request, f"{action} not sent: the station is not connected")
        else:
            messages.info(request, f"{action} sent; its outcome appears in the command history")
        return redirect("stations:station-detail", identity=station.identity)


@csrf_exempt
@require_http_methods(["POST", "PUT"])
def diagnostics_upload(request, token: str):
    """Where a station uploads its diagnostics (HTTP POST multipart or PUT body).

    The ASGI guard in front has already refused bad tokens and oversized bodies
    without reading them; the service judges again and spends the token."""
    if request.method == "POST" and request.FILES:
        upload = next(iter(request.FILES.values()))
        name, content = upload.name, upload
    else:
        name, content = request.headers.get("X-Filename") or "diagnostics.bin", request
    try:
        stored = diagnostics.diagnostics_store(token=token, filename=name, content=content)
    except diagnostics.UploadRefused as exc:
        return HttpResponse(str(exc), status=exc.status, content_type="text/plain")
    return JsonResponse({"stored": stored.file.name, "size": stored.size}, status=201)
