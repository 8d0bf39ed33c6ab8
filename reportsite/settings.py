"""Settings, read from the environment. Every variable and its default is listed in docs/configuration.md."""

import os
from datetime import timedelta
from pathlib import Path
from urllib.parse import unquote, urlsplit

import dj_database_url
from django.core.exceptions import ImproperlyConfigured
from phonenumbers import COUNTRY_CODE_TO_REGION_CODE
from redis.backoff import ExponentialBackoff
from redis.retry import Retry

from reportsite.env import env_bool, env_float, env_int, env_list, env_str

BASE_DIR = Path(__file__).resolve().parent.parent

# --- Core -----------------------------------------------------------------------------------------------------------
# Off unless set (SPEC §19): a deployment that forgets a variable gets production's behaviour, and refuses to start
# without its secret key, rather than debug pages and a key anyone can read here. `make up` turns development on.
DEBUG = env_bool("DJANGO_DEBUG", False)
SECRET_KEY = env_str("DJANGO_SECRET_KEY", "")
if not SECRET_KEY:
    if not DEBUG:
        raise ImproperlyConfigured(
            "DJANGO_SECRET_KEY must be set when DJANGO_DEBUG is off. DJANGO_DEBUG is off unless set; for development "
            "on this machine, `make up` sets DJANGO_DEBUG=1 and a key of its own (docs/configuration.md)."
        )
    SECRET_KEY = "django-insecure-development-only-key-do-not-use-in-production"  # noqa: S105
# Keys of before a rotation: sessions and signed download links made with them keep working (docs/security.md).
SECRET_KEY_FALLBACKS = env_list("DJANGO_SECRET_KEY_FALLBACKS", "")
ALLOWED_HOSTS = env_list("DJANGO_ALLOWED_HOSTS", "localhost,127.0.0.1,[::1]")
CSRF_TRUSTED_ORIGINS = env_list("DJANGO_CSRF_TRUSTED_ORIGINS", "")
# The site's public base URL, for links built outside a request (events, webhooks, emails).
SITE_URL = env_str("SITE_URL", "http://localhost:8000").rstrip("/")
# Browser origins (scheme://host:port) that may open a WebSocket with their session, besides the origin the socket is
# served at when its host is one of ALLOWED_HOSTS (common/ws_auth.py). By default SITE_URL's and the CSRF-trusted ones.
_site_origin = "{0.scheme}://{0.netloc}".format(urlsplit(SITE_URL))
WS_ALLOWED_ORIGINS = env_list("WS_ALLOWED_ORIGINS", ",".join([_site_origin, *CSRF_TRUSTED_ORIGINS]))

INSTALLED_APPS = [
    "daphne",
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "axes",
    "rest_framework",
    "rest_framework.authtoken",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "django_rq",
    "channels",
    "phonenumber_field",
    "events",
    "reports",
    "notifications",
    "schedules",
    "graphapi",
    "reportsite",
]

MIDDLEWARE = [
    # /healthz and /readyz, answered before host validation and the HTTPS redirect (reportsite/health.py).
    "reportsite.health.HealthCheckMiddleware",
    # Django's own, with the hooks that do no I/O run on the event loop under ASGI (reportsite/middleware.py).
    "reportsite.middleware.Security",
    "reportsite.static_files.StaticFilesMiddleware",
    "reportsite.middleware.Sessions",
    "reportsite.middleware.Common",
    "reportsite.middleware.Csrf",
    "reportsite.middleware.Authentication",
    "reportsite.middleware.Messages",
    "reportsite.middleware.FrameOptions",
    # Last, as django-axes asks: turns a login refused for too many failures into the 429 page.
    "axes.middleware.AxesMiddleware",
]

# Django's deploy checks look for its middleware by dotted path; reportsite/checks.py runs them for the subclasses.
SILENCED_SYSTEM_CHECKS = ["security.W001", "security.W002", "security.W003"]

ROOT_URLCONF = "reportsite.urls"
ASGI_APPLICATION = "reportsite.asgi.application"

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
            ],
        },
    },
]

