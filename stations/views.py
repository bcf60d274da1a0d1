"""Operator pages for stations. Reads go through selectors; no rules here."""

from django.http import Http404
from django.views.generic import ListView, TemplateView

from config.roles import PortalPermissionMixin
from stations import selectors
from stations.models import ChargingStation, ConnectorStatus, Site


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
        can_see_frames = self.request.user.has_perm("stations.view_framelog")
        context.update(
            station=station,
            connectors=selectors.station_connectors(station=station),
            sessions=selectors.station_recent_sessions(station=station),
            frames=selectors.station_recent_frames(station=station) if can_see_frames else None,
        )
        return context
