"""The one settings module of Omni MCP Platform.

Everything an operator can change comes from environment variables, read once here. Every variable
has a working default: with nothing set, the platform runs on its embedded default (SQLite under
``var/``, in-memory channel layer, local-memory cache, Celery tasks run eagerly). With
``DATABASE_URL`` (PostgreSQL) and ``REDIS_URL`` it is the production shape: several web processes,
Celery workers and beat sharing one database and one Redis.

Bad values are rejected loudly at start-up (``ImproperlyConfigured``), never guessed around.
"""

from __future__ import annotations

import os
import secrets
from datetime import timedelta
from pathlib import Path

import dj_database_url
from django.core.exceptions import ImproperlyConfigured

BASE_DIR = Path(__file__).resolve().parent.parent
VAR_DIR = Path(os.environ.get("OMNI_VAR_DIR", BASE_DIR / "var"))
VAR_DIR.mkdir(parents=True, exist_ok=True)


# --------------------------------------------------------------------------- env helpers
def env_str(name: str, default: str | None = None) -> str | None:
    """A string from ``NAME``, or from the file named by ``NAME_FILE`` (for secrets)."""
    file_name = os.environ.get(f"{name}_FILE")
    if file_name:
        try:
            return Path(file_name).read_text().strip()
        except OSError as exc:
            raise ImproperlyConfigured(f"{name}_FILE={file_name!r} cannot be read: {exc}") from exc
    value = os.environ.get(name)
    return default if value is None or value == "" else value


def env_bool(name: str, default: bool) -> bool:
    value = os.environ.get(name)
    if value is None or value == "":
        return default
    lowered = value.strip().lower()
    if lowered in {"1", "true", "yes", "on"}:
        return True
    if lowered in {"0", "false", "no", "off"}:
        return False
    raise ImproperlyConfigured(f"{name}={value!r} is not a boolean (use true/false)")


def env_int(name: str, default: int, *, minimum: int | None = None) -> int:
    value = os.environ.get(name)
    if value is None or value == "":
        return default
    try:
        number = int(value)
    except ValueError:
        raise ImproperlyConfigured(f"{name}={value!r} is not an integer") from None
    if minimum is not None and number < minimum:
        raise ImproperlyConfigured(f"{name}={number} must be at least {minimum}")
    return number


def env_float(name: str, default: float, *, minimum: float | None = None) -> float:
    value = os.environ.get(name)
    if value is None or value == "":
        return default
    try:
        number = float(value)
    except ValueError:
        raise ImproperlyConfigured(f"{name}={value!r} is not a number") from None
    if minimum is not None and number < minimum:
        raise ImproperlyConfigured(f"{name}={number} must be at least {minimum}")
    return number


def env_list(name: str, default: list[str]) -> list[str]:
    value = os.environ.get(name)
    if value is None or value.strip() == "":
        return default
    return [item.strip() for item in value.split(",") if item.strip()]


def _persisted_secret(name: str, make) -> str:
    """A secret from the environment, else one generated once and kept under ``var/``.

    This keeps the embedded default working across restarts without any setup; production sets the
    variable (or ``NAME_FILE``) explicitly, and ``manage.py check --deploy`` says so.
    """
    value = env_str(name)
    if value:
        return value
    path = VAR_DIR / f".{name.lower()}"
    if path.exists():
        return path.read_text().strip()
    value = make()
    path.write_text(value)
    path.chmod(0o600)
    return value


def _fernet_key() -> str:
    from cryptography.fernet import Fernet

    return Fernet.generate_key().decode()


# --------------------------------------------------------------------------- core
DEBUG = env_bool("DEBUG", False)
SECRET_KEY = _persisted_secret("SECRET_KEY", lambda: secrets.token_urlsafe(50))
FIELD_ENCRYPTION_KEY = _persisted_secret("FIELD_ENCRYPTION_KEY", _fernet_key)
# The secret the gateway signs its requests to MCP servers with (see gateway/signing.py).
OMNI_SIGNING_SECRET = _persisted_secret("OMNI_SIGNING_SECRET", lambda: secrets.token_urlsafe(32))

ALLOWED_HOSTS = env_list("ALLOWED_HOSTS", ["127.0.0.1", "localhost", "[::1]", "testserver"])
# Origins that browsers may call /mcp and /sse from (DNS-rebinding protection). Requests with no
# Origin header (every non-browser client) are always allowed; a browser page's Origin must match.
MCP_ALLOWED_ORIGINS = env_list(
    "MCP_ALLOWED_ORIGINS", ["http://127.0.0.1:*", "http://localhost:*", "http://[::1]:*"]
)
CSRF_TRUSTED_ORIGINS = env_list("CSRF_TRUSTED_ORIGINS", [])

INSTALLED_APPS = [
    "daphne",
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "rest_framework",
    "rest_framework_simplejwt",
    "rest_framework_simplejwt.token_blacklist",
    "django_ratelimit",
    "rest_framework.authtoken",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "channels",
    "encrypted_model_fields",
    "omni.tenants",
    "omni.registry",
    "omni.gateway",
    "omni.tenants.auth",
    "omni.security",
    "omni.audit",
    "mcp_servers",
    "omni.playground",
    "omni.monitoring",
    "omni.privacy",
    "omni.loadtest",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "omni.security.middleware.SecurityHeadersMiddleware",
    # Static files from the web process itself (daphne serves no /static/): no separate web server
    # needed for the embedded default; behind a CDN or nginx in production if preferred.
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    # Binds the request to audit events recorded in models/services; records denied accesses.
    "omni.audit.context.AuditContextMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "omni.security.middleware.RateLimitMiddleware",
]

ROOT_URLCONF = "omni.urls"
ASGI_APPLICATION = "omni.asgi.application"
WSGI_APPLICATION = None

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
                "omni.tenants.ui.org_context",
            ],
        },
    },
]

