"""The dispatcher's and operator's pages: the work order board, dispatching one
order, the team's workload, and a new work order for a station or an incident."""

from django.contrib import messages
from django.http import Http404
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils import timezone
from django.views import View
from django.views.generic import ListView, TemplateView

from config.roles import PortalPermissionMixin
from stations import selectors as station_selectors
from stations.models import ChargingStation
from workorders.forms import DispatchForm, WorkOrderCreateForm
from workorders.models import OPEN_WORK_ORDER_STATUSES, Priority, WorkOrderStatus
from workorders.selectors import incidents as incident_selectors
from workorders.selectors import workorders as selectors
from workorders.services import dispatch, lifecycle

from .common import PAGE_SIZE, WorkOrderMixin, capitalised

S = WorkOrderStatus
DISPATCHER = "workorders.change_workorder"


class WorkOrderBoardView(PortalPermissionMixin, ListView):
    """Every work order, filtered; open ones unless asked otherwise. It updates by itself."""

    permission_required = "workorders.view_all_workorders"
    template_name = "workorders/dispatch/board.html"
    context_object_name = "orders"
    paginate_by = PAGE_SIZE

    def get_queryset(self):
        self.status_choice = self.request.GET.get("status") or "open"
        return selectors.work_order_board(self.request.GET, status=self.status_choice)

    # The live fragment is the table alone: it needs no filter choices.
    with_filters = True

    def get_context_data(self, **kwargs):
        context = super().get_context_data(**kwargs)
        orders = selectors.with_sla(list(context["orders"]), timezone.now())
        can_dispatch = self.request.user.has_perm(DISPATCHER)
        for order in orders:
            order.dispatchable = can_dispatch and S.ASSIGNED in lifecycle.TRANSITIONS[order.status]
        params = self.request.GET.copy()
        params.pop("page", None)
        context.update(orders=orders, querystring=params.urlencode())
        if self.with_filters:
            context.update(
                status_choice=self.status_choice,
                statuses=S.choices,
                priorities=Priority.choices,
                filters=self.request.GET,
                live_query=self.request.GET.urlencode(),
                **selectors.board_choices(),
            )
        return context


class WorkOrderBoardLiveView(WorkOrderBoardView):
    """The board's table alone, for the page to fetch again."""

    template_name = "workorders/dispatch/_board.html"
    with_filters = False


class DispatchView(WorkOrderMixin, View):
    """Dispatch's ranked proposal with its reasons; accept it or pick another candidate."""

    permission_required = DISPATCHER

    def render_page(self, request, order, form=None, status=200):
        candidates = dispatch.technicians_ranked(work_order=order)
        context = {
            "order": order,
            "zone": selectors.site_zone(order.station.site),
            "candidates": candidates,
            "proposal": candidates[0] if candidates else None,
            "skills": dispatch.required_skills(order),
            "dispatchable": S.ASSIGNED in lifecycle.TRANSITIONS[order.status],
            "decisions": selectors.dispatch_decisions(order),
            "form": form,
            "selected": form.data.get("technician", "") if form is not None else "",
        }
        return render(request, "workorders/dispatch/dispatch.html", context, status=status)

    def get(self, request, pk: int):
        return self.render_page(request, self.get_order())

    def post(self, request, pk: int):
        order = self.get_order()
        form = DispatchForm(request.POST, candidates=dispatch.technicians_ranked(work_order=order))
        if not form.is_valid():
            return self.render_page(request, order, form=form, status=400)
        try:
            decision = dispatch.dispatch(work_order=order, technician=form.chosen(), by=request.user, via="dispatcher")
        except lifecycle.IllegalTransition as exc:
            form.add_error(None, capitalised(str(exc)))
            return self.render_page(request, order, form=form, status=409)
        if decision.chosen is None:
            messages.warning(request, "Nobody is qualified for this work order; it stays unassigned.")
        else:
            messages.success(request, f"Dispatched to {decision.chosen}.")
        return redirect(self.detail_url(order))


class TechnicianWorkloadView(PortalPermissionMixin, TemplateView):
    """Each technician's open work by status and what is due next."""

    permission_required = "workorders.view_technician"
    template_name = "workorders/dispatch/technicians.html"

    def get_context_data(self, **kwargs):
        context = super().get_context_data(**kwargs)
        now = timezone.now()
        technicians, unassigned = selectors.technician_workload(now=now)
        context.update(
            technicians=technicians,
            statuses=[S(status).label for status in OPEN_WORK_ORDER_STATUSES],
            unassigned=unassigned,
            now=now,
        )
        return context


class WorkOrderCreateView(PortalPermissionMixin, View):
    """A new work order for a station, or for an incident (its station, connector and diagnosis)."""

    permission_required = DISPATCHER
    template_name = "workorders/dispatch/create.html"

    def _subject(self, request):
        source = request.POST if request.method == "POST" else request.GET
        incident = None
        if source.get("incident", "").isdigit():
            incident = incident_selectors.incident_for_page(int(source["incident"]))
            if incident is None:
                raise Http404("No such incident")
            station = incident.station
        else:
            try:
                station = station_selectors.station_detail(identity=source.get("station", ""))
            except ChargingStation.DoesNotExist:
                raise Http404("No such station") from None
        return station, incident

    def _page(self, request, station, incident, form, status=200):
        context = {"station": station, "incident": incident, "form": form}
        return render(request, self.template_name, context, status=status)

    def get(self, request):
        station, incident = self._subject(request)
        connectors = station_selectors.station_connectors(station=station)
        initial = {"kind": "corrective", "priority": Priority.P2, "dispatch_now": True}
        if incident is not None:
            initial.update(connector=incident.connector_id, title=f"{station.identity}: {incident.get_kind_display()}")
        return self._page(request, station, incident, WorkOrderCreateForm(initial=initial, connectors=connectors))

    def post(self, request):
        station, incident = self._subject(request)
        form = WorkOrderCreateForm(request.POST, connectors=station_selectors.station_connectors(station=station))
        if not form.is_valid():
            return self._page(request, station, incident, form, status=400)
        data = form.cleaned_data
        order = lifecycle.workorder_create(
            kind=data["kind"],
            priority=data["priority"],
            station=station,
            connector=form.connectors.get(data["connector"]),
            incident=incident,
            title=data["title"],
            by=request.user,
            via="portal",
        )
        if data["dispatch_now"]:
            decision = dispatch.dispatch(work_order=order, by=request.user, via="dispatcher")
            if decision.chosen is None:
                messages.warning(request, f"WO-{order.pk} created; nobody is qualified, so it is not assigned.")
            else:
                messages.success(request, f"WO-{order.pk} created and dispatched to {decision.chosen}.")
        else:
            messages.success(request, f"WO-{order.pk} created.")
        return redirect(reverse("workorders:detail", args=[order.pk]))