# --- Database -------------------------------------------------------------------------------------------------------
DATABASES = {
    "default": dj_database_url.parse(
        env_str("DATABASE_URL", f"sqlite:///{BASE_DIR / 'db.sqlite3'}"),
        # 0 (a connection per request) by default: daphne runs each request's database work on a thread of its own,
        # and a persistent connection would stay behind with every one of them. The Procfile's worker, one thread,
        # keeps its connections (WORKER_DATABASE_CONN_MAX_AGE).
        conn_max_age=env_int("DATABASE_CONN_MAX_AGE", 0),
        conn_health_checks=True,
    )
}
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    # WAL lets the web and the worker read while the other writes; IMMEDIATE takes the write lock at BEGIN so that
    # two writers queue on the busy timeout instead of failing with "database is locked" halfway through.
    DATABASES["default"]["OPTIONS"] = {
        "timeout": 20,
        "transaction_mode": "IMMEDIATE",
        "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
    }
    DATABASES["default"]["TEST"] = {"NAME": env_str("DJANGO_TEST_SQLITE_NAME", str(BASE_DIR / "run" / "test.sqlite3"))}
else:
    DATABASES["default"].setdefault("OPTIONS", {})["connect_timeout"] = 5
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

# --- Redis: RQ, the channel layer and the cache ---------------------------------------------------------------------
REDIS_URL = env_str("REDIS_URL", "redis://127.0.0.1:6379/0")
REDIS_CONNECT_TIMEOUT = env_float("REDIS_CONNECT_TIMEOUT", 2.0)
REDIS_SOCKET_TIMEOUT = env_float("REDIS_SOCKET_TIMEOUT", 5.0)

REPORT_DEFAULT_TIMEOUT = env_int("REPORT_DEFAULT_TIMEOUT", 300)
# Child processes that lay out the parts of a big document at the same time (reports/pdf_parts.py); 1 never splits.
REPORT_RENDER_PROCESSES = env_int("REPORT_RENDER_PROCESSES", os.cpu_count() or 1)
_redis = urlsplit(REDIS_URL)
# Host, port and db rather than the URL: django-rq passes REDIS_CLIENT_KWARGS (the timeouts) only this way.
RQ_QUEUES = {
    name: {
        "HOST": _redis.hostname or "127.0.0.1",
        "PORT": _redis.port or 6379,
        "DB": int((_redis.path or "/0").lstrip("/") or 0),
        "USERNAME": unquote(_redis.username) if _redis.username else None,
        "PASSWORD": unquote(_redis.password) if _redis.password else None,
        "SSL": _redis.scheme == "rediss",
        "DEFAULT_TIMEOUT": REPORT_DEFAULT_TIMEOUT,
        "REDIS_CLIENT_KWARGS": {
            "socket_connect_timeout": REDIS_CONNECT_TIMEOUT,
            "health_check_interval": 30,
            # Two quick retries (after 40 and 80 ms) replace a pooled connection that a Redis restart closed;
            # redis-py's default backoff would hold a POST for seconds on each call while Redis is down, when the
            # report is kept and enqueued later anyway.
            "retry": Retry(ExponentialBackoff(cap=0.1, base=0.02), 2),
        },
    }
    for name in ("reports", "notifications")
}
RQ = {
    "COMMIT_MODE": "on_db_commit",
    "WORKER_CLASS": "reports.worker.ReportWorker",
}
RQ_SHOW_ADMIN_LINK = True
# Bearer token for django-rq's Prometheus metrics (/django-rq/metrics/) and stats JSON; staff sessions need none.
RQ_API_TOKEN = env_str("RQ_API_TOKEN", "")
# Seconds each /readyz check (database, Redis) may take before the probe answers 503.
HEALTH_CHECK_TIMEOUT = env_float("HEALTH_CHECK_TIMEOUT", 2.0)
# Seconds a /readyz answer is reused by the process that made it: the probe is public, so this bounds what it costs.
HEALTH_CHECK_CACHE_SECONDS = env_float("HEALTH_CHECK_CACHE_SECONDS", 1.0)
# Jobs run inside the warmed-up worker process (reports/worker.py); past this peak resident size the worker
# re-executes itself after the job it is on. 0 turns the check off.
WORKER_MAX_MEMORY_MB = env_int("WORKER_MAX_MEMORY_MB", 1024)