# --------------------------------------------------------------------------- database
DATABASE_URL = env_str("DATABASE_URL", f"sqlite:///{VAR_DIR / 'omni.sqlite3'}")
# PostgreSQL: a psycopg connection pool per process (Django 5.1+, psycopg-pool), so database work
# on several threads does not wait for one connection; DB_POOL=false falls back to persistent
# connections (DB_CONN_MAX_AGE). SQLite (the embedded default) has no pool: one file, no server.
DB_POOL = env_bool("DB_POOL", True)
DB_POOL_MIN_SIZE = env_int("DB_POOL_MIN_SIZE", 2, minimum=0)
DB_POOL_MAX_SIZE = env_int("DB_POOL_MAX_SIZE", 10, minimum=1)
DB_POOL_TIMEOUT = env_float("DB_POOL_TIMEOUT", 10.0, minimum=0.1)
# Threads that run the gateway's database work beside each other (omni/dbexec.py); only with the
# pool on PostgreSQL. 0: everything on Django's one thread-sensitive thread, as without the pool.
DB_THREADS = env_int("DB_THREADS", max(1, DB_POOL_MAX_SIZE // 2), minimum=0)
DB_CONNECT_TIMEOUT = env_int("DB_CONNECT_TIMEOUT", 5, minimum=1)
if DB_POOL_MIN_SIZE > DB_POOL_MAX_SIZE:
    raise ImproperlyConfigured(
        f"DB_POOL_MIN_SIZE={DB_POOL_MIN_SIZE} is above DB_POOL_MAX_SIZE={DB_POOL_MAX_SIZE}"
    )
try:
    DATABASES = {
        "default": dj_database_url.parse(
            DATABASE_URL, conn_max_age=env_int("DB_CONN_MAX_AGE", 60, minimum=0), conn_health_checks=True
        )
    }
except Exception as exc:  # dj-database-url raises several types for a bad URL
    raise ImproperlyConfigured(f"DATABASE_URL={DATABASE_URL!r} is not a database URL: {exc}") from exc
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    # The embedded default: several async tasks write at once; wait instead of failing.
    DATABASES["default"].setdefault("OPTIONS", {})
    DATABASES["default"]["OPTIONS"].update({"timeout": 20, "transaction_mode": "IMMEDIATE"})
    DATABASES["default"]["OPTIONS"]["init_command"] = "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;"
elif DATABASES["default"]["ENGINE"] == "django.db.backends.postgresql":
    _db_options = DATABASES["default"].setdefault("OPTIONS", {})
    _db_options.setdefault("connect_timeout", DB_CONNECT_TIMEOUT)  # a dead host fails fast
    if DB_POOL:
        _db_options["pool"] = {
            "min_size": DB_POOL_MIN_SIZE,
            "max_size": DB_POOL_MAX_SIZE,
            "timeout": DB_POOL_TIMEOUT,
        }
        DATABASES["default"]["CONN_MAX_AGE"] = 0  # Django refuses persistent connections with a pool
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

# --------------------------------------------------------------------------- redis, cache, channels
REDIS_URL = env_str("REDIS_URL")
if REDIS_URL:
    CACHES = {
        "default": {
            "BACKEND": "django.core.cache.backends.redis.RedisCache",
            "LOCATION": REDIS_URL,
            "KEY_PREFIX": "omni",
        }
    }
    CHANNEL_LAYERS = {
        "default": {
            "BACKEND": "channels_redis.core.RedisChannelLayer",
            "CONFIG": {"hosts": [REDIS_URL], "prefix": "omni:channels"},
        }
    }
else:
    CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache", "LOCATION": "omni"}}
    CHANNEL_LAYERS = {"default": {"BACKEND": "channels.layers.InMemoryChannelLayer"}}

# --------------------------------------------------------------------------- celery
CELERY_BROKER_URL = REDIS_URL or "memory://"
CELERY_RESULT_BACKEND = None
CELERY_TASK_ALWAYS_EAGER = not bool(REDIS_URL)
CELERY_TASK_EAGER_PROPAGATES = True
CELERY_TASK_SERIALIZER = "json"
CELERY_ACCEPT_CONTENT = ["json"]
CELERY_TIMEZONE = "UTC"
# What `beat` schedules (docs/operations.md). The audit spool task is the safety net that writes
# spooled gateway events, including those a dead process left behind, when no web process does.
CELERY_BEAT_SCHEDULE = {
    "write-audit-spool": {"task": "omni.audit.tasks.write_audit_spool", "schedule": 60.0},
}

# --------------------------------------------------------------------------- auth, i18n, static
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
]
LOGIN_URL = "/login/"
# LockoutBackend first: it refuses locked-out log-ins before any password is checked.
AUTHENTICATION_BACKENDS = [
    "omni.tenants.auth.backends.LockoutBackend",
    "django.contrib.auth.backends.ModelBackend",
]
LOGIN_REDIRECT_URL = "/"
LOGOUT_REDIRECT_URL = "/login/"
LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True
STATIC_URL = "static/"
STATICFILES_DIRS = [BASE_DIR / "static"]
STATIC_ROOT = VAR_DIR / "staticfiles"
STATIC_ROOT.mkdir(exist_ok=True)
# Served straight from the app and project static folders: no collectstatic step is required.
WHITENOISE_USE_FINDERS = True
WHITENOISE_AUTOREFRESH = DEBUG

REST_FRAMEWORK = {
    "DEFAULT_RENDERER_CLASSES": ["rest_framework.renderers.JSONRenderer"],
    # Token first: an unauthenticated API request gets 401 with WWW-Authenticate (append JWT here).
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "rest_framework.authentication.TokenAuthentication",
        "omni.tenants.auth.authentication.JWTAuthentication",
        "rest_framework.authentication.SessionAuthentication",
    ],
    # The default rate limits per user (after authentication) of every DRF view: omni/security.
    "DEFAULT_THROTTLE_CLASSES": ["omni.security.throttling.RateLimitThrottle"],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAuthenticated"],
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
}
# OpenAPI at /api/schema/, Swagger UI at /api/docs/ (assets from drf-spectacular-sidecar: no CDN).
SPECTACULAR_SETTINGS = {
    "TITLE": "Omni MCP Platform API",
    "DESCRIPTION": "Test MCP operations under an organization's context (see docs/playground.md).",
    "VERSION": "1.0.0",
    "SERVE_INCLUDE_SCHEMA": False,
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
}
# The playground (omni/playground): how long one test run may take, and the largest response,
# request or event list stored with a run (larger ones are stored as a truncated preview).
PLAYGROUND_TIMEOUT = env_float("PLAYGROUND_TIMEOUT", 60.0, minimum=1.0)
PLAYGROUND_MAX_STORED_BYTES = env_int("PLAYGROUND_MAX_STORED_BYTES", 1024 * 1024, minimum=1024)

# --------------------------------------------------------------------------- security (docs/security.md)
# Log-in lockout (omni/tenants/auth/lockout.py): this many failed log-ins for one username, or from
# one IP, within the window lock that username or IP for LOGIN_LOCKOUT_MINUTES.
LOGIN_LOCKOUT_FAILURES = env_int("LOGIN_LOCKOUT_FAILURES", 5, minimum=1)
LOGIN_LOCKOUT_IP_FAILURES = env_int("LOGIN_LOCKOUT_IP_FAILURES", 20, minimum=1)
LOGIN_LOCKOUT_WINDOW_SECONDS = env_int("LOGIN_LOCKOUT_WINDOW_SECONDS", 15 * 60, minimum=1)
LOGIN_LOCKOUT_MINUTES = env_int("LOGIN_LOCKOUT_MINUTES", 15, minimum=1)

