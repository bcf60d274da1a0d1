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
    """The station's ports over the last 30 days, one share bar each. Two queries."""
    now = timezone.now()
    return {
        "station": station,
        "ports": usage.station_ports_usage(station=station, start=now - PANEL_PERIOD, end=now, now=now),
        "states": list(usage.UsageState),
    }