CACHES = {
    "default": {
        "BACKEND": "django.core.cache.backends.redis.RedisCache",
        "LOCATION": REDIS_URL,
        "KEY_PREFIX": "reportsite",
        "OPTIONS": {"socket_connect_timeout": REDIS_CONNECT_TIMEOUT, "socket_timeout": REDIS_SOCKET_TIMEOUT},
    }
}
# The pub/sub layer: events reach consumers in about a millisecond against about four for the core layer, which
# polls sorted sets (bench/channel_layers.py; figures in docs/benchmarks.md). Live events are not stored anyway:
# a client that was away learns the state from the snapshot or the API.
CHANNEL_LAYERS = {
    "default": {
        "BACKEND": "channels_redis.pubsub.RedisPubSubChannelLayer",
        "CONFIG": {"hosts": [REDIS_URL], "prefix": "reportsite"},
    }
}

# --- Auth -----------------------------------------------------------------------------------------------------------
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]
LOGIN_URL = "/accounts/login/"
LOGIN_REDIRECT_URL = "/"
LOGOUT_REDIRECT_URL = "/accounts/login/"
# Login throttling (SPEC §19) by django-axes. Its backend goes first: it refuses a locked login before any password
# is checked. API tokens do not go through authenticate() and are not throttled here (REPORT_CREATE_RATE is theirs).
AUTHENTICATION_BACKENDS = ["axes.backends.AxesStandaloneBackend", "django.contrib.auth.backends.ModelBackend"]
# Failures are rows in the database: a login needs the database anyway, so throttling adds no dependency to it (with
# the cache handler a Redis outage would fail every login), and admins see and delete them in the admin (or with
# `manage.py axes_reset`). Axes ships the migrations.
AXES_HANDLER = "axes.handlers.database.AxesDatabaseHandler"
AXES_FAILURE_LIMIT = env_int("LOGIN_FAILURE_LIMIT", 10)
AXES_COOLOFF_TIME = timedelta(minutes=env_int("LOGIN_LOCKOUT_MINUTES", 15))
# Each a lock of its own: a user name whatever the address (one account guessed from many), and an address whatever
# the user name (many accounts guessed from one). The client's address is REMOTE_ADDR (docs/configuration.md).
AXES_LOCKOUT_PARAMETERS = ["username", "ip_address"]
AXES_LOCKOUT_CALLABLE = "reportsite.accounts.login_locked_out"
# Failures are all it needs; a row for every successful login would be a table that only grows. Not verbose: no
# banner at every process start, and its log lines mask the user name and address (AXES_SENSITIVE_PARAMETERS).
AXES_DISABLE_ACCESS_LOG = True
AXES_VERBOSE = False
# Password reset requests (each may send a mail), per client address and per email, in DRF's notation; empty: none.
PASSWORD_RESET_RATE = env_str("PASSWORD_RESET_RATE", "5/hour") or None

# --- Internationalisation -------------------------------------------------------------------------------------------
LANGUAGE_CODE = "en-us"
TIME_ZONE = env_str("DJANGO_TIME_ZONE", "UTC")
USE_I18N = True
USE_TZ = True

# --- Static and media files -----------------------------------------------------------------------------------------
STATIC_URL = "static/"
STATIC_ROOT = Path(env_str("DJANGO_STATIC_ROOT", str(BASE_DIR / "staticfiles")))
STATICFILES_DIRS = [BASE_DIR / "static"]
MEDIA_URL = "media/"
MEDIA_ROOT = Path(env_str("DJANGO_MEDIA_ROOT", str(BASE_DIR / "media")))
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
}
WHITENOISE_USE_FINDERS = DEBUG

