"""Browser-facing protections: no inline code, the Content-Security-Policy, the
live socket's Origin check, HTTPS settings, and the admin keeping charger
password hashes to itself."""

import asyncio
import json
import subprocess
import sys
from html.parser import HTMLParser

import pytest
from django.contrib.auth.models import Group
from django.test import override_settings
from django.urls import reverse
from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed, InvalidStatus

from config import roles
from stations.services import credentials
from tests.conftest import BASE_DIR
from tests.factories import STATION_PASSWORD, StationFactory, UserFactory
from tests.helpers import IMG, MARKUP_PAYLOADS, SCRIPT, Hostile, hostile_world
from tests.ocpp_client import Charger, open_charger


class _Markup(HTMLParser):
    """Collects what in a page could run: inline scripts, event handler attributes, javascript: URLs."""

    def __init__(self):
        super().__init__()
        self.inline_scripts: list[str] = []
        self.handlers: list[tuple[str, str]] = []
        self.tags: list[str] = []
        self._in_inline_script = False

    def handle_starttag(self, tag, attrs):
        attributes = dict(attrs)
        # The charts the server draws are SVG of our own (class "chart"); any other svg is a payload.
        ours = tag == "svg" and "chart" in (attributes.get("class") or "").split()
        self.tags.append("svg.chart" if ours else tag)
        if tag == "script" and not attributes.get("src") and attributes.get("type") != "application/json":
            self._in_inline_script = True
            self.inline_scripts.append("")
        for name, value in attrs:
            if name.startswith("on") or (value or "").strip().lower().startswith("javascript:"):
                self.handlers.append((tag, name))

    def handle_endtag(self, tag):
        if tag == "script":
            self._in_inline_script = False

    def handle_data(self, data):
        if self._in_inline_script:
            self.inline_scripts[-1] += data


def _markup(html: str) -> _Markup:
    parser = _Markup()
    parser.feed(html)
    return parser


def _operator(username: str = "sec-op"):
    roles.ensure_roles()
    user = UserFactory(username=username, is_staff=True)
    user.groups.add(Group.objects.get(name=roles.OPERATOR))
    return user


def _pages(world: Hostile) -> dict[str, str]:
    identity = world.station.identity
    return {
        "station list": reverse("stations:station-list"),
        "station rows": reverse("stations:station-rows"),
        "station detail": reverse("stations:station-detail", args=[identity]),
        "station live": reverse("stations:station-live", args=[identity]),
        "work order board": reverse("workorders:board"),
        "work order": reverse("workorders:detail", args=[world.order.pk]),
        "work order live": reverse("workorders:live", args=[world.order.pk]),
        "dispatch": reverse("workorders:dispatch", args=[world.order.pk]),
        "incident board": reverse("workorders:incident-board") + "?open=",
        "incident": reverse("workorders:incident-detail", args=[world.incident.pk]),
        "technicians": reverse("workorders:technicians"),
    }


# --- Pages carry data as text, never as code -------------------------------


@pytest.mark.django_db
def test_pages_showing_charger_and_user_data_hold_no_inline_code(client, playbook_seeded):
    world = hostile_world()
    client.force_login(_operator())

    for name, url in _pages(world).items():
        response = client.get(url)
        assert response.status_code == 200, name
        html = response.content.decode()
        markup = _markup(html)
        assert markup.inline_scripts == [], f"{name} has inline script"
        assert markup.handlers == [], f"{name} has event handler attributes {markup.handlers}"
        # Only our own markup: none of the payloads opened a tag of its own.
        assert "img" not in markup.tags and "svg" not in markup.tags and "b" not in markup.tags, name
        # The template-literal payload holds no markup characters: as text it is harmless.
        for payload in MARKUP_PAYLOADS:
            assert payload not in html, f"{name} shows {payload!r} unescaped"