# JWT for the REST API (/api/auth/, omni/tenants/auth): short-lived access tokens, refresh tokens
# rotated on every use (the old one is blacklisted); a password change revokes every token.
SIMPLE_JWT = {
    "ACCESS_TOKEN_LIFETIME": timedelta(minutes=env_int("JWT_ACCESS_MINUTES", 5, minimum=1)),
    "REFRESH_TOKEN_LIFETIME": timedelta(hours=env_int("JWT_REFRESH_HOURS", 24, minimum=1)),
    "ROTATE_REFRESH_TOKENS": True,
    "BLACKLIST_AFTER_ROTATION": True,
    "CHECK_REVOKE_TOKEN": True,
    "UPDATE_LAST_LOGIN": True,
    "AUTH_HEADER_TYPES": ("Bearer",),
    "TOKEN_OBTAIN_SERIALIZER": "omni.tenants.auth.serializers.TokenObtainSerializer",
    "TOKEN_REFRESH_SERIALIZER": "omni.tenants.auth.serializers.RefreshSerializer",
}

# Rate limits (omni/security/ratelimit.py), requests per minute. An organization overrides any of
# them in Organization.settings["rate_limits"]. Counters live in the cache: in Redis with REDIS_URL
# (shared by every process), else in each process's memory.
RATELIMIT_ENABLE = env_bool("RATELIMIT_ENABLE", True)
RATELIMIT_USE_CACHE = "default"
RATELIMIT_IP_META_KEY = "omni.security.ratelimit.client_ip"
# Behind N reverse proxies that append to X-Forwarded-For, the client is the N-th address from the end.
RATELIMIT_TRUSTED_PROXY_HOPS = env_int("RATELIMIT_TRUSTED_PROXY_HOPS", 0, minimum=0)
RATELIMIT_DEFAULTS = {
    "ui_per_minute": env_int("RATELIMIT_UI_PER_MINUTE", 120, minimum=1),
    "api_per_minute": env_int("RATELIMIT_API_PER_MINUTE", 60, minimum=1),
    "anon_per_minute": env_int("RATELIMIT_ANON_PER_MINUTE", 60, minimum=1),
    "login_per_minute": env_int("RATELIMIT_LOGIN_PER_MINUTE", 10, minimum=1),
    "mcp_per_key_per_minute": env_int("RATELIMIT_MCP_PER_KEY_PER_MINUTE", 600, minimum=1),
    "mcp_per_org_per_minute": env_int("RATELIMIT_MCP_PER_ORG_PER_MINUTE", 3000, minimum=1),
}
RATELIMIT_EXEMPT_PATHS = env_list("RATELIMIT_EXEMPT_PATHS", ["/healthz", "/readyz", "/static/"])
RATELIMIT_LOGIN_VIEWS = ["tenants:login", "admin:login"]
# django-ratelimit's checks know neither Django's own RedisCache (atomic and shared: W001) nor
# accept LocMem (the embedded default without Redis: counters per process, E003).
SILENCED_SYSTEM_CHECKS = ["django_ratelimit.W001"] + ([] if REDIS_URL else ["django_ratelimit.E003"])

# Response headers (omni/security/middleware.py and Django's SecurityMiddleware). HSTS is sent only
# over TLS; behind a TLS-terminating proxy set SECURE_PROXY_SSL_HEADER=HTTP_X_FORWARDED_PROTO,https.
OMNI_CSP = env_str("OMNI_CSP")  # unset: the strict default of omni/security/middleware.py
OMNI_CSP_REPORT_ONLY = env_bool("OMNI_CSP_REPORT_ONLY", False)
X_FRAME_OPTIONS = "DENY"
SECURE_REFERRER_POLICY = "same-origin"
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_CROSS_ORIGIN_OPENER_POLICY = "same-origin"
SECURE_HSTS_SECONDS = env_int("SECURE_HSTS_SECONDS", 0, minimum=0)
SECURE_HSTS_INCLUDE_SUBDOMAINS = env_bool("SECURE_HSTS_INCLUDE_SUBDOMAINS", False)
SECURE_HSTS_PRELOAD = env_bool("SECURE_HSTS_PRELOAD", False)
SECURE_SSL_REDIRECT = env_bool("SECURE_SSL_REDIRECT", False)
SECURE_REDIRECT_EXEMPT = [r"^healthz$", r"^readyz$"]  # load balancers probe over plain HTTP
_proxy_ssl_header = env_list("SECURE_PROXY_SSL_HEADER", [])
if _proxy_ssl_header and len(_proxy_ssl_header) != 2:
    raise ImproperlyConfigured(
        "SECURE_PROXY_SSL_HEADER must be 'HEADER,value', e.g. HTTP_X_FORWARDED_PROTO,https"
    )
SECURE_PROXY_SSL_HEADER = tuple(_proxy_ssl_header) if _proxy_ssl_header else None
SESSION_COOKIE_SECURE = env_bool("SESSION_COOKIE_SECURE", False)
CSRF_COOKIE_SECURE = env_bool("CSRF_COOKIE_SECURE", False)

