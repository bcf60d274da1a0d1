"""Incidents for dispatchers, operators and support: the board, one incident's
page, and what a dispatcher does to one (send a truck now, close it with a
reason, add a note), each recorded on its timeline with who did it."""

from django.contrib import messages
from django.http import Http404
from django.shortcuts import redirect, render
from django.urls import reverse
from django.views import View
from django.views.generic import ListView

from config.roles import PortalPermissionMixin
from workorders.forms import IncidentCloseForm, IncidentDispatchForm, IncidentNoteForm
from workorders.models import Incident, IncidentKind, IncidentStatus
from workorders.selectors import incidents as selectors
from workorders.selectors.workorders import site_zone
from workorders.services import incident_lifecycle, remediation

from .common import PAGE_SIZE, capitalised, playbook_context

DISPATCHER = "workorders.change_workorder"


class IncidentBoardView(PortalPermissionMixin, ListView):
    """Incidents and where each is in its pipeline; open ones unless asked otherwise. It updates by itself."""

    permission_required = "workorders.view_incident"
    template_name = "workorders/incidents/board.html"
    context_object_name = "incidents"
    paginate_by = PAGE_SIZE

    def get_queryset(self):
        return selectors.incident_board(self.request.GET)

    def get_context_data(self, **kwargs):
        context = super().get_context_data(**kwargs)
        params = self.request.GET.copy()
        params.pop("page", None)
        context.update(
            incidents=selectors.with_next_steps(list(context["incidents"])),
            open_choice=self.request.GET.get("open", "true"),
            kinds=IncidentKind.choices,
            filters=self.request.GET,
            querystring=params.urlencode(),
            live_query=self.request.GET.urlencode(),
        )
        return context


class IncidentBoardLiveView(IncidentBoardView):
    template_name = "workorders/incidents/_board.html"


def _incident_or_404(pk: int) -> Incident:
    incident = selectors.incident_for_page(pk)
    if incident is None:
        raise Http404("No such incident")
    return incident


def incident_page(request, incident: Incident, *, status: int = 200, **forms):
    user = request.user
    acting = user.has_perm(DISPATCHER) and incident.status != IncidentStatus.CLOSED
    context = {
        "incident": incident,
        "zone": site_zone(incident.station.site),
        "next_label": incident_lifecycle.incident_next_step(incident).label,
        **selectors.incident_page(incident),
        **playbook_context(incident.playbook),
        "can_act": acting,
        "can_dispatch_now": acting and incident.status != IncidentStatus.DISPATCHED,
        "can_note": user.has_perm(DISPATCHER),
        # Each form has its own prefix: the page holds them all, so names and ids stay apart.
        "note_form": forms.get("note_form") or IncidentNoteForm(prefix="note"),
        "close_form": forms.get("close_form") or IncidentCloseForm(prefix="close"),
        "dispatch_form": forms.get("dispatch_form") or IncidentDispatchForm(prefix="dispatch"),
        "open_form": forms.get("open_form", ""),
    }
    return render(request, "workorders/incidents/detail.html", context, status=status)


class IncidentDetailView(PortalPermissionMixin, View):
    permission_required = "workorders.view_incident"

    def get(self, request, pk: int):
        return incident_page(request, _incident_or_404(pk))


class IncidentActionView(PortalPermissionMixin, View):
    """One dispatcher action on an incident; a refused one shows the page again with what was typed."""

    permission_required = DISPATCHER
    FORMS = {"note": IncidentNoteForm, "close": IncidentCloseForm, "dispatch": IncidentDispatchForm}

    def post(self, request, pk: int, action: str):
        if action not in self.FORMS:
            raise Http404("No such action")
        incident = _incident_or_404(pk)
        form = self.FORMS[action](request.POST, prefix=action)
        back = reverse("workorders:incident-detail", args=[pk])
        if form.is_valid():
            try:
                message = getattr(self, f"do_{action}")(incident, form.cleaned_data)
            except (incident_lifecycle.IllegalIncidentMove, ValueError) as exc:
                form.add_error(None, capitalised(str(exc)))
                return incident_page(request, incident, status=409, open_form=action, **{f"{action}_form": form})
            messages.success(request, message)
            return redirect(back)
        return incident_page(request, incident, status=400, open_form=action, **{f"{action}_form": form})

    def do_note(self, incident, data) -> str:
        incident_lifecycle.incident_note_add(incident=incident, by=self.request.user, text=data["text"])
        return "Note added."

    def do_close(self, incident, data) -> str:
        closed = incident_lifecycle.incident_close_by_hand(
            incident=incident, by=self.request.user, resolution=data["resolution"], reason=data["reason"]
        )
        if not closed:
            raise incident_lifecycle.IllegalIncidentMove("the incident was closed already")
        return "Incident closed."

    def do_dispatch(self, incident, data) -> str:
        who = self.request.user.get_username()
        reason = data["reason"].strip() or f"sent by a dispatcher ({who})"
        advance = remediation.incident_truck_roll(incident=incident, reason=reason, by=self.request.user)
        if advance.action != "dispatched":
            raise incident_lifecycle.IllegalIncidentMove("the incident is closed or has a truck already")
        return f"Truck roll: {advance.reason}."