@pytest.mark.django_db
def test_technician_queue_and_work_order_hold_no_inline_code(client, playbook_seeded):
    world = hostile_world()
    client.force_login(world.technician.user)

    for url in (reverse("workorders:my-queue"), reverse("workorders:detail", args=[world.order.pk])):
        html = client.get(url).content.decode()
        markup = _markup(html)
        assert (markup.inline_scripts, markup.handlers) == ([], []), url
        assert "img" not in markup.tags and "svg" not in markup.tags, url
        assert SCRIPT not in html and IMG not in html, url
    # The confirmation a reset asks for names the station, as attribute text.
    assert 'data-confirm="Soft reset on Q`+(window.__xss=1)+`${window.__xss=1}&quot;&#x27;&lt;b&gt;?' in html


@pytest.mark.django_db
def test_station_page_hands_the_disruptive_list_to_its_script_as_data(client):
    station = StationFactory(identity="DATA-1")
    client.force_login(_operator())

    html = client.get(reverse("stations:station-detail", args=[station.identity])).content.decode()

    panel = html[html.index('<aside class="card commands-panel"') :].split(">", 1)[0]
    assert 'data-station="DATA-1"' in panel
    assert 'data-disruptive="[&quot;ChangeAvailability&quot;' in panel
    assert 'src="/static/portal/confirm.js"' in html and 'src="/static/portal/live.js"' in html


# --- Content-Security-Policy ----------------------------------------------------


def _policy(response) -> dict[str, list[str]]:
    header = response.headers["Content-Security-Policy"]
    directives = {}
    for part in header.split(";"):
        name, *values = part.split()
        directives[name] = values
    return directives


@pytest.mark.django_db
@pytest.mark.parametrize(
    "url",
    ["/stations/", "/admin/", "/admin/stations/chargingstation/", "/api/docs/", "/api/docs/?script=", "/login/"],
)
def test_every_page_has_a_strict_policy(client, url):
    client.force_login(_operator())

    response = client.get(url)

    assert response.status_code == 200
    policy = _policy(response)
    assert policy["script-src"] == ["'self'"]
    assert "'unsafe-inline'" not in response.headers["Content-Security-Policy"]
    assert "'unsafe-eval'" not in response.headers["Content-Security-Policy"]
    assert policy["object-src"] == ["'none'"]
    assert policy["base-uri"] == ["'self'"]
    assert policy["frame-ancestors"] == ["'none'"]
    assert policy["connect-src"] == ["'self'", "ws://testserver", "wss://testserver"]


@pytest.mark.django_db
def test_static_files_and_anonymous_pages_have_the_policy_too(client):
    for url in ("/static/portal/live.js", "/login/", "/stations/"):
        response = client.get(url)
        assert "script-src 'self'" in response.headers["Content-Security-Policy"], url


@pytest.mark.django_db
def test_api_docs_load_their_start_up_script_from_a_url(client):
    client.force_login(_operator())

    page = client.get("/api/docs/").content.decode()
    script = client.get("/api/docs/?script=")

    assert _markup(page).inline_scripts == []
    assert "<style>" not in page
    assert 'src="/api/docs/?script="' in page
    assert script["Content-Type"].startswith("application/javascript")
    assert "SwaggerUIBundle" in script.content.decode()


@pytest.mark.django_db
def test_policy_names_the_host_the_page_came_from(client):
    response = client.get("/login/", HTTP_HOST="portal.example.com:8443")

    assert "ws://portal.example.com:8443" in _policy(response)["connect-src"]
    assert "wss://portal.example.com:8443" in _policy(response)["connect-src"]


@pytest.mark.django_db
def test_framing_sniffing_and_referrer_are_refused(client):
    response = client.get("/login/")

    assert response.headers["X-Frame-Options"] == "DENY"
    assert response.headers["X-Content-Type-Options"] == "nosniff"
    assert response.headers["Referrer-Policy"] == "same-origin"


# --- The live websocket's Origin --------------------------------------------------