# --------------------------------------------------------------------------- the gateway
# Public base URL printed for clients (make run prints it); the gateway itself never needs it.
OMNI_PUBLIC_URL = env_str("OMNI_PUBLIC_URL", "http://127.0.0.1:8000")
MCP_MAX_BODY_BYTES = env_int("MCP_MAX_BODY_BYTES", 1024 * 1024, minimum=1024)
MCP_FORWARD_TIMEOUT = env_float("MCP_FORWARD_TIMEOUT", 30.0, minimum=0.1)
MCP_SESSION_IDLE_SECONDS = env_int("MCP_SESSION_IDLE_SECONDS", 30 * 60, minimum=10)
MCP_PAGE_SIZE = env_int("MCP_PAGE_SIZE", 50, minimum=1)
# resources/subscribe: subscriptions one session may hold; resource links from tool results that
# the gateway remembers per organization (so resources/read routes them to their server).
MCP_SUBSCRIPTIONS_PER_SESSION = env_int("MCP_SUBSCRIPTIONS_PER_SESSION", 100, minimum=1)
MCP_RESOURCE_LINKS_PER_ORG = env_int("MCP_RESOURCE_LINKS_PER_ORG", 1000, minimum=1)
MCP_EVENT_HISTORY = env_int("MCP_EVENT_HISTORY", 1000, minimum=10)
# How long a downstream server's tool list stays cached before it is asked again.
MCP_DOWNSTREAM_TOOLS_TTL = env_int("MCP_DOWNSTREAM_TOOLS_TTL", 300, minimum=0)
# ---- Downstream containment and limits (omni/gateway/downstream.py, pool.py, catalogue.py,
# downstream_limits.py; docs/gateway.md "Containment", docs/security.md "Downstream limits").
# Pooled clients per server connection and process, and calls one client carries before another
# is opened (stdio servers always get one client).
MCP_DOWNSTREAM_CLIENTS_PER_SERVER = env_int("MCP_DOWNSTREAM_CLIENTS_PER_SERVER", 4, minimum=1)
MCP_DOWNSTREAM_CALLS_PER_CLIENT = env_int("MCP_DOWNSTREAM_CALLS_PER_CLIENT", 16, minimum=1)
# How long a request that finds the registry changed waits for the new catalogue before it is
# answered without the servers that have not listed yet (they follow in the background).
MCP_CATALOGUE_WAIT_SECONDS = env_float("MCP_CATALOGUE_WAIT_SECONDS", 5.0, minimum=0.0)
# First retry of a server that is down or could not be listed (then doubling, up to 60 s).
MCP_DOWNSTREAM_RETRY_SECONDS = env_float("MCP_DOWNSTREAM_RETRY_SECONDS", 10.0, minimum=0.1)
# Limits on what a downstream server sends; an organization overrides them in
# Organization.settings["downstream_limits"] (max_response_bytes, max_list_items,
# max_definition_bytes).
MCP_DOWNSTREAM_MAX_RESPONSE_BYTES = env_int(
    "MCP_DOWNSTREAM_MAX_RESPONSE_BYTES", 8 * 1024 * 1024, minimum=1024
)
MCP_DOWNSTREAM_MAX_LIST_ITEMS = env_int("MCP_DOWNSTREAM_MAX_LIST_ITEMS", 1000, minimum=1)
MCP_DOWNSTREAM_MAX_DEFINITION_BYTES = env_int("MCP_DOWNSTREAM_MAX_DEFINITION_BYTES", 64 * 1024, minimum=256)
# ---- end of downstream containment and limits

# May an organization register its own stdio server (a command run on the gateway's machines)?
# Global stdio servers, registered by operators, are always allowed.
MCP_ALLOW_ORG_STDIO = env_bool("MCP_ALLOW_ORG_STDIO", False)
# The largest prompt/resource content an admin may store.
REGISTRY_RESOURCE_MAX_BYTES = env_int("REGISTRY_RESOURCE_MAX_BYTES", 1024 * 1024, minimum=1)
# Where the built-in MCP servers are reached in-process (ServerConnection.transport="inprocess").
# A factory whose module also has ``validate_options(args) -> list[str]`` takes options: the
# connection's ``args`` are checked by it when the connection is saved and passed to the factory
# (the fault-injecting server's settings per connection, docs/loadtesting.md).
MCP_INPROCESS_SERVERS = {
    "knowledge": "mcp_servers.knowledge.server:build_server",
    "utilities": "mcp_servers.utilities.server:build_server",
    "analytics": "mcp_servers.analytics.server:build_server",
    "faults": "mcp_servers.faults.server:build_server",
}

# --------------------------------------------------------------------------- compute isolation
# (omni/security/schemas.py, mcp_servers/workers.py, mcp_servers/quotas.py; docs/security.md)
# Work budget of one JSON Schema evaluation of an untrusted schema (a tool's inputSchema at the
# gateway, json_tool's json_schema): keyword evaluations, $ref follows, validation errors created.
SCHEMA_MAX_STEPS = env_int("SCHEMA_MAX_STEPS", 20_000, minimum=100)
SCHEMA_MAX_REFS = env_int("SCHEMA_MAX_REFS", 2_000, minimum=10)
SCHEMA_MAX_ERRORS = env_int("SCHEMA_MAX_ERRORS", 1_000, minimum=10)
# The built-in servers' CPU-heavy steps run in a pool of worker processes (one pool per process
# that serves them): its size, and per call a CPU-time limit, an address-space limit and a
# wall-clock timeout after which the worker is killed and replaced.
TOOL_WORKERS = env_int("TOOL_WORKERS", 2, minimum=1)
TOOL_WORKER_CPU_SECONDS = env_int("TOOL_WORKER_CPU_SECONDS", 10, minimum=1)
TOOL_WORKER_MEMORY_MB = env_int("TOOL_WORKER_MEMORY_MB", 1024, minimum=128)
TOOL_WORKER_TIMEOUT_SECONDS = env_float("TOOL_WORKER_TIMEOUT_SECONDS", 15.0, minimum=0.1)
# Calls waiting for a worker beyond this many per worker are refused at once ("pool busy").
TOOL_WORKER_QUEUE_PER_WORKER = env_int("TOOL_WORKER_QUEUE_PER_WORKER", 16, minimum=1)
# Quotas of the built-in servers' data per organization (override per organization in
# Organization.settings["quotas"], e.g. {"notes": 50000}).
QUOTA_DEFAULTS = {
    "notes": env_int("QUOTA_NOTES", 10_000, minimum=0),
    "note_bytes": env_int("QUOTA_NOTE_BYTES", 50 * 1024 * 1024, minimum=0),
    "datasets": env_int("QUOTA_DATASETS", 100, minimum=0),
    "dataset_bytes": env_int("QUOTA_DATASET_BYTES", 200 * 1024 * 1024, minimum=0),
}

# --------------------------------------------------------------------------- egress policy, lockout store
# Egress policy (omni/security/egress.py, docs/security.md): the gateway refuses to connect an
# organization's server to loopback, private, link-local, multicast, reserved and other internal
# addresses, at save time and at connect time. MCP_EGRESS_ALLOW opens internal targets on purpose:
# CIDRs or addresses (10.0.0.0/8, 127.0.0.1) and host names (mcp.internal, *.corp.example).
# Global servers (no organization: registered by operators) are exempt.
MCP_EGRESS_ALLOW = env_list("MCP_EGRESS_ALLOW", [])


def _check_egress_allow(entries: list[str]) -> None:
    from omni.security.egress import parse_allow_list

    try:
        parse_allow_list(entries)
    except ValueError as exc:
        raise ImproperlyConfigured(f"MCP_EGRESS_ALLOW: {exc}") from None


