"""Browser-facing protections that need the request: the CSP's websocket
sources and the live websocket's Origin check."""

from urllib.parse import urlparse

from channels.security.websocket import OriginValidator, WebsocketDenier
from csp.middleware import CSPMiddleware, PolicyParts
from django.conf import settings
from django.core.exceptions import DisallowedHost
from django.http.request import split_domain_port

_DEFAULT_PORTS = {"http": 80, "ws": 80, "https": 443, "wss": 443}


class ContentSecurityPolicyMiddleware(CSPMiddleware):
    """django-csp's policy, plus ws:// and wss:// of the host the page came from.

    CSP's 'self' covers same-host websockets only in newer browsers, and the
    host is not known in settings (ALLOWED_HOSTS may be "*"), so it is added
    per request.
    """

    def get_policy_parts(self, request, response, report_only: bool = False) -> PolicyParts:
        parts = super().get_policy_parts(request, response, report_only)
        if report_only:
            return parts
        try:
            host = request.get_host()
        except DisallowedHost:
            return parts
        connect = list(settings.CONTENT_SECURITY_POLICY["DIRECTIVES"].get("connect-src") or [])
        parts.update = {**(parts.update or {}), "connect-src": [*connect, f"ws://{host}", f"wss://{host}"]}
        return parts


class SameOriginValidator(OriginValidator):
    """Accept a browser's websocket only from a page of this site.

    Channels' AllowedHostsOriginValidator trusts every origin when ALLOWED_HOSTS
    is "*" (the embedded default), which would let any web page the operator
    visits open the live socket with their session cookie. Here the Origin must
    name the host the socket was opened on (what Django's CSRF check asks of
    HTTPS form posts), or one listed in CSRF_TRUSTED_ORIGINS or ALLOWED_HOSTS.
    A socket without an Origin is refused: browsers always send one.
    """

    def __init__(self, application):
        trusted = [host for host in settings.ALLOWED_HOSTS if host != "*"]
        super().__init__(application, [*trusted, *settings.CSRF_TRUSTED_ORIGINS])

    async def __call__(self, scope, receive, send):
        if scope["type"] != "websocket":
            raise ValueError("SameOriginValidator guards websockets only")
        origin = _header(scope, b"origin")
        parsed = urlparse(origin) if origin else None
        if (
            parsed is not None
            and parsed.hostname
            and (_same_host(parsed, _header(scope, b"host")) or self.validate_origin(parsed))
        ):
            return await self.application(scope, receive, send)
        return await WebsocketDenier()(scope, receive, send)


def _same_host(origin, host: str | None) -> bool:
    if not host:
        return False
    domain, port = split_domain_port(host)
    domain = domain.strip("[]")  # an IPv6 literal; urlparse gives its hostname bare
    default_port = _DEFAULT_PORTS.get(origin.scheme)
    try:
        origin_port = origin.port or default_port
    except ValueError:  # a port that is not a number
        return False
    return bool(domain) and domain == origin.hostname and (int(port) if port else default_port) == origin_port


def _header(scope, name: bytes) -> str | None:
    for key, value in scope.get("headers", []):
        if key == name:
            try:
                return value.decode("ascii")
            except UnicodeDecodeError:
                return None
    return None