async def _live_socket(server, cookie: str, origin: str | None) -> str:
    """'open' when the live socket accepts, else the HTTP status it was refused with."""
    headers = {"Cookie": f"sessionid={cookie}"}
    if origin is not None:
        headers["Origin"] = origin
    try:
        async with connect(
            f"ws://127.0.0.1:{server.port}/ws/live/stations/", additional_headers=headers, open_timeout=5
        ) as ws:
            # Open means it stays open: a consumer that closes at once is a refusal too.
            try:
                await asyncio.wait_for(ws.recv(), 0.3)
            except TimeoutError:
                return "open"
            return "open"
    except ConnectionClosed:
        return "closed"
    except InvalidStatus as exc:
        return str(exc.response.status_code)


@pytest.mark.usefixtures("live_db")
def test_live_socket_accepts_its_own_origin_and_refuses_others(ocpp_server, client):
    client.force_login(_operator("origin-op"))
    cookie = client.cookies["sessionid"].value
    own = f"http://127.0.0.1:{ocpp_server.port}"

    async def attempts():
        return {
            origin: await _live_socket(ocpp_server, cookie, origin)
            for origin in (
                own,
                "http://evil.example",
                f"http://127.0.0.1:{ocpp_server.port + 1}",
                f"https://127.0.0.1:{ocpp_server.port}.evil.example",
                "null",
                None,
            )
        }

    results = asyncio.run(attempts())

    assert results == {
        own: "open",
        "http://evil.example": "403",
        f"http://127.0.0.1:{ocpp_server.port + 1}": "403",
        f"https://127.0.0.1:{ocpp_server.port}.evil.example": "403",
        "null": "403",
        None: "403",
    }


@pytest.mark.usefixtures("live_db")
def test_chargers_need_no_origin_and_are_not_checked_for_one(ocpp_server):
    StationFactory(identity="NO-ORIGIN")

    async def boot(**kwargs):
        async with open_charger(ocpp_server.url, "NO-ORIGIN", STATION_PASSWORD, **kwargs) as ws:
            return await Charger(ws).result("BootNotification", {"chargePointVendor": "A", "chargePointModel": "B"})

    assert asyncio.run(boot())["status"] == "Accepted"
    assert asyncio.run(boot(origin="http://elsewhere.example"))["status"] == "Accepted"


async def _reaches_consumer(headers: list[tuple[bytes, bytes]]) -> bool:
    """Whether the validator hands a websocket with these headers on to the consumer."""
    from config.security import SameOriginValidator

    reached = []

    async def consumer(scope, receive, send):
        reached.append(scope["path"])

    events = iter([{"type": "websocket.connect"}, {"type": "websocket.disconnect", "code": 1000}])

    async def receive():
        return next(events)

    async def send(message):
        pass

    scope = {"type": "websocket", "path": "/ws/live/stations/", "headers": headers}
    await asyncio.wait_for(SameOriginValidator(consumer)(scope, receive, send), 5)
    return bool(reached)


@pytest.mark.parametrize(
    ("host", "origin", "accepted"),
    [
        ("portal.example.com", "https://portal.example.com", True),
        ("portal.example.com:443", "https://portal.example.com", True),
        ("portal.example.com", "http://portal.example.com", True),
        ("portal.example.com:8000", "http://portal.example.com:8000", True),
        ("PORTAL.example.com", "https://portal.EXAMPLE.com", True),
        ("[::1]:8000", "http://[::1]:8000", True),
        ("portal.example.com", "https://portal.example.com:8443", False),
        ("portal.example.com", "https://evil.example.com", False),
        ("portal.example.com", "https://portal.example.com.evil.example", False),
        ("portal.example.com", "https://sub.portal.example.com", False),
        ("portal.example.com", "https://portal.example.com:http", False),
        (None, "https://portal.example.com", False),
    ],
)
def test_origin_must_name_the_host_the_socket_was_opened_on(host, origin, accepted, settings):
    settings.ALLOWED_HOSTS = ["*"]
    settings.CSRF_TRUSTED_ORIGINS = []
    headers = [(b"origin", origin.encode())] + ([(b"host", host.encode())] if host else [])

    assert asyncio.run(_reaches_consumer(headers)) is accepted


