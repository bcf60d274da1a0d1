"""Usage analytics pages: the network's (or a site's) utilisation, peak hours and
sites that run out of ports, and a page per site. Figures come from
stations.selectors_usage; this module only reads the filters and names the
links each chart mark leads to."""

from urllib.parse import urlencode

from django.http import Http404
from django.urls import reverse
from django.utils import timezone
from django.views.generic import TemplateView

from config.roles import PortalPermissionMixin
from stations import selectors_usage as usage
from stations.models import ConnectorStatus, Site

# Station read access: operators, dispatchers and support agents; not technicians (their
# own work only) nor anyone without a role.
READ_USAGE = ("stations.view_chargingstation", "stations.view_statusevent", "stations.view_chargingsession")
WEEKDAYS = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")


def hour_points(by_time: usage.UsageByTime, href: str = "", energy: bool = False) -> list[dict]:
    points = []
    for hour, cell in enumerate(by_time.by_hour()):
        value = cell.energy_wh / 1000 if energy else cell.sessions
        what = f"{value:,.1f} kWh" if energy else f"{value} sessions"
        points.append(
            {"label": f"{hour:02d}", "value": value, "href": href, "title": f"{hour:02d}:00–{hour:02d}:59: {what}"}
        )
    return points


def weekday_points(by_time: usage.UsageByTime, href: str = "") -> list[dict]:
    return [
        {
            "label": WEEKDAYS[day],
            "value": cell.sessions,
            "href": href,
            "title": f"{WEEKDAYS[day]}: {cell.sessions} sessions",
        }
        for day, cell in enumerate(by_time.by_weekday())
    ]


def heat_rows(by_time: usage.UsageByTime) -> list[list[dict]]:
    return [
        [
            {"value": cell.sessions, "title": f"{WEEKDAYS[day]} {hour:02d}:00: {cell.sessions} sessions"}
            for hour, cell in enumerate(row)
        ]
        for day, row in enumerate(by_time.grid())
    ]


def station_list_url(**params) -> str:
    return f"{reverse('stations:station-list')}?{urlencode(params)}"


class AnalyticsView(PortalPermissionMixin, TemplateView):
    permission_required = READ_USAGE
    template_name = "analytics/analytics.html"

    def get_context_data(self, **kwargs):
        context = super().get_context_data(**kwargs)
        now = timezone.now()
        period, start, end = usage.period_bounds(self.request.GET.get("period"), now)
        sites = list(Site.objects.only("id", "name").order_by("name"))
        site = next((s for s in sites if str(s.pk) == self.request.GET.get("site", "")), None)
        site_id = site.pk if site else None
        by_time = usage.usage_by_time(start=start, end=end, site_id=site_id)
        here = f"{reverse('analytics')}?{urlencode({'period': period, **({'site': site_id} if site else {})})}"
        # The whole is the sum of the rows: one pass over the history, not two.
        if site:
            site_rows = None
            station_rows = usage.stations_usage(start=start, end=end, site_id=site_id, now=now)
            overall = usage.Utilisation.total(row.utilisation for row in station_rows)
        else:
            site_rows, overall = self.site_rows(start, end, now)
            station_rows = None
        context.update(
            period=period,
            periods=[(key, label) for key, (label, _) in usage.PERIODS.items()],
            start=start,
            end=end,
            sites=sites,
            site=site,
            overall=overall,
            site_rows=site_rows,
            station_rows=station_rows,
            by_time=by_time,
            hour_sessions=hour_points(by_time, here),
            hour_energy=hour_points(by_time, here, energy=True),
            weekday_sessions=weekday_points(by_time, here),
            heat=heat_rows(by_time),
            weekdays=WEEKDAYS,
            all_busy=usage.all_busy_sites(start=start, end=end, site_id=site_id, now=now),
            target=usage.uptime_target(),
            states=list(usage.UsageState),
        )
        return context

    @staticmethod
    def site_rows(start, end, now) -> tuple[list[usage.SiteUsage], usage.Utilisation]:
        rows, network = usage.sites_usage(start=start, end=end, now=now)
        uptime = usage.sites_uptime_this_month(now=now)
        for row in rows:
            row.uptime_percent = uptime.get(row.site.pk)
        return rows, network


class SiteDetailView(PortalPermissionMixin, TemplateView):
    """A site: its stations, how they are used and when, and when every port was taken."""

    permission_required = READ_USAGE
    template_name = "stations/site_detail.html"

    def get_context_data(self, **kwargs):
        context = super().get_context_data(**kwargs)
        site = Site.objects.filter(pk=kwargs["pk"]).first()
        if site is None:
            raise Http404("No such site")
        now = timezone.now()
        period, start, end = usage.period_bounds(self.request.GET.get("period"), now)
        by_time = usage.usage_by_time(start=start, end=end, site_id=site.pk)
        busy = usage.all_busy_sites(start=start, end=end, site_id=site.pk, now=now)
        station_rows = usage.stations_usage(start=start, end=end, site_id=site.pk, now=now)
        context.update(
            site=site,
            zone=usage.zone_or_none(site.time_zone) or timezone.get_current_timezone(),
            period=period,
            periods=[(key, label) for key, (label, _) in usage.PERIODS.items()],
            start=start,
            end=end,
            now_figures=usage.network_now(site_id=site.pk),
            uptime=usage.site_uptime_this_month(site_id=site.pk, now=now),
            target=usage.uptime_target(),
            overall=usage.Utilisation.total(row.utilisation for row in station_rows),
            station_rows=station_rows,
            by_time=by_time,
            hour_sessions=hour_points(by_time),
            heat=heat_rows(by_time),
            weekdays=WEEKDAYS,
            all_busy=busy[0] if busy else None,
            faulted_url=station_list_url(site=site.pk, status=ConnectorStatus.FAULTED),
            states=list(usage.UsageState),
        )
        return context