_check_egress_allow(MCP_EGRESS_ALLOW)
# Login lockout counters must be seen by every process. With Redis they live in the default cache;
# without it (the embedded default) in a file cache under var/ (one lock file serialises updates).
if REDIS_URL:
    LOGIN_LOCKOUT_CACHE = "default"
else:
    CACHES["lockout"] = {
        "BACKEND": "omni.tenants.auth.filecache.LockedFileCache",
        "LOCATION": str(VAR_DIR / "cache" / "lockout"),
        "OPTIONS": {"MAX_ENTRIES": 100000},
    }
    LOGIN_LOCKOUT_CACHE = "lockout"


# --------------------------------------------------------------------------- gateway streams and quotas
# (issue 14 parts 1, 3, 4, 7; issue 7 part 3: sessions, streams, history.) See docs/gateway.md.
# A keep-alive comment goes out on every idle SSE stream (GET /mcp, /sse, resumed streams) this often.
MCP_KEEPALIVE_SECONDS = env_int("MCP_KEEPALIVE_SECONDS", 15, minimum=1)
# Socket timeout of ordinary Redis commands (blocking stream reads get their block time + 5 s).
MCP_REDIS_SOCKET_TIMEOUT = env_float("MCP_REDIS_SOCKET_TIMEOUT", 5.0, minimum=0.5)
# A running request refreshes its owner lease this long; a resumed stream whose lease lapsed ends
# with a JSON-RPC error (the executing process died).
MCP_REQUEST_LEASE_SECONDS = env_int("MCP_REQUEST_LEASE_SECONDS", 10, minimum=2)
# How long a request stream stays replayable after its response was delivered (0: deleted at once).
MCP_DELIVERED_STREAM_SECONDS = env_int("MCP_DELIVERED_STREAM_SECONDS", 10, minimum=0)
# How often a web process sweeps expired sessions (and their stream keys) out of the store.
MCP_SESSION_SWEEP_SECONDS = env_int("MCP_SESSION_SWEEP_SECONDS", 60, minimum=1)
# Quotas per API key and per organization (an organization may override them in
# Organization.settings["quotas"], like rate limits). Refusals are HTTP 429 + JSON-RPC error.
MCP_QUOTA_DEFAULTS = {
    "sessions_per_key": env_int("MCP_QUOTA_SESSIONS_PER_KEY", 100, minimum=1),
    "sessions_per_org": env_int("MCP_QUOTA_SESSIONS_PER_ORG", 1000, minimum=1),
    "streams_per_key": env_int("MCP_QUOTA_STREAMS_PER_KEY", 20, minimum=1),
    "streams_per_org": env_int("MCP_QUOTA_STREAMS_PER_ORG", 200, minimum=1),
    "history_bytes_per_session": env_int(
        "MCP_QUOTA_HISTORY_BYTES_PER_SESSION", 16 * 1024 * 1024, minimum=1024
    ),
}

# --------------------------------------------------------------------------- audit spool (docs/audit.md)
# Gateway audit events are spooled durably before the response (a Redis stream with REDIS_URL, else
# a write-ahead file under var/audit-spool/) and moved into the database by a writer thread.
AUDIT_SPOOL_KEY = env_str("AUDIT_SPOOL_KEY", "omni:audit:spool")
AUDIT_SPOOL_FSYNC = (env_str("AUDIT_SPOOL_FSYNC", "everysec") or "").strip().lower()
if AUDIT_SPOOL_FSYNC not in {"always", "everysec", "never"}:
    raise ImproperlyConfigured(f"AUDIT_SPOOL_FSYNC={AUDIT_SPOOL_FSYNC!r} must be always, everysec or never")
AUDIT_SPOOL_WRITER = env_bool("AUDIT_SPOOL_WRITER", True)
AUDIT_SPOOL_BATCH = env_int("AUDIT_SPOOL_BATCH", 500, minimum=1)
AUDIT_SPOOL_CLAIM_IDLE = env_float("AUDIT_SPOOL_CLAIM_IDLE", 60.0, minimum=0.5)
AUDIT_SPOOL_RETRY_MAX = env_float("AUDIT_SPOOL_RETRY_MAX", 10.0, minimum=0.1)
AUDIT_SPOOL_POISON_ATTEMPTS = env_int("AUDIT_SPOOL_POISON_ATTEMPTS", 3, minimum=1)
AUDIT_SPOOL_DRAIN_TIMEOUT = env_float("AUDIT_SPOOL_DRAIN_TIMEOUT", 10.0, minimum=0)
AUDIT_SPOOL_REDIS_TIMEOUT = env_float("AUDIT_SPOOL_REDIS_TIMEOUT", 0.5, minimum=0.05)

# --------------------------------------------------------------------------- operations (docs/operations.md)
# /readyz (omni/monitoring/readiness.py): the longest any one check may take before it counts as failed.
READYZ_CHECK_TIMEOUT = env_float("READYZ_CHECK_TIMEOUT", 2.0, minimum=0.1)
# SIGTERM (omni/monitoring/shutdown.py): how long requests in flight may take to finish before the
# process exits anyway. Keep it below the orchestrator's kill timeout (Kubernetes: 30 s).
OMNI_SHUTDOWN_GRACE_SECONDS = env_float("OMNI_SHUTDOWN_GRACE_SECONDS", 20.0, minimum=0.0)

# ------------------------------------------------------------------- mail and invitations (helper doors)
# Membership by invitation (omni/tenants/invitations.py) mails a one-time link with Django's mail
# backend: the console (the mail is printed to the web process's output) unless configured.
_EMAIL_BACKENDS = {
    "console": "django.core.mail.backends.console.EmailBackend",
    "smtp": "django.core.mail.backends.smtp.EmailBackend",
    "locmem": "django.core.mail.backends.locmem.EmailBackend",
    "dummy": "django.core.mail.backends.dummy.EmailBackend",
}
_email_backend = env_str("EMAIL_BACKEND", "console") or "console"
EMAIL_BACKEND = _EMAIL_BACKENDS.get(_email_backend, _email_backend)
if "." not in EMAIL_BACKEND:
    raise ImproperlyConfigured(
        f"EMAIL_BACKEND={_email_backend!r}: use console, smtp, locmem, dummy or a dotted backend path"
    )
