from django import template

from stations.services import session_extras as registry

register = template.Library()


@register.simple_tag
def session_extras(sessions) -> dict[int, dict]:
    """{% session_extras sessions as extras %}: prices and costs so far, for all the sessions at once."""
    return registry.session_extras(sessions)


@register.filter
def extras_for(extras: dict, session_id: int) -> dict:
    return extras.get(session_id, registry.EMPTY)
