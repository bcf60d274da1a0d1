import json

from django import template

register = template.Library()


@register.filter
def as_json(value) -> str:
    """Show a payload as the JSON that crossed the wire, not as Python's repr."""
    return json.dumps(value, separators=(", ", ": "), ensure_ascii=False)
