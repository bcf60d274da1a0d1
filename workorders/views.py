"""Portal pages for field work: the technician's queue and work order (phone first),
and the dispatcher's boards. Views check who may do what and call services; the
rules live in workorders.services."""

from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from django.contrib import messages
from django.core.exceptions import PermissionDenied
from django.db.models import Count, Min, OuterRef, Prefetch, Q, Subquery
from django.http import FileResponse, Http404
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils import timezone
from django.views import View
from django.views.generic import ListView, TemplateView

from config.roles import PortalPermissionMixin
from stations import selectors as station_selectors
from stations.models import CommandStatus, Site, StatusEvent
from stations.services import commands
from workorders.api.filters import IncidentFilter, WorkOrderFilter
from workorders.forms import (
    MOVE_LABELS,
    RESOLUTION_SUGGESTIONS,
    DispatchForm,
    FieldworkForm,
    OnsiteCommandForm,
    PhotoForm,
    StatusMoveForm,
)
from workorders.models import (
    OPEN_WORK_ORDER_STATUSES,
    FaultCause,
    Incident,
    IncidentKind,
    IncidentStatus,
    IncidentStep,
    Priority,
    RemoteStep,
    Technician,
    WorkOrder,
    WorkOrderPhoto,
    WorkOrderStatus,
)
from workorders.services import dispatch, fieldwork, lifecycle, remediation

S = WorkOrderStatus
PAGE_SIZE = 50
RECENT_STATUS_EVENTS = 20
RECENT_FRAMES = 30
RECENT_COMMANDS = 10
# An open order due within this is flagged before it breaches.
DUE_SOON = timedelta(hours=1)


def _sla_state(order: WorkOrder, now: datetime) -> str:
    """met / missed once the work is done; breached / soon / ok while it is open."""
    done = order.verified_at or order.on_site_ended_at
    if order.status not in OPEN_WORK_ORDER_STATUSES or done:
        end = done or now
        return "missed" if end > order.sla_due_at else "met"
    if now > order.sla_due_at:
        return "breached"
    return "soon" if order.sla_due_at - now < DUE_SOON else "ok"


def _site_zone(site: Site | None):
    try:
        return ZoneInfo(site.time_zone) if site is not None and site.time_zone else timezone.get_current_timezone()
    except (KeyError, ValueError):
        return timezone.get_current_timezone()


def _problem(request, message: str, *, back: str, status: int = 400):
    """A refusal a person can read on a phone, with the way back."""
    return render(request, "workorders/problem.html", {"message": message, "back": back}, status=status)


# --- The technician's queue and work order ---------------------------------


class MyQueueView(PortalPermissionMixin, TemplateView):
    """The logged-in technician's open work: due today first, each group by SLA due time."""

    permission_required = "workorders.view_workorder"
    template_name = "workorders/my_queue.html"

    def get_context_data(self, **kwargs):
        context = super().get_context_data(**kwargs)
        now = timezone.now()
        orders = list(
            WorkOrder.objects.filter(technician__user=self.request.user, status__in=OPEN_WORK_ORDER_STATUSES)
            .select_related("station__site", "connector")
            .order_by("sla_due_at", "id")
        )
        today, later, waiting = [], [], []
        for order in orders:
            order.sla_state = _sla_state(order, now)
            if order.status == S.RESOLVED:
                waiting.append(order)  # done on site; the charger has yet to confirm
                continue
            zone = _site_zone(order.station.site)
            due_today = timezone.localtime(order.sla_due_at, zone).date() <= timezone.localtime(now, zone).date()
            (today if due_today else later).append(order)
        context.update(
            groups=[("Today", today), ("Later", later), ("Waiting for the charger to confirm", waiting)],
            order_count=len(orders),
            is_technician=bool(orders) or Technician.objects.filter(user=self.request.user).exists(),
        )
        return context


class WorkOrderMixin(PortalPermissionMixin):
    """A work order its technician, a dispatcher or an operator may see; 404 for anyone else's."""

    permission_required = "workorders.view_workorder"

    def get_order(self) -> WorkOrder:
        order = (
            WorkOrder.objects.select_related(
                "station__site", "connector", "technician__user", "incident__playbook", "plan"
            )
            .filter(pk=self.kwargs["pk"])
            .first()
        )
        if order is None or not fieldwork.can_view(self.request.user, order):
            raise Http404("No such work order")
        return order

    def detail_url(self, order: WorkOrder, anchor: str = "") -> str:
        return reverse("workorders:detail", args=[order.pk]) + (f"#{anchor}" if anchor else "")