def test_trusted_origins_from_settings_are_accepted(settings):
    settings.ALLOWED_HOSTS = ["*"]
    settings.CSRF_TRUSTED_ORIGINS = ["https://ops.example.com"]

    def attempt(origin: bytes) -> bool:
        return asyncio.run(_reaches_consumer([(b"origin", origin), (b"host", b"internal:8001")]))

    assert attempt(b"https://ops.example.com") is True
    assert attempt(b"http://ops.example.com") is False
    assert attempt(b"https://evil.example") is False


# --- HTTPS ------------------------------------------------------------------------


def _settings_under(env: dict) -> dict:
    """The settings a fresh process reads from this environment."""
    names = [
        "SECURE_PROXY_SSL_HEADER",
        "SESSION_COOKIE_SECURE",
        "CSRF_COOKIE_SECURE",
        "SECURE_SSL_REDIRECT",
        "SECURE_HSTS_SECONDS",
        "SECURE_HSTS_INCLUDE_SUBDOMAINS",
        "SECURE_HSTS_PRELOAD",
        "SESSION_COOKIE_HTTPONLY",
    ]
    code = (
        "import json, django; from django.conf import settings; django.setup(); "
        f"print(json.dumps({{n: getattr(settings, n, None) for n in {names!r}}}))"
    )
    import os

    clean = {k: v for k, v in os.environ.items() if not k.startswith(("SECURE_", "TRUST_X_"))}
    out = subprocess.run(
        [sys.executable, "-c", code],
        cwd=BASE_DIR,
        env={**clean, "DJANGO_SETTINGS_MODULE": "config.settings", **env},
        capture_output=True,
        text=True,
        check=True,
    )
    return json.loads(out.stdout)


def test_embedded_defaults_keep_plain_http_working():
    values = _settings_under({})

    assert values == {
        "SECURE_PROXY_SSL_HEADER": None,
        "SESSION_COOKIE_SECURE": False,
        "CSRF_COOKIE_SECURE": False,
        "SECURE_SSL_REDIRECT": False,
        "SECURE_HSTS_SECONDS": 0,
        "SECURE_HSTS_INCLUDE_SUBDOMAINS": False,
        "SECURE_HSTS_PRELOAD": False,
        "SESSION_COOKIE_HTTPONLY": True,
    }


def test_https_settings_come_from_the_environment():
    values = _settings_under(
        {
            "TRUST_X_FORWARDED": "1",
            "SECURE_COOKIES": "1",
            "SECURE_SSL_REDIRECT": "1",
            "SECURE_HSTS_SECONDS": "31536000",
            "SECURE_HSTS_INCLUDE_SUBDOMAINS": "1",
            "SECURE_HSTS_PRELOAD": "1",
        }
    )

    assert values == {
        "SECURE_PROXY_SSL_HEADER": ["HTTP_X_FORWARDED_PROTO", "https"],
        "SESSION_COOKIE_SECURE": True,
        "CSRF_COOKIE_SECURE": True,
        "SECURE_SSL_REDIRECT": True,
        "SECURE_HSTS_SECONDS": 31536000,
        "SECURE_HSTS_INCLUDE_SUBDOMAINS": True,
        "SECURE_HSTS_PRELOAD": True,
        "SESSION_COOKIE_HTTPONLY": True,
    }


def test_bad_https_setting_stops_start_up():
    with pytest.raises(subprocess.CalledProcessError) as failure:
        _settings_under({"SECURE_HSTS_SECONDS": "a year"})
    assert "SECURE_HSTS_SECONDS must be an integer" in failure.value.stderr


