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
    "rest_framework.authtoken",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "channels",
    "encrypted_model_fields",
    "omni.tenants",
    "omni.registry",
    "omni.gateway",
    "omni.audit",
    "mcp_servers",
    "omni.playground",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
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

# --------------------------------------------------------------------------- auth, i18n, static
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
]
LOGIN_URL = "/login/"
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
        "rest_framework.authentication.SessionAuthentication",
    ],
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

# --------------------------------------------------------------------------- the gateway
# Public base URL printed for clients (make run prints it); the gateway itself never needs it.
OMNI_PUBLIC_URL = env_str("OMNI_PUBLIC_URL", "http://127.0.0.1:8000")
MCP_MAX_BODY_BYTES = env_int("MCP_MAX_BODY_BYTES", 1024 * 1024, minimum=1024)
MCP_FORWARD_TIMEOUT = env_float("MCP_FORWARD_TIMEOUT", 30.0, minimum=0.1)
MCP_SESSION_IDLE_SECONDS = env_int("MCP_SESSION_IDLE_SECONDS", 30 * 60, minimum=10)
MCP_PAGE_SIZE = env_int("MCP_PAGE_SIZE", 50, minimum=1)
MCP_EVENT_HISTORY = env_int("MCP_EVENT_HISTORY", 1000, minimum=10)
# How long a downstream server's tool list stays cached before it is asked again.
MCP_DOWNSTREAM_TOOLS_TTL = env_int("MCP_DOWNSTREAM_TOOLS_TTL", 300, minimum=0)
# May an organization register its own stdio server (a command run on the gateway's machines)?
# Global stdio servers, registered by operators, are always allowed.
MCP_ALLOW_ORG_STDIO = env_bool("MCP_ALLOW_ORG_STDIO", False)
# The largest prompt/resource content an admin may store.
REGISTRY_RESOURCE_MAX_BYTES = env_int("REGISTRY_RESOURCE_MAX_BYTES", 1024 * 1024, minimum=1)
# Where the built-in MCP servers are reached in-process (ServerConnection.transport="inprocess").
MCP_INPROCESS_SERVERS = {
    "knowledge": "mcp_servers.knowledge.server:build_server",
    "utilities": "mcp_servers.utilities.server:build_server",
    "analytics": "mcp_servers.analytics.server:build_server",
}

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
