"""Operator pages for stations. Reads go through selectors; no rules here."""

import json
from functools import cached_property

from django.contrib import messages
from django.http import Http404, HttpResponse, JsonResponse
from django.shortcuts import redirect
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_http_methods
from django.views.generic import ListView, TemplateView

from config.roles import PortalPermissionMixin
from stations import selectors
from stations.forms import CommandForm, StationChoices
from stations.models import ChargingStation, CommandStatus, ConnectorStatus, Site
from stations.services import command_access, commands, diagnostics
from stations.services import command_catalogue as catalogue

VIEW_STATIONS = "stations.view_chargingstation"


class StationListView(PortalPermissionMixin, ListView):
    permission_required = VIEW_STATIONS
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
            site_options=_site_options(chosen=self.request.GET.get("site", "")),
            statuses=[s for s in ConnectorStatus.values if s != ConnectorStatus.UNKNOWN],
            filters=self.request.GET,
            querystring=params.urlencode(),
        )
        return context


def _site_options(*, chosen: str):
    """(id, name, selected) of every site, for the list's filter; read when the template
    iterates it, so the live rows fragment, which shows no filter, costs no query for it.

    Selected is decided here: a network has hundreds of sites, and a comparison per option
    in the template was about a fifth of the page's rendering at 500 sites."""
    for pk, name in Site.objects.values_list("id", "name"):
        yield pk, name, str(pk) == chosen


class StationDetailView(PortalPermissionMixin, TemplateView):
    permission_required = VIEW_STATIONS
    template_name = "stations/station_detail.html"
    command_form: CommandForm | None = None  # a refused command's form, shown again as typed

    @cached_property
    def station(self) -> ChargingStation:
        try:
            return selectors.station_detail(identity=self.kwargs["identity"])
        except ChargingStation.DoesNotExist:
            raise Http404("No such station") from None

    @cached_property
    def connectors(self):
        return selectors.station_connectors(station=self.station)

    @cached_property
    def command_actions(self) -> list[str]:
        return command_access.allowed_actions(self.request.user, self.station, catalogue.ACTIONS)

    # The command panel is read by the whole page only (the template asks `view`
    # for it), so the live fragment refreshed on every push costs none of its queries.
    @cached_property
    def form(self) -> CommandForm:
        if self.command_form is not None:
            return self.command_form
        return CommandForm(choices=StationChoices.of(self.station, self.connectors), actions=self.command_actions)

    @cached_property
    def quick_commands(self) -> list[catalogue.QuickCommand]:
        return catalogue.quick_commands(connector_ids=self.form.choices.connector_ids, actions=self.command_actions)

    @cached_property
    def catalogue_for_page(self) -> dict:
        return catalogue.catalogue_for_page(self.command_actions)

    def get_context_data(self, **kwargs):
        context = super().get_context_data(**kwargs)
        station = self.station
        can_see_frames = self.request.user.has_perm("stations.view_framelog")
        context.update(
            station=station,
            command_actions=self.command_actions,
            disruptive_json=json.dumps(sorted(catalogue.DISRUPTIVE)),
            recent_commands=selectors.station_recent_commands(station=station),
            connectors=self.connectors,
            sessions=selectors.station_recent_sessions(station=station),
            frames=selectors.station_recent_frames(station=station) if can_see_frames else None,
        )
        return context


class StationCommandView(StationDetailView):
    """Send a remote command from the station page; its outcome arrives live.

    A refused command shows the station page again, its form as it was typed and
    the reason beside it, with a 4xx status. Someone who may not see the page (a
    technician acting on the station of their work) gets the reason as text."""

    http_method_names = ["post"]

    def has_permission(self) -> bool:
        # Sending is command_request's to judge (a technician may act on the station of
        # their work without seeing the station list); the page asks only for a login.
        return self.request.user.is_authenticated

    def post(self, request, identity: str):
        station = self.station
        form = CommandForm(
            request.POST, choices=StationChoices.of(station, self.connectors), actions=self.command_actions
        )
        valid = form.is_valid()
        action = form.cleaned_data.get("action") or request.POST.get("action", "")
        confirmed = form.cleaned_data.get("confirm", False)
        try:
            if not valid:
                # Who may send it and whether it was confirmed come before the payload, as on the API.
                commands.command_check(station=station, action=action, by=request.user, confirmed=confirmed)
                return self._refused(form, status=400)
            command = commands.command_request(
                station=station,
                action=action,
                payload=form.cleaned_data["command_payload"],
                by=request.user,
                confirmed=confirmed,
                via="station page",
            )
        except commands.CommandRefused as exc:
            # A schema error of a payload built from the fields belongs to the form, not the JSON box.
            field = exc.field if exc.field != "payload" or form.data.get("payload") else None
            form.add_error(field, str(exc))
            return self._refused(form, status=403 if exc.forbidden else 400, reason=exc.reason)
        if command.status == CommandStatus.OFFLINE:
            messages.warning(request, f"{action} not sent: the station is not connected")
        else:
            messages.info(request, f"{action} sent; its outcome appears in the command history")
        return redirect("stations:station-detail", identity=station.identity)

    def _refused(self, form: CommandForm, *, status: int, reason: str = "") -> HttpResponse:
        if not self.request.user.has_perm(VIEW_STATIONS):
            text = "; ".join(message for errors in form.errors.values() for message in errors)
            return HttpResponse(text, status=status, content_type="text/plain; charset=utf-8")
        self.command_form = form
        context = self.get_context_data(
            command_refused=True, needs_confirmation=reason == commands.CommandRefused.CONFIRMATION
        )
        return self.render_to_response(context, status=status)


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