# --- REST API -------------------------------------------------------------------------------------------------------
REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "rest_framework.authentication.TokenAuthentication",
        "rest_framework.authentication.SessionAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAuthenticated"],
    "DEFAULT_RENDERER_CLASSES": ["rest_framework.renderers.JSONRenderer"],
    "DEFAULT_PARSER_CLASSES": ["common.api.parsers.StrictJSONParser"],
    "DEFAULT_PAGINATION_CLASS": "common.api.pagination.NewestFirstCursorPagination",
    "PAGE_SIZE": 50,
    "EXCEPTION_HANDLER": "common.api.problems.problem_exception_handler",
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
    "URL_FORMAT_OVERRIDE": None,
}
SPECTACULAR_SETTINGS = {
    "TITLE": "Reports API",
    "DESCRIPTION": "Request PDF reports that are built in the background; learn of the result by polling, "
    "WebSocket or webhook.",
    "VERSION": "1.0.0",
    "SERVE_INCLUDE_SCHEMA": False,
    "COMPONENT_SPLIT_REQUEST": True,
    # Swagger UI served from this site's static files, not a CDN: the docs work offline and under a strict CSP.
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
    "ENUM_NAME_OVERRIDES": {
        "ReportStatusEnum": "reports.models.ReportStatus",
        "DeliveryStatusEnum": "events.models.DeliveryStatus",
        "RecoveryStatusEnum": "notifications.models.RecoveryStatus",
        "RecoverDeliveriesEnum": "notifications.api.serializers.RECOVER_CHOICES",
    },
    # 3.1: its `webhooks` section describes every event type we send (events/api/schema.py).
    "OAS_VERSION": "3.1.0",
    "POSTPROCESSING_HOOKS": [
        "drf_spectacular.hooks.postprocess_schema_enums",
        "reports.api.event_stream.document_event_stream",
        "common.api.schema.problem_responses",
        "events.api.schema.document_webhooks",
    ],
}

# --- Reports --------------------------------------------------------------------------------------------------------
REPORT_RETENTION_DAYS = env_int("REPORT_RETENTION_DAYS", 30)
# A pending report's Retry-After is an estimate of the seconds it has left (reports/estimates.py): its place in the
# queue, the recent median build time of its type, the workers listening. This is the build time assumed for a type
# with no recent builds, and the answer when Redis cannot be asked.
REPORT_POLL_RETRY_AFTER = env_int("REPORT_POLL_RETRY_AFTER", 1)
# The estimate is at most this: a client that waits longer would miss a worker added meanwhile.
REPORT_RETRY_AFTER_MAX = env_int("REPORT_RETRY_AFTER_MAX", 300)
# Long poll (SPEC §17): `Prefer: wait=N` on GET /api/v1/reports/{id} waits at most this many seconds.
REPORT_MAX_WAIT_SECONDS = env_int("REPORT_MAX_WAIT_SECONDS", 30)
# Whether this process holds long polls. Off under WSGI (reportsite/wsgi.py), where a held request would hold a thread
# and every read of a report would pay a hop into an event loop: there `Prefer: wait` is answered at once, as a poll.
REPORT_LONG_POLL = env_bool("REPORT_LONG_POLL", True)
# Signed download links (SPEC §17): how long a `download_url` works.
REPORT_LINK_TTL_SECONDS = env_int("REPORT_LINK_TTL_SECONDS", 3600)
# `reuse_within` (SPEC §17) is at most this many seconds.
REPORT_REUSE_MAX_SECONDS = 86400
# The web UI's New report offers the requester's report of the same type and parameters from this recently (queued,
# running, or succeeded) before building another; 0: never.
REPORT_UI_REUSE_OFFER_SECONDS = env_int("REPORT_UI_REUSE_OFFER_SECONDS", 3600)
# A report still queued or running this long past its timeout is failed by the reaper.
REPORT_STUCK_GRACE_SECONDS = env_int("REPORT_STUCK_GRACE_SECONDS", 120)

