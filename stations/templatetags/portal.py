import json
from datetime import datetime

from django import template
from django.utils import dateformat

register = template.Library()


@register.filter
def as_json(value) -> str:
    """Show a payload as the JSON that crossed the wire, not as Python's repr."""
    return json.dumps(value, separators=(", ", ": "), ensure_ascii=False)


@register.filter(expects_localtime=True)
def when(value, precision: str = "") -> str:
    """The portal's one way to show a moment: in the active time zone (a site's,
    inside {% timezone %}), the zone named, so nobody has to guess which it is.
    `|when:"seconds"` adds the seconds, for timelines of machine events."""
    if not isinstance(value, datetime):
        return ""
    return dateformat.format(value, "j M Y, H:i:s T" if precision == "seconds" else "j M Y, H:i T")