def _live_context(user, order: WorkOrder) -> dict:
    """The station as it is now: connectors, commands, status history and frames."""
    station = order.station
    connectors = station_selectors.station_connectors(station=station)
    return {
        "order": order,
        "station": station,
        "connectors": connectors,
        "recent_commands": station_selectors.station_recent_commands(station=station, limit=RECENT_COMMANDS),
        "status_events": list(
            StatusEvent.objects.filter(station=station)
            .select_related("connector")
            .order_by("-received_at", "-id")[:RECENT_STATUS_EVENTS]
        ),
        # Served by the (station, -created_at) index.
        "frames": station_selectors.station_recent_frames(station=station, limit=RECENT_FRAMES),
        "onsite_commands": fieldwork.onsite_commands_allowed(user=user, work_order=order, connectors=connectors),
    }


def _diagnosis(order: WorkOrder) -> dict:
    """The stored diagnosis, shaped for reading: steps and parts as lists, step names spelled out."""
    raw = order.diagnosis or {}
    tried = []
    for step in raw.get("remote_steps_tried", []):
        value = step.get("step", "")
        label = RemoteStep(value).label if value in RemoteStep.values else value
        tried.append({**step, "label": label, "at": _parse_time(step.get("at"))})
    return {
        **raw,
        "codes": [c for c in (raw.get("error_code"), raw.get("vendor_error_code")) if c and c != "NoError"],
        "field_steps_list": _split(raw.get("field_steps", "")),
        "likely_parts_list": _split(raw.get("likely_parts", "")),
        "remote_steps_tried": tried,
    }


