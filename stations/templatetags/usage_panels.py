"""Panels of usage figures that other pages of stations include: the station page
shows its ports' utilisation without its view having to know about analytics."""

from datetime import timedelta

from django import template
from django.utils import timezone

from stations import selectors_usage as usage

register = template.Library()

PANEL_PERIOD = timedelta(days=30)


@register.inclusion_tag("analytics/_station_usage.html")
def station_usage_panel(station):
    """The station's ports over the last 30 days, one share bar each, and their uptime this month."""
    now = timezone.now()
    ports = usage.station_ports_usage(station=station, start=now - PANEL_PERIOD, end=now, now=now)
    uptime = usage.ports_uptime_this_month(station_ids=[station.pk], now=now)
    for port in ports:
        port.uptime_percent = uptime.get(port.connector.pk)
    return {"station": station, "ports": ports, "states": list(usage.UsageState), "target": usage.uptime_target()}
