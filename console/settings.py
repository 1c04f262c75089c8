"""Steward settings.

One file, read from the environment. With nothing set, Steward runs embedded: SQLite in
``var/steward.sqlite3``, Celery on the in-process ``memory://`` broker, the in-memory channel
layer. Production sets DATABASE_URL, CELERY_BROKER_URL and CHANNEL_LAYER_URL.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import dj_database_url
from django.core.exceptions import ImproperlyConfigured

BASE_DIR = Path(__file__).resolve().parent.parent


def env_str(name: str, default: str = "") -> str:
    return os.environ.get(name, default)


def env_bool(name: str, default: bool) -> bool:
    raw = os.environ.get(name)
    if raw is None or raw == "":
        return default
    if raw.lower() in ("1", "true", "yes", "on"):
        return True
    if raw.lower() in ("0", "false", "no", "off"):
        return False
    raise ImproperlyConfigured(f"{name} must be true or false, not {raw!r}")


def env_int(name: str, default: int) -> int:
    raw = os.environ.get(name)
    if raw is None or raw == "":
        return default
    try:
        return int(raw)
    except ValueError:
        raise ImproperlyConfigured(f"{name} must be an integer, not {raw!r}") from None


def env_origins(name: str) -> list[str]:
    """Comma-separated web origins (`scheme://host[:port]`, no path), as browsers send `Origin`."""
    origins = []
    for raw in os.environ.get(name, "").split(","):
        origin = raw.strip().removesuffix("/")
        if not origin:
            continue
        scheme, _, host = origin.partition("://")
        if scheme not in ("http", "https") or not host or "/" in host or "*" in host:
            raise ImproperlyConfigured(f"{name}: {raw.strip()!r} is not an origin like https://app.example.com")
        origins.append(origin.lower())
    return origins


DEBUG = env_bool("DEBUG", True)
SECRET_KEY = env_str("SECRET_KEY", "steward-embedded-demo-key-not-for-production")
if not DEBUG and SECRET_KEY.startswith("steward-embedded"):
    raise ImproperlyConfigured("Set SECRET_KEY when DEBUG is off.")
ALLOWED_HOSTS = [h for h in env_str("ALLOWED_HOSTS", "127.0.0.1,localhost,testserver").split(",") if h]

INSTALLED_APPS = [
    "daphne",
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "django_htmx",
    "ninja",
    "channels",
    "console",
    "agents",
    "approvals",
    "traces",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    # Before everything that could refuse a browser's keyless preflight (errors, rate limit).
    "console.langgraph_api.cors.LangGraphCorsMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "console.kernel.middleware.ApiErrorsMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "django_htmx.middleware.HtmxMiddleware",
    # After CSRF and authentication: a forged request spends nobody's budget, and the user is known.
    "console.kernel.ratelimit.RateLimitMiddleware",
    "console.kernel.security.ContentSecurityPolicyMiddleware",
    # Inside AuthenticationMiddleware: it needs request.user.
    "console.kernel.security.SignedInPagesNotStoredMiddleware",
]

ROOT_URLCONF = "console.urls"
WSGI_APPLICATION = None
ASGI_APPLICATION = "console.asgi.application"

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
                "console.web.context_processors.nav",
            ],
        },
    },
]

# --- Database -------------------------------------------------------------------------------
VAR_DIR = Path(env_str("STEWARD_VAR_DIR", str(BASE_DIR / "var")))
DATABASE_URL = env_str("DATABASE_URL")
# PGBOUNCER=true: DATABASE_URL points at PgBouncer in transaction pooling mode (docs/production.md).
# Django then never opens server-side cursors (`.iterator()` would DECLARE a cursor that outlives
# the pooled transaction); Django's psycopg backend already disables prepared statements, and the
# LangGraph checkpointer's own pool does the same when this is on (agents/engine/checkpointer.py).
PGBOUNCER = env_bool("PGBOUNCER", False)
# Connections each process may hold to Postgres (docs/production.md, "Database connections"):
# Django's pool of STEWARD_DB_CONNECTIONS per process, plus, in a worker process, the
# checkpointer's pool of STEWARD_CHECKPOINT_POOL_SIZE. Without a pool, daphne kept a connection
# per concurrent request (sync views run on a thread each) and a burst exhausted Postgres.
# 0 turns Django's pool off (behind PgBouncer it is off anyway); then DB_CONN_MAX_AGE applies.
STEWARD_DB_CONNECTIONS = env_int("STEWARD_DB_CONNECTIONS", 8)
STEWARD_CHECKPOINT_POOL_SIZE = env_int("STEWARD_CHECKPOINT_POOL_SIZE", 4)
# Seconds a request (or task) waits for a pooled connection before it is refused: the API then
# answers 503 with Retry-After (console/kernel/database_busy.py), never 500.
STEWARD_DB_POOL_TIMEOUT = env_int("STEWARD_DB_POOL_TIMEOUT", 10)
if STEWARD_DB_CONNECTIONS < 0 or STEWARD_CHECKPOINT_POOL_SIZE < 1 or STEWARD_DB_POOL_TIMEOUT < 1:
    raise ImproperlyConfigured(
        "STEWARD_DB_CONNECTIONS must be 0 or more, STEWARD_CHECKPOINT_POOL_SIZE and STEWARD_DB_POOL_TIMEOUT 1 or more"
    )
if DATABASE_URL:
    DATABASES = {"default": dj_database_url.parse(DATABASE_URL, conn_max_age=env_int("DB_CONN_MAX_AGE", 60))}
    if PGBOUNCER:
        DATABASES["default"]["DISABLE_SERVER_SIDE_CURSORS"] = True
    elif STEWARD_DB_CONNECTIONS and DATABASES["default"]["ENGINE"] == "django.db.backends.postgresql":
        # Django's backend whose pool drops every dead connection at once after a Postgres restart.
        DATABASES["default"]["ENGINE"] = "console.kernel.postgres"
        DATABASES["default"].setdefault("OPTIONS", {})["pool"] = {
            "min_size": 1,
            "max_size": STEWARD_DB_CONNECTIONS,
            "timeout": STEWARD_DB_POOL_TIMEOUT,
            "name": "steward-django",
        }
        # Django's pool requires it: a request's connection goes back to the pool when it ends.
        DATABASES["default"]["CONN_MAX_AGE"] = 0
        # The pool checks a connection before lending it: after a Postgres restart it is dead.
        DATABASES["default"]["CONN_HEALTH_CHECKS"] = True
else:
    VAR_DIR.mkdir(parents=True, exist_ok=True)
    DATABASES = {
        "default": {
            "ENGINE": "django.db.backends.sqlite3",
            "NAME": str(VAR_DIR / "steward.sqlite3"),
            # Every transaction takes the write lock at BEGIN, waiting up to `timeout` seconds
            # for it: a deferred one that read first would fail at once, "database is locked",
            # on its first write after another connection (the checkpointer's) had committed.
            "OPTIONS": {
                "transaction_mode": "IMMEDIATE",
                "timeout": 30,
                "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
            },
            # The LangGraph SQLite checkpointer opens the same file, so tests need a file too.
            "TEST": {"NAME": str(VAR_DIR / "test-steward.sqlite3")},
        }
    }
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator", "OPTIONS": {"min_length": 6}},
]
LOGIN_URL = "/login/"
LOGIN_REDIRECT_URL = "/"
LOGOUT_REDIRECT_URL = "/login/"

LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True

STATIC_URL = "/static/"
STATICFILES_DIRS = [BASE_DIR / "static"]
STATIC_ROOT = VAR_DIR / "staticfiles"
# Serve /static/ from the app itself (embedded and small installs); behind a web server, turn off.
SERVE_STATIC = env_bool("SERVE_STATIC", True)

# --- Celery ---------------------------------------------------------------------------------
CELERY_BROKER_URL = env_str("CELERY_BROKER_URL", "memory://localhost/")
EMBEDDED = CELERY_BROKER_URL.startswith("memory://")
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_TASK_IGNORE_RESULT = True
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
CELERY_TASK_DEFAULT_QUEUE = "steward"
CELERY_WORKER_HIJACK_ROOT_LOGGER = False
# Celery's Django fixup closes the database connection around every task unless told to reuse
# it; reconnecting cost about 6 ms of each resume.
CELERY_DB_REUSE_MAX = 100
if EMBEDDED:
    # The memory transport sleeps a whole second between polls of an empty queue by default.
    CELERY_BROKER_TRANSPORT_OPTIONS = {"polling_interval": 0.01}
# How often the sweeper looks for abandoned and lost runs (short in the embedded demo, where a
# run started by another process waits for it: that process cannot reach the memory broker).
STEWARD_SWEEP_SECONDS = env_int("STEWARD_SWEEP_SECONDS", 2 if EMBEDDED else 10)
CELERY_BEAT_SCHEDULE: dict[str, dict[str, Any]] = {
    "sweep-runs": {"task": "agents.sweep_runs", "schedule": float(STEWARD_SWEEP_SECONDS)},
    "enforce-approval-sla": {"task": "approvals.enforce_sla", "schedule": float(env_int("STEWARD_SLA_SECONDS", 30))},
    "prune-finished-runs": {"task": "traces.prune_finished_runs", "schedule": float(env_int("STEWARD_RETENTION_SECONDS", 3600))},
    # Does nothing unless STEWARD_OTLP_ENDPOINT is set (traces/inspection/otel.py).
    "retry-otel-exports": {"task": "traces.retry_otel_exports", "schedule": float(env_int("STEWARD_OTLP_RETRY_SECONDS", 60))},
    # The LangGraph API's crons (console/langgraph_api/crons.py): a schedule's minute fires within this many seconds.
    "fire-langgraph-crons": {"task": "langgraph.fire_crons", "schedule": float(env_int("STEWARD_CRON_TICK_SECONDS", 30))},
}

# --- Retention: spans and checkpoints of runs finished more than this many days ago are deleted
# in batches by a periodic task (0 keeps everything). Runs waiting for an approval are never pruned.
STEWARD_RETENTION_DAYS = env_int("STEWARD_RETENTION_DAYS", 0)
STEWARD_RETENTION_BATCH = env_int("STEWARD_RETENTION_BATCH", 500)

# --- Channels -------------------------------------------------------------------------------
CHANNEL_LAYER_URL = env_str("CHANNEL_LAYER_URL")
if CHANNEL_LAYER_URL:
    CHANNEL_LAYERS: dict[str, dict[str, Any]] = {
        "default": {
            "BACKEND": "channels_redis.core.RedisChannelLayer",
            # A consumer waits on Redis (BZPOPMIN) 5 s at a time; redis-py's default 5 s socket
            # timeout would race it and end an idle websocket with a TimeoutError.
            "CONFIG": {"hosts": [{"address": CHANNEL_LAYER_URL, "socket_timeout": 30}], "capacity": 1000},
        }
    }
else:
    CHANNEL_LAYERS = {"default": {"BACKEND": "console.kernel.layers.LocalChannelLayer"}}

# --- LangGraph SDK streaming (agents/engine/run_events.py) ---------------------------------------
# Where workers put the stream parts of runs that SDK clients stream: a Redis stream per run
# (any web process relays it). Empty (the embedded mode) keeps them in this process.
_BROKER_REDIS = CELERY_BROKER_URL if CELERY_BROKER_URL.startswith(("redis://", "rediss://")) else ""
STEWARD_RUN_EVENTS_URL = env_str("STEWARD_RUN_EVENTS_URL", CHANNEL_LAYER_URL or _BROKER_REDIS)
# Parts kept per run (approximately: XADD MAXLEN ~): what a rejoining client can still replay.
STEWARD_RUN_EVENTS_MAXLEN = env_int("STEWARD_RUN_EVENTS_MAXLEN", 10_000)

# --- Security -------------------------------------------------------------------------------
# Headers on every response (Django's SecurityMiddleware and XFrameOptionsMiddleware); the
# Content-Security-Policy comes from console/kernel/security.py, STEWARD_CSP replaces it whole.
X_FRAME_OPTIONS = "DENY"
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "same-origin"
SECURE_CROSS_ORIGIN_OPENER_POLICY = "same-origin"
STEWARD_CSP = env_str("STEWARD_CSP")
CSRF_TRUSTED_ORIGINS = [o for o in env_str("CSRF_TRUSTED_ORIGINS").split(",") if o]
# Behind a proxy that terminates TLS: the header it sets to "https", e.g. X-Forwarded-Proto.
# Only set it when the proxy always sets (or strips) that header: a client could send it too.
_proxy_ssl_header = env_str("SECURE_PROXY_SSL_HEADER")
if _proxy_ssl_header:
    SECURE_PROXY_SSL_HEADER = ("HTTP_" + _proxy_ssl_header.upper().replace("-", "_"), "https")
if not DEBUG:
    # Production is HTTPS only. SECURE_SSL_REDIRECT=false when a proxy that terminates TLS already
    # redirects (docs/production.md); cookies stay Secure all the same.
    SECURE_SSL_REDIRECT = env_bool("SECURE_SSL_REDIRECT", True)
    if not SECURE_SSL_REDIRECT and _proxy_ssl_header:
        # security.W008 asks for the redirect; SECURE_PROXY_SSL_HEADER is the operator saying TLS
        # ends at a proxy, which redirects itself. Without that header W008 still speaks up.
        SILENCED_SYSTEM_CHECKS = ["security.W008"]
    # Probes and the Prometheus scraper talk to each process directly, often over plain HTTP.
    SECURE_REDIRECT_EXEMPT = [r"^healthz$", r"^readyz$", r"^metrics$"]
    SESSION_COOKIE_SECURE = env_bool("SESSION_COOKIE_SECURE", True)
    CSRF_COOKIE_SECURE = env_bool("CSRF_COOKIE_SECURE", True)
    SECURE_HSTS_SECONDS = env_int("SECURE_HSTS_SECONDS", 31_536_000)
    # The console's own subdomains (rarely any) and the preload flag: `check --deploy` asks for both;
    # the flag alone puts nothing on a preload list (that takes a submission, for the apex domain).
    SECURE_HSTS_INCLUDE_SUBDOMAINS = env_bool("SECURE_HSTS_INCLUDE_SUBDOMAINS", True)
    SECURE_HSTS_PRELOAD = env_bool("SECURE_HSTS_PRELOAD", True)

# --- Secrets (docs/production.md, "Secrets") --------------------------------------------------
# Regexes redacted besides the built-in API keys, bearer tokens and card numbers
# (console/kernel/redaction.py): a JSON list, or one per line.
from console.kernel.redaction import parse_patterns  # noqa: E402
from console.kernel.sealing import parse_keys  # noqa: E402

try:
    STEWARD_REDACT_PATTERNS = parse_patterns(env_str("STEWARD_REDACT_PATTERNS"))
except ValueError as exc:
    raise ImproperlyConfigured(str(exc)) from None
# What exact replay needs is sealed with this key (console/kernel/sealing.py): base64 of 32 random bytes,
# comma-separated for rotation (the first seals, all open). Empty: derived from SECRET_KEY.
STEWARD_ENCRYPTION_KEY = env_str("STEWARD_ENCRYPTION_KEY")
# Encryption of LangGraph checkpoints (agents/engine/checkpointer.py): keys as above, empty derives one
# from SECRET_KEY (a different one), `off` stores checkpoints in plain text.
STEWARD_CHECKPOINT_ENCRYPTION_KEY = env_str("STEWARD_CHECKPOINT_ENCRYPTION_KEY")
# Types a graph's state restores from its checkpoints besides LangGraph's own (pydantic models,
# dataclasses), "module.Name" comma separated: LangGraph's serializer allow-list. Empty: LangGraph's
# default (any type, each with a warning); set, any other type is not restored.
STEWARD_CHECKPOINT_ALLOWED_TYPES = [t.strip() for t in env_str("STEWARD_CHECKPOINT_ALLOWED_TYPES").split(",") if t.strip()]
parse_keys(STEWARD_ENCRYPTION_KEY, "STEWARD_ENCRYPTION_KEY")
if STEWARD_CHECKPOINT_ENCRYPTION_KEY.strip().lower() != "off":
    try:
        parse_keys(STEWARD_CHECKPOINT_ENCRYPTION_KEY, "STEWARD_CHECKPOINT_ENCRYPTION_KEY")
    except ImproperlyConfigured as exc:
        raise ImproperlyConfigured(f"{exc}; or `off` to store checkpoints in plain text") from None

# --- Operations -----------------------------------------------------------------------------
# /metrics (console/web/metrics.py) is open when this is empty, else needs `Authorization: Bearer <token>`.
METRICS_TOKEN = env_str("METRICS_TOKEN")
# Step latency and per-model tokens cover the node and model spans of runs created this recently.
STEWARD_METRICS_WINDOW_SECONDS = env_int("STEWARD_METRICS_WINDOW_SECONDS", 3600)
# Run starts (and replays, retries, playground calls) and decisions each user may make in any
# 60 seconds, each counted on its own (console/kernel/ratelimit.py); 0 turns the limit off.
STEWARD_RATE_LIMIT_PER_MINUTE = env_int("STEWARD_RATE_LIMIT_PER_MINUTE", 120)
# Failed logins allowed per account and per client address in any STEWARD_LOGIN_WINDOW_SECONDS
# before the login page refuses attempts (console/kernel/ratelimit.py); 0 turns that budget off.
STEWARD_LOGIN_FAILURES_PER_ACCOUNT = env_int("STEWARD_LOGIN_FAILURES_PER_ACCOUNT", 5)
STEWARD_LOGIN_FAILURES_PER_ADDRESS = env_int("STEWARD_LOGIN_FAILURES_PER_ADDRESS", 20)
STEWARD_LOGIN_WINDOW_SECONDS = env_int("STEWARD_LOGIN_WINDOW_SECONDS", 300)
# OpenTelemetry export of run traces (traces/inspection/otel.py, `pip install steward[otel]`): off while the
# endpoint is empty. The endpoint is the OTLP/HTTP URL, e.g. http://collector:4318/v1/traces (a
# bare host gets /v1/traces); headers are `key=value,key2=value2` (URL-encoded values). Message
# content is left out unless CAPTURE_CONTENT is on, and is redacted then.
STEWARD_OTLP_ENDPOINT = env_str("STEWARD_OTLP_ENDPOINT")
STEWARD_OTLP_HEADERS = env_str("STEWARD_OTLP_HEADERS")
STEWARD_OTLP_SERVICE_NAME = env_str("STEWARD_OTLP_SERVICE_NAME", "steward")
STEWARD_OTLP_TIMEOUT = env_int("STEWARD_OTLP_TIMEOUT", 10)
STEWARD_OTLP_CAPTURE_CONTENT = env_bool("STEWARD_OTLP_CAPTURE_CONTENT", False)

# --- Steward run engine ---------------------------------------------------------------------
# Seconds a worker's claim on a run lasts; every checkpointed step renews it.
STEWARD_LEASE_SECONDS = env_int("STEWARD_LEASE_SECONDS", 300)
# Claims of one run (crash, lost lease) before it fails for good.
STEWARD_MAX_ATTEMPTS = env_int("STEWARD_MAX_ATTEMPTS", 3)
# A run still queued this long after its message was sent gets its message sent again. The
# embedded default is short: `manage.py run_agent` beside the demo cannot reach its memory broker.
STEWARD_REQUEUE_SECONDS = env_int("STEWARD_REQUEUE_SECONDS", 3 if EMBEDDED else 60)
# Extra modules that register agents (your own agents live here).
STEWARD_AGENT_MODULES = ["agents.demo.refund", "agents.demo.order_summary", "agents.demo.stock_check"] + [
    m for m in env_str("STEWARD_AGENT_MODULES").split(",") if m
]
# The LangGraph CLI's langgraph.json: each graph it lists is an agent too (agents/engine/langgraph_json.py).
STEWARD_LANGGRAPH_JSON = env_str("STEWARD_LANGGRAPH_JSON")
# Browser origins allowed to call /langgraph/ (CORS, console/langgraph_api/cors.py): comma
# separated, exact (`https://inbox.example.com`, `http://localhost:3000`). Empty: CORS off.
STEWARD_LANGGRAPH_CORS_ORIGINS = env_origins("STEWARD_LANGGRAPH_CORS_ORIGINS")
# Per agent model, "provider:model" for init_chat_model, comma separated fallbacks after the first.
# With none set an agent uses its offline scripted model. STEWARD_MODEL_<AGENT> overrides.
STEWARD_AGENT_MODELS: dict[str, str] = {}
# USD per 1,000 tokens, by model name.
STEWARD_MODEL_PRICES: dict[str, dict[str, float]] = {
    "scripted-demo": {"input": 0.0005, "output": 0.0015},
    "gpt-4o-mini": {"input": 0.00015, "output": 0.0006},
    "gpt-4o": {"input": 0.0025, "output": 0.01},
    "claude-3-5-haiku-latest": {"input": 0.0008, "output": 0.004},
    "claude-sonnet-4-5": {"input": 0.003, "output": 0.015},
}
API_KEY_LAST_USED_RESOLUTION_SECONDS = 60

# --- Notifications --------------------------------------------------------------------------
# Links in emails and webhooks are absolute: they are opened outside the console.
STEWARD_BASE_URL = env_str("STEWARD_BASE_URL", "http://127.0.0.1:8000").rstrip("/")
# A failed webhook delivery is tried again after BACKOFF * 2**(attempts-1) seconds, up to MAX_ATTEMPTS.
STEWARD_WEBHOOK_BACKOFF_SECONDS = env_int("STEWARD_WEBHOOK_BACKOFF_SECONDS", 2)
STEWARD_WEBHOOK_MAX_ATTEMPTS = env_int("STEWARD_WEBHOOK_MAX_ATTEMPTS", 6)
# Webhooks are refused loopback, link-local, private, multicast and other internal addresses
# (console/kernel/outbound.py). Comma separated addresses, CIDR networks or host names to allow
# anyway, e.g. "10.20.0.0/16,hooks.internal". Empty: only public addresses.
STEWARD_OUTBOUND_ALLOW = env_str("STEWARD_OUTBOUND_ALLOW")
STEWARD_EMAIL_NOTIFICATIONS = env_bool("STEWARD_EMAIL_NOTIFICATIONS", True)
# The console backend prints emails to stdout, so the embedded demo needs no mail server.
EMAIL_BACKEND = env_str("EMAIL_BACKEND", "django.core.mail.backends.console.EmailBackend")
DEFAULT_FROM_EMAIL = env_str("DEFAULT_FROM_EMAIL", "steward@localhost")
EMAIL_HOST = env_str("EMAIL_HOST", "localhost")
EMAIL_PORT = env_int("EMAIL_PORT", 25)
EMAIL_HOST_USER = env_str("EMAIL_HOST_USER")
EMAIL_HOST_PASSWORD = env_str("EMAIL_HOST_PASSWORD")
EMAIL_USE_TLS = env_bool("EMAIL_USE_TLS", False)
# Notifications are sent after commit by workers and the sweeper: a dead mail server must not hold them.
EMAIL_TIMEOUT = env_int("EMAIL_TIMEOUT", 10)

# --- Logging: through structlog (console/kernel/logs.py). JSON lines
# when STEWARD_LOG_FORMAT=json (the default with DEBUG off), readable lines with "console"; every
# standard-library logger goes through it, with the run_id, trace_id and span_id a run binds.
from console.kernel.logs import logging_config  # noqa: E402

STEWARD_LOG_FORMAT = env_str("STEWARD_LOG_FORMAT", "console" if DEBUG else "json")
LOGGING = logging_config(STEWARD_LOG_FORMAT, env_str("LOG_LEVEL", "INFO"))