def _duration(delta: timedelta) -> str:
    minutes = max(0, int(delta.total_seconds() // 60))
    return f"{minutes // 60} h {minutes % 60:02d} min" if minutes >= 60 else f"{minutes} min"


def _playbook_context(entry) -> dict:
    """A playbook entry as the order and incident pages show it."""
    return {
        "playbook": entry,
        "playbook_field_steps": _split(entry.field_steps) if entry else [],
        "playbook_remote_steps": [RemoteStep(s).label for s in entry.remote_steps if s in RemoteStep.values]
        if entry
        else [],
    }


def _split(text: str) -> list[str]:
    return [part.strip() for part in (text or "").split(";") if part.strip()]


def _parse_time(value):
    try:
        return datetime.fromisoformat(value) if value else None
    except (TypeError, ValueError):
        return None


class WorkOrderDetailView(WorkOrderMixin, TemplateView):
    template_name = "workorders/detail.html"

    def get_context_data(self, **kwargs):
        context = super().get_context_data(**kwargs)
        user = self.request.user
        order = self.get_order()
        now = timezone.now()
        order.sla_state = _sla_state(order, now)
        incident = order.incident
        entry = incident.playbook if incident else None
        end = order.on_site_ended_at or (now if order.on_site_started_at else None)
        context.update(_live_context(user, order))
        context.update(
            zone=_site_zone(order.station.site),
            moves=[(to, MOVE_LABELS.get(to, S(to).label)) for to in fieldwork.moves_for(user=user, work_order=order)],
            resolution_suggestions=RESOLUTION_SUGGESTIONS,
            can_record=fieldwork.can_record(user, order),
            fieldwork_form=FieldworkForm(work_order=order),
            photo_form=PhotoForm(),
            photos=list(order.photos.select_related("uploaded_by").order_by("uploaded_at", "id")),
            events=list(order.events.select_related("by").order_by("at", "id")),
            diagnosis=_diagnosis(order),
            **_playbook_context(entry),
            timeline=list(incident.steps.select_related("command").order_by("at", "id")) if incident else [],
            on_site_for=_duration(end - order.on_site_started_at) if order.on_site_started_at and end else "",
            can_dispatch=user.has_perm(fieldwork.CHANGE_ANY) and S.ASSIGNED in lifecycle.TRANSITIONS[order.status],
            can_open_station=user.has_perm("stations.view_chargingstation"),
            is_own=fieldwork.is_own(user, order),
        )
        return context


class WorkOrderLiveView(WorkOrderMixin, TemplateView):
    """The live part of the work order page, fetched again when its station changes."""

    template_name = "workorders/_workorder_live.html"

    def get_context_data(self, **kwargs):
        context = super().get_context_data(**kwargs)
        order = self.get_order()
        context.update(_live_context(self.request.user, order), zone=_site_zone(order.station.site))
        return context


class WorkOrderMoveView(WorkOrderMixin, View):
    def post(self, request, pk: int):
        order = self.get_order()
        form = StatusMoveForm(request.POST)
        if not form.is_valid():
            return _problem(
                request, f"{request.POST.get('to')!r} is not a work order status", back=self.detail_url(order)
            )
        to = form.cleaned_data["to"]
        try:
            order = fieldwork.workorder_move(
                work_order=order,
                to=to,
                by=request.user,
                resolution_code=form.cleaned_data["resolution_code"],
                note=form.cleaned_data["note"],
            )
        except fieldwork.NotAllowed as exc:
            raise PermissionDenied(str(exc)) from None
        except ValueError as exc:  # IllegalTransition, or a resolve without its code
            return _problem(request, _capitalised(str(exc)), back=self.detail_url(order))
        if to == S.RESOLVED:
            if order.status == S.VERIFIED:
                messages.success(request, "Resolved, and the charger confirms it: verified.")
            else:
                messages.info(request, "Resolved. It is verified when the charger reports healthy.")
        else:
            messages.success(request, f"Status: {order.get_status_display()}.")
        return redirect(self.detail_url(order))


def _capitalised(text: str) -> str:
    return text[:1].upper() + text[1:]


class WorkOrderFieldworkView(WorkOrderMixin, View):
    def post(self, request, pk: int):
        order = self.get_order()
        if not fieldwork.can_record(request.user, order):
            raise PermissionDenied("only an open work order's technician or a dispatcher may record work on it")
        form = FieldworkForm(request.POST, work_order=order)
        if not form.is_valid():
            return _problem(request, form.errors.as_text(), back=self.detail_url(order, "fieldwork"))
        lifecycle.workorder_update_fieldwork(
            work_order=order,
            by=request.user,
            checklist_done=form.cleaned_data["checklist"],
            notes=form.cleaned_data["notes"],
            parts_used=form.cleaned_data["parts_used"],
            follow_up=form.cleaned_data["follow_up"],
        )
        messages.success(request, "Saved.")
        return redirect(self.detail_url(order, "fieldwork"))


class WorkOrderPhotoView(WorkOrderMixin, View):
    def post(self, request, pk: int):
        order = self.get_order()
        form = PhotoForm(request.POST, request.FILES)
        if not form.is_valid():
            return _problem(request, "Choose a photo to upload.", back=self.detail_url(order, "photos"))
        try:
            fieldwork.workorder_photo_add(work_order=order, by=request.user, upload=form.cleaned_data["photo"])
        except fieldwork.NotAllowed as exc:
            raise PermissionDenied(str(exc)) from None
        except fieldwork.PhotoRefused as exc:
            return _problem(request, _capitalised(str(exc)), back=self.detail_url(order, "photos"))
        messages.success(request, "Photo added.")
        return redirect(self.detail_url(order, "photos"))


class WorkOrderPhotoFileView(WorkOrderMixin, View):
    """A photo, to whoever may see its work order (photos are not public media)."""

    def get(self, request, pk: int, photo_id: int):
        order = self.get_order()
        photo = WorkOrderPhoto.objects.filter(pk=photo_id, work_order=order).first()
        if photo is None:
            raise Http404("No such photo")
        try:
            handle = photo.image.open("rb")
        except FileNotFoundError:
            raise Http404("The photo's file is missing") from None
        response = FileResponse(handle, content_type=fieldwork.photo_content_type(photo))
        response["Cache-Control"] = "private, max-age=3600"
        return response


class WorkOrderCommandView(WorkOrderMixin, View):
    """An on-site command to the order's station, and only to it; the outcome arrives live."""

    def post(self, request, pk: int):
        order = self.get_order()
        form = OnsiteCommandForm(request.POST)
        if not form.is_valid():
            return _problem(request, "Choose a command to send.", back=self.detail_url(order, "station"))
        try:
            command = fieldwork.onsite_command_send(
                work_order=order,
                key=form.cleaned_data["command"],
                by=request.user,
                confirmed=form.cleaned_data["confirm"],
            )
        except fieldwork.NotAllowed as exc:
            raise PermissionDenied(str(exc)) from None
        except commands.CommandInvalid as exc:
            return _problem(request, _capitalised(str(exc)), back=self.detail_url(order, "station"))
        if command.status == CommandStatus.OFFLINE:
            messages.warning(request, f"{command.action} not sent: the station is not connected.")
        else:
            messages.info(request, f"{command.action} sent; its outcome appears below.")
        return redirect(self.detail_url(order, "station"))


# --- Dispatchers and operators ---------------------------------------------


class DispatchView(WorkOrderMixin, TemplateView):
    """Dispatch's ranked proposal with its reasons; accept it or pick another candidate."""

    permission_required = "workorders.change_workorder"
    template_name = "workorders/dispatch.html"

    def get_context_data(self, **kwargs):
        context = super().get_context_data(**kwargs)
        order = self.order
        candidates = dispatch.technicians_ranked(work_order=order)
        context.update(
            order=order,
            candidates=candidates,
            proposal=candidates[0] if candidates else None,
            skills=dispatch.required_skills(order),
            dispatchable=S.ASSIGNED in lifecycle.TRANSITIONS[order.status],
            decisions=list(
                order.dispatch_decisions.select_related("proposed__user", "chosen__user", "decided_by").order_by(
                    "-at", "-id"
                )[:5]
            ),
        )
        return context

    def get(self, request, *args, **kwargs):
        self.order = self.get_order()
        return super().get(request, *args, **kwargs)

    def post(self, request, pk: int):
        order = self.get_order()
        form = DispatchForm(request.POST, candidates=dispatch.technicians_ranked(work_order=order))
        if not form.is_valid():
            return _problem(request, "Choose one of the candidates.", back=reverse("workorders:dispatch", args=[pk]))
        try:
            decision = dispatch.dispatch(work_order=order, technician=form.chosen(), by=request.user, via="dispatcher")
        except lifecycle.IllegalTransition as exc:
            return _problem(request, _capitalised(str(exc)), back=self.detail_url(order))
        if decision.chosen is None:
            messages.warning(request, "Nobody is qualified for this work order; it stays unassigned.")
        else:
            messages.success(request, f"Dispatched to {decision.chosen}.")
        return redirect(self.detail_url(order))


class WorkOrderBoardView(PortalPermissionMixin, ListView):
    """Every work order, filtered; open ones unless asked otherwise."""

    permission_required = "workorders.view_all_workorders"
    template_name = "workorders/board.html"
    context_object_name = "orders"
    paginate_by = PAGE_SIZE

    def get_queryset(self):
        params = self.request.GET.copy()
        params.pop("page", None)
        status = params.get("status") or "open"
        queryset = WorkOrder.objects.select_related("station__site", "connector", "technician__user").order_by(
            "sla_due_at", "id"
        )
        if status in ("open", "all"):
            params.pop("status", None)
            if status == "open":
                queryset = queryset.filter(status__in=OPEN_WORK_ORDER_STATUSES)
        self.status_choice = status
        return WorkOrderFilter(params, queryset=queryset).qs

    def get_context_data(self, **kwargs):
        context = super().get_context_data(**kwargs)
        now = timezone.now()
        orders = list(context["orders"])
        user = self.request.user
        can_dispatch = user.has_perm(fieldwork.CHANGE_ANY)
        for order in orders:
            order.sla_state = _sla_state(order, now)
            order.dispatchable = can_dispatch and S.ASSIGNED in lifecycle.TRANSITIONS[order.status]
        params = self.request.GET.copy()
        params.pop("page", None)
        context.update(
            orders=orders,
            status_choice=self.status_choice,
            statuses=S.choices,
            priorities=Priority.choices,
            technicians=list(Technician.objects.select_related("user").order_by("user__username")),
            sites=list(Site.objects.only("id", "name").order_by("name")),
            filters=self.request.GET,
            querystring=params.urlencode(),
        )
        return context


def _incident_next(incident: Incident) -> str:
    """Where the incident goes from here, in the words of remediation's rules."""
    if incident.status == IncidentStatus.CLOSED:
        return "—"
    if incident.status == IncidentStatus.DISPATCHED:
        return "with a technician: verified when the charger reports healthy"
    if incident.kind == IncidentKind.OFFLINE:
        return "truck roll if still offline"
    entry = incident.playbook
    if entry is not None and entry.cause in (FaultCause.DRIVER, FaultCause.VEHICLE):
        return f"close: usually the {entry.cause}'s, no truck roll"
    steps = remediation.incident_remote_steps(incident)
    if incident.next_step < len(steps):
        return f"remote step {incident.next_step + 1} of {len(steps)}: {RemoteStep(steps[incident.next_step]).label}"
    return "truck-roll decision"


class IncidentBoardView(PortalPermissionMixin, ListView):
    """Incidents and where each is in its pipeline; open ones unless asked otherwise."""

    permission_required = "workorders.view_incident"
    template_name = "workorders/incident_board.html"
    context_object_name = "incidents"
    paginate_by = PAGE_SIZE

    def get_queryset(self):
        params = self.request.GET.copy()
        params.pop("page", None)
        if "open" not in params:
            params["open"] = "true"
        self.open_choice = params["open"]
        last = IncidentStep.objects.filter(incident=OuterRef("pk")).order_by("-at", "-id")
        queryset = (
            Incident.objects.select_related("station__site", "connector", "playbook")
            .annotate(
                last_step_kind=Subquery(last.values("kind")[:1]),
                last_step_reason=Subquery(last.values("reason")[:1]),
                last_step_at=Subquery(last.values("at")[:1]),
            )
            .prefetch_related(
                Prefetch(
                    "work_orders",
                    queryset=WorkOrder.objects.select_related("technician__user").order_by("-id"),
                )
            )
            .order_by("-opened_at", "-id")
        )
        return IncidentFilter(params, queryset=queryset).qs

    def get_context_data(self, **kwargs):
        context = super().get_context_data(**kwargs)
        incidents = list(context["incidents"])
        for incident in incidents:
            incident.next_label = _incident_next(incident)
        params = self.request.GET.copy()
        params.pop("page", None)
        context.update(
            incidents=incidents,
            open_choice=self.open_choice,
            kinds=IncidentKind.choices,
            filters=self.request.GET,
            querystring=params.urlencode(),
        )
        return context


class IncidentDetailView(PortalPermissionMixin, TemplateView):
    permission_required = "workorders.view_incident"
    template_name = "workorders/incident_detail.html"

    def get_context_data(self, **kwargs):
        context = super().get_context_data(**kwargs)
        incident = (
            Incident.objects.select_related("station__site", "connector", "playbook").filter(pk=kwargs["pk"]).first()
        )
        if incident is None:
            raise Http404("No such incident")
        entry = incident.playbook
        context.update(
            incident=incident,
            zone=_site_zone(incident.station.site),
            next_label=_incident_next(incident),
            steps=list(incident.steps.select_related("command").order_by("at", "id")),
            status_events=list(
                incident.status_events.select_related("connector").order_by("-received_at", "-id")[
                    :RECENT_STATUS_EVENTS
                ]
            ),
            work_orders=list(incident.work_orders.select_related("technician__user").order_by("-id")),
            **_playbook_context(entry),
        )
        return context


class TechnicianWorkloadView(PortalPermissionMixin, TemplateView):
    """Each technician's open work by status and what is due next. One query for the team."""

    permission_required = "workorders.view_technician"
    template_name = "workorders/technicians.html"

    def get_context_data(self, **kwargs):
        context = super().get_context_data(**kwargs)
        now = timezone.now()
        open_q = Q(work_orders__status__in=OPEN_WORK_ORDER_STATUSES)
        per_status = {
            f"n_{status}": Count("work_orders", filter=Q(work_orders__status=status))
            for status in OPEN_WORK_ORDER_STATUSES
        }
        technicians = list(
            Technician.objects.select_related("user")
            .annotate(
                open_orders=Count("work_orders", filter=open_q),
                next_due=Min("work_orders__sla_due_at", filter=open_q),
                breached=Count("work_orders", filter=open_q & Q(work_orders__sla_due_at__lt=now)),
                **per_status,
            )
            .order_by("user__username")
        )
        for technician in technicians:
            technician.by_status = [
                (S(status).label, getattr(technician, f"n_{status}")) for status in OPEN_WORK_ORDER_STATUSES
            ]
        unassigned = WorkOrder.objects.filter(technician__isnull=True, status__in=OPEN_WORK_ORDER_STATUSES).count()
        context.update(
            technicians=technicians,
            statuses=[S(status).label for status in OPEN_WORK_ORDER_STATUSES],
            unassigned=unassigned,
            now=now,
        )
        return context