# --- Faults, overload and bad input (docs/reliability.md) --------------------------------------------------------
# How often the stuck-report reaper runs (RQ cron, reportsite/cron.py).
REPORT_REAPER_INTERVAL_SECONDS = env_int("REPORT_REAPER_INTERVAL_SECONDS", 60)
# A report queued this long whose job is not in Redis (the enqueue failed, or Redis lost it) is enqueued again.
REPORT_REQUEUE_AFTER_SECONDS = env_int("REPORT_REQUEUE_AFTER_SECONDS", 30)
# A running report's worker records that it is alive this often; silent for REPORT_LOST_AFTER_SECONDS, it is lost.
REPORT_HEARTBEAT_SECONDS = env_int("REPORT_HEARTBEAT_SECONDS", 10)
REPORT_LOST_AFTER_SECONDS = env_int("REPORT_LOST_AFTER_SECONDS", 45)
# Attempts at a report whose worker is lost (killed, host gone): retried until this many, then failed.
REPORT_MAX_ATTEMPTS = env_int("REPORT_MAX_ATTEMPTS", 2)
# POST /api/v1/reports per user, in DRF's notation ("60/min", "1000/hour"); empty: no limit.
REPORT_CREATE_RATE = env_str("REPORT_CREATE_RATE", "60/min") or None
# Load shedding: more than this many jobs waiting on the reports queue and POST answers 503; 0: never.
REPORT_QUEUE_MAX_BACKLOG = env_int("REPORT_QUEUE_MAX_BACKLOG", 1000)
REPORT_OVERLOAD_RETRY_AFTER = env_int("REPORT_OVERLOAD_RETRY_AFTER", 30)
# Request bodies over this many bytes are refused with 413.
DATA_UPLOAD_MAX_MEMORY_SIZE = env_int("REQUEST_MAX_BODY_BYTES", 1024 * 1024)
IDEMPOTENCY_KEY_TTL_HOURS = env_int("IDEMPOTENCY_KEY_TTL_HOURS", 24)
# A report's parameters, as compact JSON, take at most this many bytes (SPEC §19): every event of the report carries
# them to every channel, so they are kept small; a model_table export of many rows names them by filter instead.
REPORT_MAX_PARAMETERS_BYTES = env_int("REPORT_MAX_PARAMETERS_BYTES", 16 * 1024)

# --- Scheduled reports (SPEC §18) ------------------------------------------------------------------------------------
# Failed runs in a row that disable a schedule (its owner is told).
SCHEDULE_MAX_FAILURES = env_int("SCHEDULE_MAX_FAILURES", 3)
# Domains a schedule may email; empty: the domains of the users' own addresses; "*": any.
SCHEDULE_RECIPIENT_DOMAINS = env_list("SCHEDULE_RECIPIENT_DOMAINS", "")
SCHEDULE_MAX_RECIPIENTS = env_int("SCHEDULE_MAX_RECIPIENTS", 20)
SCHEDULE_MAX_PER_USER = env_int("SCHEDULE_MAX_PER_USER", 50)
# Each schedule starts its runs a fixed number of seconds (up to this) after its times, so that many schedules due at
# the same minute start spread over it.
SCHEDULE_JITTER_SECONDS = env_int("SCHEDULE_JITTER_SECONDS", 30)

# --- The event log and its deliveries (SPEC §14) --------------------------------------------------------------------
EVENT_RETENTION_DAYS = env_int("EVENT_RETENTION_DAYS", 30)
# A stream resumed after more missed events than this is reset instead (SPEC §15): the client reads the state again.
EVENT_REPLAY_MAX = env_int("EVENT_REPLAY_MAX", 10_000)
# How often the sweep looks for events whose fan-out did not finish (their process died right after the commit),
# and how old such an event must be before the sweep takes it over from the process that wrote it.
EVENT_SWEEP_INTERVAL_SECONDS = env_int("EVENT_SWEEP_INTERVAL_SECONDS", 10)
EVENT_FANOUT_GRACE_SECONDS = env_float("EVENT_FANOUT_GRACE_SECONDS", 5.0)
# Attempts in flight per worker's delivery run, and per target (one endpoint, URL, address or number), for every
# channel. The WEBHOOK_ names are the earlier names of the same settings.
DELIVERY_MAX_CONCURRENCY = env_int("DELIVERY_MAX_CONCURRENCY", env_int("WEBHOOK_MAX_CONCURRENCY", 64))
# Circuit breakers per provider and per webhook host (events/breakers.py): this many failed attempts within the
# window open one; its sends are then deferred for the cool-down, after which one trial attempt decides.
DELIVERY_BREAKER_FAILURES = env_int("DELIVERY_BREAKER_FAILURES", 5)
DELIVERY_BREAKER_WINDOW_SECONDS = env_int("DELIVERY_BREAKER_WINDOW_SECONDS", 60)
DELIVERY_BREAKER_COOLDOWN_SECONDS = env_int("DELIVERY_BREAKER_COOLDOWN_SECONDS", 30)
DELIVERY_TARGET_CONCURRENCY = env_int("DELIVERY_TARGET_CONCURRENCY", env_int("WEBHOOK_ENDPOINT_CONCURRENCY", 16))
# Test-only fault injection (common/faults.py): points where a process kills itself. Empty in any real deployment.
FAULT_POINTS = frozenset(env_list("FAULT_POINTS", ""))

