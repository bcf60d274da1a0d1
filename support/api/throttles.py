"""How often one client address may write through the public driver API."""

from rest_framework.settings import api_settings
from rest_framework.throttling import SimpleRateThrottle


class DriverTicketThrottle(SimpleRateThrottle):
    """New tickets and replies per client address, counted on the shared cache so every
    server process sees the same count.

    The address is the connection's own (NUM_PROXIES is 0): behind a proxy of ours the
    server has already taken it from X-Forwarded-For, and a header a client sends
    itself must not buy it a fresh allowance.
    """

    scope = "driver-tickets"

    def get_rate(self):
        # Read on each request rather than when the class is defined, so a changed
        # setting (another deployment's rate, a test's) applies.
        return api_settings.DEFAULT_THROTTLE_RATES[self.scope]

    def get_cache_key(self, request, view):
        return self.cache_format % {"scope": self.scope, "ident": self.get_ident(request)}