EMAIL_HOST = env_str("EMAIL_HOST", "localhost")
EMAIL_PORT = env_int("EMAIL_PORT", 25, minimum=1)
EMAIL_HOST_USER = env_str("EMAIL_HOST_USER", "") or ""
EMAIL_HOST_PASSWORD = env_str("EMAIL_HOST_PASSWORD", "") or ""  # or EMAIL_HOST_PASSWORD_FILE
EMAIL_USE_TLS = env_bool("EMAIL_USE_TLS", False)
EMAIL_USE_SSL = env_bool("EMAIL_USE_SSL", False)
if EMAIL_USE_TLS and EMAIL_USE_SSL:
    raise ImproperlyConfigured("EMAIL_USE_TLS and EMAIL_USE_SSL are exclusive: set one of them")
EMAIL_TIMEOUT = env_int("EMAIL_TIMEOUT", 10, minimum=1)
DEFAULT_FROM_EMAIL = env_str("DEFAULT_FROM_EMAIL", "Omni MCP <noreply@localhost>")
# How long an invitation link stays valid.
INVITATION_EXPIRY_HOURS = env_int("INVITATION_EXPIRY_HOURS", 72, minimum=1)

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"plain": {"format": "%(asctime)s %(levelname)s %(name)s %(message)s"}},
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "plain"}},
    "root": {"handlers": ["console"], "level": env_str("LOG_LEVEL", "INFO")},
    "loggers": {
        "mcp": {"level": env_str("MCP_LOG_LEVEL", "WARNING")},
        "daphne": {"level": "WARNING"},
        "httpx2": {"level": "WARNING"},
        "httpx": {"level": "WARNING"},
    },
}

# --------------------------------------------------------------------------- alerts and incidents (malerts)
# omni/monitoring/alerts: rules evaluated by a periodic task, incidents, notification channels.
ALERT_EVALUATION_INTERVAL = env_float("ALERT_EVALUATION_INTERVAL", 60.0, minimum=5.0)  # seconds
ALERT_RETRY_MAX_ATTEMPTS = env_int("ALERT_RETRY_MAX_ATTEMPTS", 5, minimum=1)  # per notification
ALERT_RETRY_BACKOFF_SECONDS = env_float("ALERT_RETRY_BACKOFF_SECONDS", 30.0, minimum=0.0)  # doubles each try
ALERT_RETRY_BACKOFF_MAX_SECONDS = env_float("ALERT_RETRY_BACKOFF_MAX_SECONDS", 3600.0, minimum=0.0)
ALERT_WEBHOOK_TIMEOUT = env_float("ALERT_WEBHOOK_TIMEOUT", 10.0, minimum=0.5)  # seconds per attempt
CELERY_INCLUDE = [*globals().get("CELERY_INCLUDE", ()), "omni.monitoring.alerts.tasks"]
CELERY_BEAT_SCHEDULE["evaluate-alert-rules"] = {
    "task": "omni.monitoring.alerts.tasks.evaluate_alert_rules",
    "schedule": ALERT_EVALUATION_INTERVAL,
}


# --------------------------------------------------------------------------- privacy: retention (pretention)
# Data retention (omni/privacy/retention, docs/privacy.md "Retention"). The data classes and their
# built-in defaults and bounds are in the registry; these settings override them per class name:
#   RETENTION_DAYS="audit_events=400,test_runs=30"          platform default periods, in days
#   RETENTION_BOUNDS="test_runs=7:180,audit_events=90:3650"  what an organization's owner may choose
def _retention_map(name: str, parse):
    result = {}
    for item in env_list(name, []):
        key, sep, value = item.partition("=")
        key = key.strip()
        if not sep or not key:
            raise ImproperlyConfigured(f"{name}: {item!r} is not class=value")
        try:
            result[key] = parse(value.strip())
        except ValueError:
            raise ImproperlyConfigured(f"{name}: {item!r} has a bad value") from None
    return result


def _retention_bounds(value: str) -> tuple[int, int]:
    low, sep, high = value.partition(":")
    bounds = (int(low), int(high)) if sep else (int(value), int(value))
    if not 1 <= bounds[0] <= bounds[1]:
        raise ValueError(value)
    return bounds


def _retention_days(value: str) -> int:
    days = int(value)
    if days < 1:
        raise ValueError(value)
    return days


RETENTION_DAYS = _retention_map("RETENTION_DAYS", _retention_days)
RETENTION_BOUNDS = _retention_map("RETENTION_BOUNDS", _retention_bounds)
# Rows per batch (one transaction each), and batches per class and organization in one run (the
# rest waits for the next run).
RETENTION_BATCH_SIZE = env_int("RETENTION_BATCH_SIZE", 500, minimum=1)
RETENTION_MAX_BATCHES = env_int("RETENTION_MAX_BATCHES", 200, minimum=1)
# How often beat runs the cleanup (seconds; daily by default).
RETENTION_INTERVAL_SECONDS = env_int("RETENTION_INTERVAL_SECONDS", 24 * 3600, minimum=1)
CELERY_BEAT_SCHEDULE["apply-retention"] = {
    "task": "omni.privacy.retention.tasks.apply_retention_task",
    "schedule": float(RETENTION_INTERVAL_SECONDS),
}

# ------------------------------------------------------------- system health (mhealth; docs/operations.md)
# Heartbeats of web processes, Celery workers and beat (omni/monitoring/health/): one every
# HEALTH_HEARTBEAT_SECONDS, in Redis with REDIS_URL (expiring keys) or in the database. A process
# silent for HEALTH_HEARTBEAT_MISSES beats counts as gone. /ops/health/ shows them to superusers.
HEALTH_HEARTBEAT_SECONDS = env_float("HEALTH_HEARTBEAT_SECONDS", 15.0, minimum=0.5)
HEALTH_HEARTBEAT_MISSES = env_int("HEALTH_HEARTBEAT_MISSES", 3, minimum=2)
# How many ERROR log records the page keeps (a Redis list shared by every process, or memory).
HEALTH_LAST_ERRORS = env_int("HEALTH_LAST_ERRORS", 50, minimum=1)
LOGGING["handlers"]["last_errors"] = {
    "class": "omni.monitoring.health.errors.LastErrorsHandler",
    "level": "ERROR",
}
LOGGING["root"]["handlers"] = [*LOGGING["root"]["handlers"], "last_errors"]
# The in-process scheduler (omni/monitoring/health/scheduler.py): runs CELERY_BEAT_SCHEDULE inside
# the web process. auto: on exactly when REDIS_URL is unset (no beat then); on; off.
INPROCESS_SCHEDULER = (env_str("INPROCESS_SCHEDULER", "auto") or "auto").strip().lower()
if INPROCESS_SCHEDULER not in {"auto", "on", "off"}:
    raise ImproperlyConfigured(f"INPROCESS_SCHEDULER={INPROCESS_SCHEDULER!r} must be auto, on or off")