HTTPS_BEHIND_PROXY = {
    "SECURE_PROXY_SSL_HEADER": ("HTTP_X_FORWARDED_PROTO", "https"),
    "SESSION_COOKIE_SECURE": True,
    "CSRF_COOKIE_SECURE": True,
    "SECURE_HSTS_SECONDS": 31536000,
    "SECURE_HSTS_INCLUDE_SUBDOMAINS": True,
    "SECURE_HSTS_PRELOAD": True,
    "SECURE_SSL_REDIRECT": True,
}


@pytest.mark.django_db
@override_settings(**HTTPS_BEHIND_PROXY)
def test_over_https_pages_send_hsts_and_secure_cookies(client):
    response = client.get("/login/", HTTP_X_FORWARDED_PROTO="https")

    assert response.status_code == 200
    assert response.headers["Strict-Transport-Security"] == "max-age=31536000; includeSubDomains; preload"
    assert response.cookies["csrftoken"]["secure"] is True

    UserFactory(username="https-user")
    login = client.post(
        "/login/",
        {
            "username": "https-user",
            "password": "pw-for-tests",
            "csrfmiddlewaretoken": response.cookies["csrftoken"].value,
        },
        HTTP_X_FORWARDED_PROTO="https",
        HTTP_REFERER="https://testserver/login/",
    )
    assert login.status_code == 302
    assert login.cookies["sessionid"]["secure"] is True
    assert login.cookies["sessionid"]["httponly"] is True


@pytest.mark.django_db
@override_settings(**HTTPS_BEHIND_PROXY)
def test_plain_http_is_sent_to_https_but_charger_uploads_are_not(client):
    page = client.get("/login/")
    upload = client.post("/uploads/diagnostics/not-a-token/", data=b"x", content_type="application/octet-stream")

    assert (page.status_code, page.headers["Location"]) == (301, "https://testserver/login/")
    assert "Strict-Transport-Security" not in page.headers
    assert upload.status_code == 403  # reached the view, which refuses the bad token


# --- Admin ------------------------------------------------------------------------


@pytest.mark.django_db
def test_admin_station_pages_do_not_show_the_password_hash(client):
    station = StationFactory(identity="ADMIN-HASH")
    client.force_login(_operator("admin-op"))
    superuser = UserFactory(username="root", is_staff=True, is_superuser=True)
    client.force_login(superuser)

    change = client.get(reverse("admin:stations_chargingstation_change", args=[station.pk])).content.decode()
    listing = client.get(reverse("admin:stations_chargingstation_changelist")).content.decode()

    digest = station.password_hash.split("$")[-1]
    for html in (change, listing):
        assert station.password_hash not in html and digest not in html
        assert "password_hash" not in html
    assert 'name="new_password"' in change


@pytest.mark.django_db
def test_admin_sets_a_new_charger_password_through_the_credentials_rules(client):
    station = StationFactory(identity="ADMIN-PW")
    client.force_login(UserFactory(username="root", is_staff=True, is_superuser=True))
    url = reverse("admin:stations_chargingstation_change", args=[station.pk])
    form = {
        "identity": station.identity,
        "protocol": station.protocol,
        "registration_status": "Accepted",
        "heartbeat_interval": "60",
        "connectors-TOTAL_FORMS": "0",
        "connectors-INITIAL_FORMS": "0",
    }

    too_short = client.post(url, {**form, "new_password": "short"})
    station.refresh_from_db()
    assert too_short.status_code == 200 and "16 to 40 characters" in too_short.content.decode()
    assert credentials.verify_password(STATION_PASSWORD, station.password_hash)

    kept = client.post(url, {**form, "new_password": ""})
    station.refresh_from_db()
    assert kept.status_code == 302
    assert credentials.verify_password(STATION_PASSWORD, station.password_hash)

    changed = client.post(url, {**form, "new_password": "a-brand-new-secret-1234"})
    station.refresh_from_db()
    assert changed.status_code == 302
    assert credentials.verify_password("a-brand-new-secret-1234", station.password_hash)
    assert not credentials.verify_password(STATION_PASSWORD, station.password_hash)
