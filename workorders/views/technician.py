"""The technician's pages, phone first: their queue and the work order page, with
the status moves, on-site commands, notes and photos made from it. Dispatchers
and operators open the same work order page."""

from django.contrib import messages
from django.core.exceptions import PermissionDenied
from django.http import FileResponse, Http404
from django.shortcuts import redirect, render
from django.utils import timezone
from django.views import View
from django.views.generic import TemplateView

from config.roles import PortalPermissionMixin
from stations.models import CommandStatus
from stations.services import commands
from workorders.forms import (
    MOVE_LABELS,
    RESOLUTION_SUGGESTIONS,
    FieldworkForm,
    OnsiteCommandForm,
    PhotoForm,
    StatusMoveForm,
)
from workorders.models import WorkOrder, WorkOrderStatus
from workorders.selectors import workorders as selectors
from workorders.services import fieldwork, lifecycle, sla

from .common import WorkOrderMixin, capitalised, diagnosis, duration, playbook_context, problem

S = WorkOrderStatus


class MyQueueView(PortalPermissionMixin, TemplateView):
    """The logged-in technician's open work, most urgent first; it updates by itself."""

    permission_required = "workorders.view_workorder"
    template_name = "workorders/technician/queue.html"

    def get_context_data(self, **kwargs):
        context = super().get_context_data(**kwargs)
        groups = selectors.technician_queue(user=self.request.user, now=timezone.now())
        count = sum(len(group.orders) for group in groups)
        context.update(
            groups=groups,
            order_count=count,
            is_technician=bool(count) or selectors.has_technician_profile(self.request.user),
        )
        return context


class MyQueueLiveView(MyQueueView):
    template_name = "workorders/technician/_queue.html"


def _live_context(user, order: WorkOrder) -> dict:
    station_now = selectors.station_now(order.station)
    return {
        "order": order,
        "zone": selectors.site_zone(order.station.site),
        **station_now,
        "onsite_commands": fieldwork.onsite_commands_allowed(
            user=user, work_order=order, connectors=station_now["connectors"]
        ),
    }


def detail_page(request, order: WorkOrder, *, status: int = 200, **forms):
    """The work order page; after a refused form, with that form as it was sent and its errors."""
    user = request.user
    now = timezone.now()
    order.sla_state = sla.sla_state(order, now)
    incident = order.incident
    end = order.on_site_ended_at or (now if order.on_site_started_at else None)
    context = {
        **_live_context(user, order),
        **selectors.work_order_history(order),
        **playbook_context(incident.playbook if incident else None),
        "moves": [(to, MOVE_LABELS.get(to, S(to).label)) for to in fieldwork.moves_for(user=user, work_order=order)],
        "resolution_suggestions": RESOLUTION_SUGGESTIONS,
        "can_record": fieldwork.can_record(user, order),
        "fieldwork_form": forms.get("fieldwork_form") or FieldworkForm(work_order=order),
        "photo_form": forms.get("photo_form") or PhotoForm(),
        "move_form": forms.get("move_form"),
        "diagnosis": diagnosis(order),
        "on_site_for": duration(end - order.on_site_started_at) if order.on_site_started_at and end else "",
        "can_dispatch": user.has_perm(fieldwork.CHANGE_ANY) and S.ASSIGNED in lifecycle.TRANSITIONS[order.status],
        "can_open_station": user.has_perm("stations.view_chargingstation"),
        "is_own": fieldwork.is_own(user, order),
    }
    return render(request, "workorders/technician/detail.html", context, status=status)


class WorkOrderDetailView(WorkOrderMixin, View):
    def get(self, request, pk: int):
        return detail_page(request, self.get_order())


class WorkOrderLiveView(WorkOrderMixin, TemplateView):
    """The live part of the work order page, fetched again when its station changes."""

    template_name = "workorders/technician/_live.html"

    def get_context_data(self, **kwargs):
        context = super().get_context_data(**kwargs)
        context.update(_live_context(self.request.user, self.get_order()))
        return context


class WorkOrderMoveView(WorkOrderMixin, View):
    def post(self, request, pk: int):
        order = self.get_order()
        form = StatusMoveForm(request.POST)
        if not form.is_valid():
            return detail_page(request, order, status=400, move_form=form)
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
            return problem(request, capitalised(str(exc)), back=self.detail_url(order))
        if to == S.RESOLVED:
            if order.status == S.VERIFIED:
                messages.success(request, "Resolved, and the charger confirms it: verified.")
            else:
                messages.info(request, "Resolved. It is verified when the charger reports healthy.")
        else:
            messages.success(request, f"Status: {order.get_status_display()}.")
        return redirect(self.detail_url(order))


class WorkOrderFieldworkView(WorkOrderMixin, View):
    def post(self, request, pk: int):
        order = self.get_order()
        if not fieldwork.can_record(request.user, order):
            raise PermissionDenied("only an open work order's technician or a dispatcher may record work on it")
        form = FieldworkForm(request.POST, work_order=order)
        if form.is_valid():
            try:
                lifecycle.workorder_update_fieldwork(
                    work_order=order,
                    by=request.user,
                    checklist_done=form.cleaned_data["checklist"],
                    notes=form.cleaned_data["notes"],
                    parts_used=form.cleaned_data["parts_used"],
                    follow_up=form.cleaned_data["follow_up"],
                )
            except lifecycle.FieldworkRefused as exc:
                form.add_error(None, capitalised(str(exc)))
            else:
                messages.success(request, "Saved.")
                return redirect(self.detail_url(order, "fieldwork"))
        return detail_page(request, order, status=400, fieldwork_form=form)


class WorkOrderPhotoView(WorkOrderMixin, View):
    def post(self, request, pk: int):
        order = self.get_order()
        form = PhotoForm(request.POST, request.FILES)
        if form.is_valid():
            try:
                fieldwork.workorder_photo_add(work_order=order, by=request.user, upload=form.cleaned_data["photo"])
            except fieldwork.NotAllowed as exc:
                raise PermissionDenied(str(exc)) from None
            except fieldwork.PhotoRefused as exc:
                form.add_error("photo", capitalised(str(exc)))
            else:
                messages.success(request, "Photo added.")
                return redirect(self.detail_url(order, "photos"))
        return detail_page(request, order, status=400, photo_form=form)


class WorkOrderPhotoFileView(WorkOrderMixin, View):
    """A photo, to whoever may see its work order (photos are not public media)."""

    def get(self, request, pk: int, photo_id: int):
        photo = selectors.photo_of(self.get_order(), photo_id)
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
            return problem(request, "Choose a command to send.", back=self.detail_url(order, "station"))
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
            return problem(request, capitalised(str(exc)), back=self.detail_url(order, "station"))
        if command.status == CommandStatus.OFFLINE:
            messages.warning(request, f"{command.action} not sent: the station is not connected.")
        else:
            messages.info(request, f"{command.action} sent; its outcome appears below.")
        return redirect(self.detail_url(order, "station"))