# --- Webhooks (SPEC §7) ------------------------------------------------------------------------------------------
# CIDRs that webhooks may reach although they are internal (loopback, private...). Empty in production; in
# development the loopback networks, so that a receiver on this machine can be tried.
WEBHOOK_ALLOWED_NETWORKS = env_list("WEBHOOK_ALLOWED_NETWORKS", "127.0.0.0/8,::1/128" if DEBUG else "")
WEBHOOK_CONNECT_TIMEOUT = env_float("WEBHOOK_CONNECT_TIMEOUT", 5.0)
WEBHOOK_TIMEOUT = env_float("WEBHOOK_TIMEOUT", 15.0)
# Seconds to wait before each attempt: the first at once, then 5 s, 5 min, 30 min, 2 h, 5 h, 10 h, 10 h.
WEBHOOK_RETRY_SCHEDULE = [
    int(value) for value in env_list("WEBHOOK_RETRY_SCHEDULE", "0,5,300,1800,7200,18000,36000,36000")
]
# An endpoint that fails this many deliveries in a row is disabled and its owner told by email.
WEBHOOK_DISABLE_AFTER_FAILURES = env_int("WEBHOOK_DISABLE_AFTER_FAILURES", 50)
# Endpoints per user (SPEC §19): each event goes to each of them.
WEBHOOK_MAX_ENDPOINTS_PER_USER = env_int("WEBHOOK_MAX_ENDPOINTS_PER_USER", 20)
# Test pings (POST .../test) per endpoint of a user, in DRF's notation; each is a request made at once.
WEBHOOK_TEST_RATE = env_str("WEBHOOK_TEST_RATE", "10/min") or None
WEBHOOK_SECRET_OVERLAP_HOURS = env_int("WEBHOOK_SECRET_OVERLAP_HOURS", 24)
# A recovery (POST .../recover) sends at most this many deliveries again, the oldest first; another recovery from
# the last one's time sends the rest.
WEBHOOK_RECOVER_MAX_DELIVERIES = env_int("WEBHOOK_RECOVER_MAX_DELIVERIES", 10000)
DEFAULT_FROM_EMAIL = env_str("DJANGO_DEFAULT_FROM_EMAIL", "reports@localhost")
EMAIL_BACKEND = env_str(
    "DJANGO_EMAIL_BACKEND",
    "django.core.mail.backends.console.EmailBackend" if DEBUG else "django.core.mail.backends.smtp.EmailBackend",
)
EMAIL_TIMEOUT = env_int("DJANGO_EMAIL_TIMEOUT", 10)
# SMTP (the default backend when DJANGO_DEBUG is off). For an email service's API, see docs/notifications.md.
EMAIL_HOST = env_str("DJANGO_EMAIL_HOST", "localhost")
EMAIL_PORT = env_int("DJANGO_EMAIL_PORT", 25)
EMAIL_HOST_USER = env_str("DJANGO_EMAIL_HOST_USER", "")
EMAIL_HOST_PASSWORD = env_str("DJANGO_EMAIL_HOST_PASSWORD", "")
EMAIL_USE_TLS = env_bool("DJANGO_EMAIL_USE_TLS", False)
EMAIL_USE_SSL = env_bool("DJANGO_EMAIL_USE_SSL", False)
# Where the file-based email backend (django.core.mail.backends.filebased.EmailBackend) writes each message.
EMAIL_FILE_PATH = env_str("DJANGO_EMAIL_FILE_PATH", str(BASE_DIR / "run" / "emails"))

# --- Email and SMS notifications (SPEC §8) -------------------------------------------------------------------------
# "console" (prints), "locmem" (kept in notifications.messages.sms.outbox, for tests), "twilio", or a dotted class path.
SMS_BACKEND = env_str("SMS_BACKEND", "console")
TWILIO_ACCOUNT_SID = env_str("TWILIO_ACCOUNT_SID", "")
TWILIO_AUTH_TOKEN = env_str("TWILIO_AUTH_TOKEN", "")
TWILIO_FROM_NUMBER = env_str("TWILIO_FROM_NUMBER", "")
TWILIO_TIMEOUT = env_float("TWILIO_TIMEOUT", 10.0)
if SMS_BACKEND in ("twilio", "notifications.messages.sms.backends.twilio.SmsBackend") and not (
    TWILIO_ACCOUNT_SID and TWILIO_AUTH_TOKEN and TWILIO_FROM_NUMBER
):
    raise ImproperlyConfigured(
        "SMS_BACKEND=twilio needs TWILIO_ACCOUNT_SID, TWILIO_AUTH_TOKEN and TWILIO_FROM_NUMBER to be set."
    )