# Beat's tick made visible (and old database heartbeats deleted): the health_tick task runs this
# often; the page calls beat late when its last tick is older than two of these plus a heartbeat.
HEALTH_TICK_SECONDS = env_float("HEALTH_TICK_SECONDS", 60.0, minimum=0.5)
CELERY_BEAT_SCHEDULE["health-tick"] = {
    "task": "omni.monitoring.health.tasks.health_tick",
    "schedule": HEALTH_TICK_SECONDS,
}
# --------------------------------------------------------------------------- usage analytics (musage)
# The gateway emits one RequestRecord per MCP request (omni/gateway/observe.py, observing.py);
# MCP_OBSERVE_REQUESTS=false removes the observation middleware (benchmarks of its cost only).
MCP_OBSERVE_REQUESTS = env_bool("MCP_OBSERVE_REQUESTS", True)
# Usage counters (omni/monitoring/usage): kept in each web process's memory and flushed every
# USAGE_FLUSH_SECONDS to Redis (one hash per minute, expiring after USAGE_REDIS_TTL_SECONDS) or,
# without REDIS_URL, to the process's own minute store. At most USAGE_BUFFER_MAX_ROWS distinct rows
# wait for a flush (Redis down): beyond that new rows are dropped and counted.
USAGE_FLUSH_SECONDS = env_float("USAGE_FLUSH_SECONDS", 5.0, minimum=0.1)
USAGE_REDIS_TTL_SECONDS = env_int("USAGE_REDIS_TTL_SECONDS", 6 * 3600, minimum=300)
USAGE_BUFFER_MAX_ROWS = env_int("USAGE_BUFFER_MAX_ROWS", 20_000, minimum=100)
# The rollup into the per-minute, per-hour and per-day tables, and how long each is kept.
USAGE_ROLLUP_SECONDS = env_float("USAGE_ROLLUP_SECONDS", 30.0, minimum=1.0)
USAGE_MINUTE_RETENTION_HOURS = env_int("USAGE_MINUTE_RETENTION_HOURS", 48, minimum=2)
USAGE_HOUR_RETENTION_DAYS = env_int("USAGE_HOUR_RETENTION_DAYS", 35, minimum=2)
USAGE_DAY_RETENTION_DAYS = env_int("USAGE_DAY_RETENTION_DAYS", 400, minimum=2)
CELERY_BEAT_SCHEDULE["usage-rollup"] = {
    "task": "omni.monitoring.usage.tasks.rollup_usage",
    "schedule": USAGE_ROLLUP_SECONDS,
}
# ---- end of usage analytics

# --------------------------------------------------------------------------- metrics and tracing (mmetrics)
# GET /metrics (Prometheus text format), docs/monitoring.md "Metrics". Access: a request with
# "Authorization: Bearer <METRICS_TOKEN>", or from an address in METRICS_ALLOW_CIDRS (default:
# loopback only). Across several processes the metrics are summed through prometheus_client's
# multiprocess mode: PROMETHEUS_MULTIPROC_DIR (an environment variable that the process manager
# sets and wipes before it starts web and worker processes; scripts/metrics_dir.sh).
# METRICS_ENABLED=false records nothing (no gateway observer, no Django middleware): benchmarks of
# the metrics' own cost (scripts/bench_metrics.py); /metrics then shows only what others register.
METRICS_ENABLED = env_bool("METRICS_ENABLED", True)
METRICS_TOKEN = env_str("METRICS_TOKEN", "") or ""
METRICS_ALLOW_CIDRS = env_list("METRICS_ALLOW_CIDRS", ["127.0.0.0/8", "::1/128"])
# The organization as a label of the gateway metrics: off by default (one series per organization
# and tool multiplies the series count; the usage dashboard has per-organization figures anyway).
METRICS_ORG_LABEL = env_bool("METRICS_ORG_LABEL", False)
# Seconds that the scrape-time reads of Redis (sessions, streams, Celery queue depth) may take in all.
METRICS_SCRAPE_BUDGET = env_float("METRICS_SCRAPE_BUDGET", 1.0, minimum=0.05)
# The Celery queues whose depth (LLEN on the broker) /metrics reports.
METRICS_CELERY_QUEUES = env_list("METRICS_CELERY_QUEUES", ["celery"])
PROMETHEUS_MULTIPROC_DIR = os.environ.get("PROMETHEUS_MULTIPROC_DIR", "")


def _check_metrics_cidrs(entries: list[str]) -> None:
    import ipaddress

    for entry in entries:
        try:
            ipaddress.ip_network(entry, strict=False)
        except ValueError:
            raise ImproperlyConfigured(
                f"METRICS_ALLOW_CIDRS: {entry!r} is not an address or network"
            ) from None


_check_metrics_cidrs(METRICS_ALLOW_CIDRS)
if PROMETHEUS_MULTIPROC_DIR and not Path(PROMETHEUS_MULTIPROC_DIR).is_dir():
    raise ImproperlyConfigured(
        f"PROMETHEUS_MULTIPROC_DIR={PROMETHEUS_MULTIPROC_DIR!r} is not a directory: create it (empty) before "
        "starting the processes (scripts/metrics_dir.sh)"
    )
if "/metrics" not in RATELIMIT_EXEMPT_PATHS:
    RATELIMIT_EXEMPT_PATHS = [*RATELIMIT_EXEMPT_PATHS, "/metrics"]
SECURE_REDIRECT_EXEMPT = [*SECURE_REDIRECT_EXEMPT, r"^metrics$"]
# Django's own request count and latency by view and status (outermost, so it times everything).
if METRICS_ENABLED:
    MIDDLEWARE = ["omni.monitoring.metrics.middleware.RequestMetricsMiddleware", *MIDDLEWARE]
