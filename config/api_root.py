"""GET /api/: every endpoint of the API, from whichever app's router registered it.

Built by walking the URL configuration under api/, so an app that adds routes
(billing, support) is listed without anyone editing a list here.
"""

from django.urls import NoReverseMatch, URLPattern, URLResolver, get_resolver, reverse
from drf_spectacular.utils import extend_schema
from rest_framework.permissions import IsAuthenticated
from rest_framework.response import Response
from rest_framework.views import APIView

API_PREFIX = "api/"
# Not endpoints of the API proper: the schema and its viewer, and this list.
LEFT_OUT = {"api-root", "api-schema", "api-docs"}


def _named_paths(patterns, namespace: str = ""):
    for entry in patterns:
        if isinstance(entry, URLResolver):
            inner = f"{namespace}{entry.namespace}:" if entry.namespace else namespace
            yield from _named_paths(entry.url_patterns, inner)
        elif isinstance(entry, URLPattern) and entry.name:
            yield f"{namespace}{entry.name}"


def api_endpoints() -> dict[str, str]:
    """{path under /api/: path} of every endpoint under /api/ that takes no argument (lists, and views like KPIs)."""
    found: dict[str, str] = {}
    for entry in get_resolver().url_patterns:
        if not (isinstance(entry, URLResolver) and str(entry.pattern) == API_PREFIX):
            continue
        for name in _named_paths(entry.url_patterns):
            if name in LEFT_OUT or name.endswith("-detail"):
                continue
            try:
                path = reverse(name)
            except NoReverseMatch:
                continue  # needs an argument: reached from its list
            found.setdefault(path.removeprefix("/" + API_PREFIX).strip("/"), path)
    return dict(sorted(found.items()))


class ApiRootView(APIView):
    """Links to every list and report of the API."""

    permission_classes = [IsAuthenticated]

    @extend_schema(exclude=True)
    def get(self, request):
        return Response({name: request.build_absolute_uri(path) for name, path in api_endpoints().items()})