# Toll fraud guards (SPEC §19). Report SMS per user in any 24 hours (confirmation codes have their own throttle).
SMS_DAILY_LIMIT = env_int("SMS_DAILY_LIMIT", 20)
if SMS_DAILY_LIMIT < 0:
    raise ImproperlyConfigured("SMS_DAILY_LIMIT must be 0 (no SMS) or more.")
# Country calling codes SMS may go to ("1,44,49"); empty: any. Checked against phonenumbers' table of them.
SMS_ALLOWED_COUNTRY_CODES = [code.removeprefix("+") for code in env_list("SMS_ALLOWED_COUNTRY_CODES", "")]
if not all(code.isdigit() and int(code) in COUNTRY_CODE_TO_REGION_CODE for code in SMS_ALLOWED_COUNTRY_CODES):
    raise ImproperlyConfigured(
        f"SMS_ALLOWED_COUNTRY_CODES takes country calling codes such as 1,44,49, not {SMS_ALLOWED_COUNTRY_CODES}."
    )
SMS_ALLOWED_COUNTRY_CODES = [int(code) for code in SMS_ALLOWED_COUNTRY_CODES]
# A finished report's PDF is attached to its email when it is at most this many bytes; 0 never attaches it.
NOTIFY_EMAIL_ATTACHMENT_MAX_BYTES = env_int("NOTIFY_EMAIL_ATTACHMENT_MAX_BYTES", 5 * 1024 * 1024)
# Seconds to wait before each attempt at an email or SMS: the first at once, then 10 s, 1 min, 5 min, 30 min.
NOTIFY_RETRY_SCHEDULE = [float(value) for value in env_list("NOTIFY_RETRY_SCHEDULE", "0,10,60,300,1800")]
if not NOTIFY_RETRY_SCHEDULE:
    raise ImproperlyConfigured("NOTIFY_RETRY_SCHEDULE needs at least one value (the first attempt).")
# Phone numbers are stored as E.164. Without a default region they must be typed with their country code (+...).
PHONENUMBER_DEFAULT_REGION = env_str("PHONENUMBER_DEFAULT_REGION", "") or None
PHONENUMBER_DB_FORMAT = "E164"

# --- Logging --------------------------------------------------------------------------------------------------------
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"plain": {"format": "%(asctime)s %(levelname)s %(name)s %(message)s"}},
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "plain"}},
    "root": {"handlers": ["console"], "level": env_str("DJANGO_LOG_LEVEL", "INFO")},
    "loggers": {
        "xhtml2pdf": {"level": "WARNING"},
        "daphne": {"level": "WARNING"},
        # httpx logs each request's URL at INFO, query and all: a webhook URL's query may be its receiver's token.
        "httpx": {"level": "WARNING"},
        "httpcore": {"level": "WARNING"},
    },
}

# --- Production hardening (active when DJANGO_DEBUG is off) ---------------------------------------------------------
if not DEBUG:
    SESSION_COOKIE_SECURE = env_bool("DJANGO_SECURE_COOKIES", True)
    CSRF_COOKIE_SECURE = env_bool("DJANGO_SECURE_COOKIES", True)
    SECURE_SSL_REDIRECT = env_bool("DJANGO_SECURE_SSL_REDIRECT", True)
    SECURE_HSTS_SECONDS = env_int("DJANGO_SECURE_HSTS_SECONDS", 31536000)
    # Both depend on the deployment's domain: a subdomain served over plain HTTP needs the first off.
    SECURE_HSTS_INCLUDE_SUBDOMAINS = env_bool("DJANGO_SECURE_HSTS_INCLUDE_SUBDOMAINS", True)
    SECURE_HSTS_PRELOAD = env_bool("DJANGO_SECURE_HSTS_PRELOAD", True)
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