# OpenTelemetry tracing is configured from the standard OTEL_* variables only (off unless
# OTEL_TRACES_EXPORTER or OTEL_EXPORTER_OTLP_ENDPOINT is set): omni/monitoring/tracing.
# ------------------------------------------------------------------ downstream server status (mstatus)
# Status probes of every enabled server connection (omni/monitoring/status/, docs/monitoring.md) and the
# gateway's circuit breaker per connection (omni/gateway/breaker.py, docs/gateway.md).
STATUS_PROBE_INTERVAL_SECONDS = env_float("STATUS_PROBE_INTERVAL_SECONDS", 60.0, minimum=5.0)
# Each connection's probe starts after a random delay of up to this many seconds (spreads the load).
STATUS_PROBE_JITTER_SECONDS = env_float("STATUS_PROBE_JITTER_SECONDS", 5.0, minimum=0.0)
STATUS_PROBE_CONCURRENCY = env_int("STATUS_PROBE_CONCURRENCY", 8, minimum=1)
# A probe's own deadline (also bounded by the connection's timeout, whichever is shorter).
STATUS_PROBE_TIMEOUT_SECONDS = env_float("STATUS_PROBE_TIMEOUT_SECONDS", 10.0, minimum=0.5)
# A probe slower than this marks the server "degraded".
STATUS_DEGRADED_LATENCY_SECONDS = env_float("STATUS_DEGRADED_LATENCY_SECONDS", 2.0, minimum=0.01)
# Raw probe rows are kept this long (the history chart); hourly uptime buckets are kept 35 days.
STATUS_RAW_RETENTION_HOURS = env_int("STATUS_RAW_RETENTION_HOURS", 48, minimum=1)
CELERY_BEAT_SCHEDULE["probe-server-status"] = {
    "task": "omni.monitoring.status.tasks.probe_servers",
    "schedule": STATUS_PROBE_INTERVAL_SECONDS,
}
# Circuit breaker: opens after this many consecutive transport failures or timeouts (0: off) ...
MCP_BREAKER_FAILURES = env_int("MCP_BREAKER_FAILURES", 5, minimum=0)
# ... and lets one trial call (or probe) through after this many seconds.
MCP_BREAKER_COOLDOWN_SECONDS = env_float("MCP_BREAKER_COOLDOWN_SECONDS", 30.0, minimum=0.1)
# With REDIS_URL: how often a process re-reads a closed breaker's shared state.
MCP_BREAKER_SYNC_SECONDS = env_float("MCP_BREAKER_SYNC_SECONDS", 1.0, minimum=0.0)
# METRICS_ORG_LABEL (the organization as a /metrics label) is defined with the metrics settings.
# ------------------------------------------------------------------ privacy: data-subject rights (pdsr)
# Export archives: their one-time download link expires after this many hours.
DSR_EXPORT_LINK_HOURS = env_int("DSR_EXPORT_LINK_HOURS", 24, minimum=1)
# Erasure of an account or an organization waits this long (the person can cancel meanwhile).
DSR_ERASURE_GRACE_HOURS = env_int("DSR_ERASURE_GRACE_HOURS", 168, minimum=0)
CELERY_IMPORTS = [*globals().get("CELERY_IMPORTS", []), "omni.privacy.subjects.tasks"]
CELERY_BEAT_SCHEDULE["privacy-due-requests"] = {
    "task": "omni.privacy.subjects.tasks.process_due_requests",
    "schedule": 600.0,
}
# ------------------------------------------------------------------ privacy: encryption at rest (pcrypt)
# Envelope encryption (omni.privacy.crypto): each organization's data key is wrapped by a master
# key. PRIVACY_MASTER_KEYS is a comma-separated list of 32-byte base64url keys: the first wraps,
# every one unwraps (rotation: put the new key first, run `manage.py rotate_field_key`, then retire
# the old one). Unset: one key generated once and kept in var/.privacy_master_key (embedded default).
PRIVACY_MASTER_KEYS = env_list("PRIVACY_MASTER_KEYS", []) or [
    _persisted_secret(
        "PRIVACY_MASTER_KEY",
        lambda: __import__("base64").urlsafe_b64encode(secrets.token_bytes(32)).decode().rstrip("="),
    )
]
# Unwrapped data keys kept in each process's memory: at most this many, each at most this long
# (a key destroyed by another process stops decrypting here within PRIVACY_KEY_CACHE_SECONDS).
PRIVACY_KEY_CACHE_SIZE = env_int("PRIVACY_KEY_CACHE_SIZE", 1024, minimum=1)
PRIVACY_KEY_CACHE_SECONDS = env_int("PRIVACY_KEY_CACHE_SECONDS", 60, minimum=0)
# Turns "data key destroyed" / "cannot decrypt" errors into a clear page instead of a bare 500.
MIDDLEWARE.append("omni.privacy.crypto.middleware.DecryptionErrorMiddleware")

# ---------------------------------------------------------------------------- load testing
# docs/loadtesting.md. Bounds of a run per organization (a platform operator may lift them for one
# run); shards go to this Celery queue (the Procfile's worker consumes it), or run in a thread of the
# web process in the embedded default (no REDIS_URL).
LOADTEST_MAX_USERS = env_int("LOADTEST_MAX_USERS", 50)
LOADTEST_MAX_RATE = env_float("LOADTEST_MAX_RATE", 200.0)
LOADTEST_MAX_DURATION_S = env_float("LOADTEST_MAX_DURATION_S", 300.0)
LOADTEST_MAX_SHARDS = env_int("LOADTEST_MAX_SHARDS", 8)
LOADTEST_MAX_CONCURRENT_RUNS = env_int("LOADTEST_MAX_CONCURRENT_RUNS", 1)
LOADTEST_QUEUE = env_str("LOADTEST_QUEUE", "celery")
LOADTEST_SAMPLES = env_int("LOADTEST_SAMPLES", 2000)
# The comparison with a baseline calls a latency change a regression only beyond this many ms (and
# beyond the profile's regression %): the noise between two runs on one machine.
LOADTEST_NOISE_FLOOR_MS = env_float("LOADTEST_NOISE_FLOOR_MS", 2.0, minimum=0.0)
# The gateway a run targets ("gateway"): this platform's own endpoint, as the workers reach it
# (<url>/mcp, or <url>/sse for mode sse). Runs never target any other URL than this one and the
# organizations' own registered servers.
LOADTEST_GATEWAY_URL = env_str("LOADTEST_GATEWAY_URL", "http://127.0.0.1:8000").rstrip("/")
# A run's API keys expire this long after the run's planned end (queueing time included).
LOADTEST_KEY_GRACE_S = env_int("LOADTEST_KEY_GRACE_S", 900, minimum=60)
# (execution) A shard whose worker gave no result this long after its warm-up and duration is
# failed by the sweep; the generator that shards run (an import path: tests use a stub).
LOADTEST_SHARD_GRACE_S = env_float("LOADTEST_SHARD_GRACE_S", 60.0, minimum=1.0)
LOADTEST_GENERATOR = env_str("LOADTEST_GENERATOR", "omni.loadtest.generator.run_shard")
CELERY_BEAT_SCHEDULE["run-scheduled-load-profiles"] = {
    "task": "omni.loadtest.tasks.run_scheduled_profiles",
    "schedule": 60.0,
}
CELERY_BEAT_SCHEDULE["sweep-load-shards"] = {
    "task": "omni.loadtest.tasks.sweep_load_shards",
    "schedule": 60.0,
}
