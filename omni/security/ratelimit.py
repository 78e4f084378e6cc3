"""Rate limits: one place for the limits, the counters and the 429 answer.

* **Web UI and REST API** count with django-ratelimit (``get_usage``) on the Django cache, which is
  Redis in production: every web process increments the same counters. ``RateLimitMiddleware``
  (``omni.security.middleware``) applies them to every Django view, ``RateLimitThrottle``
  (``omni.security.throttling``) to every DRF view (after DRF authenticated the JWT), and the
  ``ratelimit`` decorator below adds a stricter limit to one view (sync, async or DRF method).
* **MCP** (served beside Django, so no middleware runs there) uses ``ahit``: a fixed window counter
  with Redis ``INCR`` + ``EXPIRE`` in one transaction, shared by every process.
* **The other doors to MCP operations** (the playground websocket, ``POST /api/test/mcp``, scenario
  runs, re-runs from the history) draw from the very same counters as ``/mcp``: see
  ``omni.security.buckets``.

Limits are requests per minute. ``settings.RATELIMIT_DEFAULTS`` holds the defaults (env
``RATELIMIT_*_PER_MINUTE``); an organization may override any of them in
``Organization.settings["rate_limits"]`` (see ``docs/security.md``). Without Redis (the embedded
default) the cache is per process, and so are the counters.
"""

from __future__ import annotations

import asyncio
import functools
import ipaddress
import math
import time
import weakref
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from asgiref.sync import iscoroutinefunction, sync_to_async
from django.conf import settings
from django.core.cache import caches
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.template.loader import render_to_string
from django_ratelimit.core import get_usage

RATE_LIMIT_NAMES: tuple[str, ...] = (
    "ui_per_minute",
    "api_per_minute",
    "anon_per_minute",
    "login_per_minute",
    "mcp_per_key_per_minute",
    "mcp_per_org_per_minute",
)
# How long an organization's overrides are cached (by slug) before they are read again.
ORG_OVERRIDES_SECONDS = 30
WINDOW_SECONDS = 60
_EXPIRY_FUDGE = 5


# --------------------------------------------------------------------------- limits
def default_limits() -> dict[str, int]:
    """The configured defaults (``settings.RATELIMIT_DEFAULTS``), per minute."""
    return dict(settings.RATELIMIT_DEFAULTS)


def validate_rate_limits(value: Any) -> list[str]:
    """What is wrong with an ``Organization.settings["rate_limits"]`` value (empty when valid)."""
    if value is None:
        return []
    if not isinstance(value, dict):
        return ["rate_limits must be an object of name → requests per minute"]
    errors = []
    for name, limit in value.items():
        if name not in RATE_LIMIT_NAMES:
            errors.append(f"unknown rate limit {name!r}; known: {', '.join(RATE_LIMIT_NAMES)}")
        elif isinstance(limit, bool) or not isinstance(limit, int) or not 1 <= limit <= 1_000_000:
            errors.append(f"{name} must be a whole number from 1 to 1000000")
    return errors


def overrides_of(org_settings: Any) -> dict[str, int]:
    """The valid rate-limit overrides in an organization's ``settings`` (invalid ones are ignored)."""
    raw = org_settings.get("rate_limits") if isinstance(org_settings, dict) else None
    if not isinstance(raw, dict):
        return {}
    return {name: limit for name, limit in raw.items() if not validate_rate_limits({name: limit})}


def limit_for(org: Any, name: str) -> int:
    """Requests per minute for ``name`` in ``org`` (an ``Organization`` or None for the default)."""
    if name not in RATE_LIMIT_NAMES:
        raise ValueError(f"unknown rate limit {name!r}")
    if org is not None:
        override = overrides_of(getattr(org, "settings", None)).get(name)
        if override is not None:
            return override
    return default_limits()[name]


def limit_for_slug(slug: str | None, name: str) -> int:
    """``limit_for`` by organization slug, with the overrides cached for ``ORG_OVERRIDES_SECONDS``."""
    if name not in RATE_LIMIT_NAMES:
        raise ValueError(f"unknown rate limit {name!r}")
    if slug:
        override = _cached_overrides(slug).get(name)
        if override is not None:
            return override
    return default_limits()[name]


def _overrides_cache_key(slug: str) -> str:
    return f"omni:rl:org:{slug}"


def _cached_overrides(slug: str) -> dict[str, int]:
    from omni.tenants.models import Organization

    cache = caches[settings.RATELIMIT_USE_CACHE]
    key = _overrides_cache_key(slug)
    cached = cache.get(key)
    if cached is None:
        org_settings = Organization.objects.filter(slug=slug).values_list("settings", flat=True).first()
        cached = overrides_of(org_settings)
        cache.set(key, cached, ORG_OVERRIDES_SECONDS)
    return cached


def forget_org_overrides(slug: str) -> None:
    """Drop the cached overrides of ``slug`` (after its ``settings`` changed) in every process."""
    caches[settings.RATELIMIT_USE_CACHE].delete(_overrides_cache_key(slug))


def is_exempt_path(path: str) -> bool:
    """Paths never limited (``RATELIMIT_EXEMPT_PATHS``: health checks, static files)."""
    return any(path.startswith(prefix) for prefix in settings.RATELIMIT_EXEMPT_PATHS)


# --------------------------------------------------------------------------- who is asking
def client_ip(request: HttpRequest) -> str:
    """The client's IP: ``REMOTE_ADDR``, or behind ``RATELIMIT_TRUSTED_PROXY_HOPS`` proxies the
    address those proxies appended to ``X-Forwarded-For`` (a client cannot forge that entry)."""
    remote = request.META.get("REMOTE_ADDR") or "0.0.0.0"  # noqa: S104 (a key, not a bind address)
    hops = getattr(settings, "RATELIMIT_TRUSTED_PROXY_HOPS", 0)
    if hops > 0:
        forwarded = [part.strip() for part in request.META.get("HTTP_X_FORWARDED_FOR", "").split(",")]
        forwarded = [part for part in forwarded if part]
        if len(forwarded) >= hops:
            remote = forwarded[-hops]
    try:
        return str(ipaddress.ip_address(remote))
    except ValueError:
        return "invalid"


def _user_pk(request: Any) -> Any:
    user = getattr(request, "user", None)
    return user.pk if user is not None and user.is_authenticated else None


# --------------------------------------------------------------------------- counting (django-ratelimit)
@dataclass(frozen=True)
class Verdict:
    """One counted request: over the limit or not, and when the window resets."""

    limited: bool
    count: int
    limit: int
    retry_after: int
    scope: str


def count_request(request: HttpRequest, scope: str, value: str, limit: int) -> Verdict:
    """Count one request of ``value`` (a user or an IP) in ``scope`` against ``limit`` per minute."""
    usage = get_usage(
        request,
        group=f"omni.{scope}",
        key=lambda _group, _request: value,
        rate=f"{limit}/m",
        increment=True,
    )
    if usage is None:  # RATELIMIT_ENABLE is off
        return Verdict(False, 0, limit, 0, scope)
    retry_after = max(1, int(usage["time_left"])) if usage["should_limit"] else 0
    return Verdict(bool(usage["should_limit"]), int(usage["count"]), int(usage["limit"]), retry_after, scope)


def check_user_or_ip(request: HttpRequest, *, org_slug: str | None, authenticated_scope: str) -> Verdict:
    """The default limit of a request: per user (``authenticated_scope``: ui or api) inside the
    organization ``org_slug``, or per IP for anonymous requests."""
    user_pk = _user_pk(request)
    if user_pk is None:
        return count_request(request, "anon", client_ip(request), limit_for_slug(None, "anon_per_minute"))
    limit = limit_for_slug(org_slug, f"{authenticated_scope}_per_minute")
    scope = f"{authenticated_scope}:{org_slug}" if org_slug else authenticated_scope
    return count_request(request, scope, f"user:{user_pk}", limit)


def check_login(request: HttpRequest) -> Verdict:
    """Login attempts per IP (``login_per_minute``), on top of the lockout of omni.tenants.auth."""
    return count_request(request, "login", client_ip(request), limit_for_slug(None, "login_per_minute"))


# --------------------------------------------------------------------------- the 429 answer
def wants_json(request: HttpRequest) -> bool:
    if request.path.startswith("/api/"):
        return True
    accept = request.headers.get("Accept", "")
    return "application/json" in accept and "text/html" not in accept


def too_many_requests(request: HttpRequest, verdict: Verdict) -> HttpResponse:
    """429 with ``Retry-After``: a JSON body for API/JSON clients, a friendly page for the UI."""
    message = f"Too many requests. Try again in {verdict.retry_after} seconds."
    if wants_json(request):
        response: HttpResponse = JsonResponse(
            {"detail": message, "code": "rate_limited", "retry_after": verdict.retry_after}, status=429
        )
    else:
        html = render_to_string(
            "security/ratelimited.html", {"retry_after": verdict.retry_after}, request=request
        )
        response = HttpResponse(html, status=429)
    response["Retry-After"] = str(verdict.retry_after)
    if verdict.count == verdict.limit + 1:  # once per window and client, not once per refused request
        record_hit(request, verdict)
    return response


def record_hit(request: HttpRequest, verdict: Verdict) -> None:
    from omni.security.audit import record_event

    record_event(
        "ratelimit.hit",
        request=request,
        details={"scope": verdict.scope, "limit": verdict.limit, "path": request.path[:200]},
    )


# --------------------------------------------------------------------------- decorator
def _request_of(args: tuple) -> HttpRequest:
    for arg in args[:2]:  # view(request, ...) or method(self, request, ...)
        if hasattr(arg, "META") and hasattr(arg, "method"):
            return arg
    raise TypeError("ratelimit: the view's first (or second, for methods) argument must be the request")


def ratelimit(name: str, *, key: str = "user_or_ip") -> Callable[[Callable], Callable]:
    """Add the limit ``name`` (a key of ``RATELIMIT_DEFAULTS``, e.g. ``"login_per_minute"``) to
    one view, counted per ``key`` ("user_or_ip" or "ip"). Works on sync and async views and on DRF
    view methods; over the limit the view is not called and the client gets a 429."""
    if name not in RATE_LIMIT_NAMES:
        raise ValueError(f"unknown rate limit {name!r}")
    if key not in ("user_or_ip", "ip"):
        raise ValueError("key must be 'user_or_ip' or 'ip'")

    def check(request: HttpRequest) -> Verdict:
        user_pk = _user_pk(request) if key == "user_or_ip" else None
        value = f"user:{user_pk}" if user_pk is not None else client_ip(request)
        return count_request(request, f"view:{name}", value, limit_for_slug(None, name))

    def decorator(view: Callable) -> Callable:
        if iscoroutinefunction(view):

            @functools.wraps(view)
            async def async_wrapper(*args: Any, **kwargs: Any) -> Any:
                request = _request_of(args)
                verdict = await sync_to_async(check)(request)
                if verdict.limited:
                    return await sync_to_async(too_many_requests)(request, verdict)
                return await view(*args, **kwargs)

            return async_wrapper

        @functools.wraps(view)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            request = _request_of(args)
            verdict = check(request)
            if verdict.limited:
                return too_many_requests(request, verdict)
            return view(*args, **kwargs)

        return wrapper

    return decorator


# --------------------------------------------------------------------------- MCP: ahit / hit
# One asyncio client per event loop (a client is bound to the loop it was created on). Weak keys: a
# closed, collected loop (tests, async_to_sync) takes its client with it instead of leaving a stale
# entry that a new loop with a recycled id() would pick up.
_async_clients: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, Any] = weakref.WeakKeyDictionary()
_sync_clients: dict[str, Any] = {}


def _redis_location() -> str | None:
    """The Redis URL of the rate-limit cache when it is Django's RedisCache, else None."""
    config = settings.CACHES[settings.RATELIMIT_USE_CACHE]
    if config["BACKEND"] != "django.core.cache.backends.redis.RedisCache":
        return None
    location = config["LOCATION"]
    if isinstance(location, list | tuple):
        location = location[0]
    return location.split(",")[0]


def _async_redis(location: str) -> Any:
    import redis.asyncio as aioredis

    loop = asyncio.get_running_loop()
    client = _async_clients.get(loop)
    if client is None:
        client = aioredis.Redis.from_url(location)
        _async_clients[loop] = client
    return client


def _sync_redis(location: str) -> Any:
    import redis

    client = _sync_clients.get(location)
    if client is None:
        client = redis.Redis.from_url(location)
        _sync_clients[location] = client
    return client


def _window(window_seconds: int) -> tuple[int, int]:
    """(start of the current fixed window, seconds until it ends, at least 1)."""
    now = time.time()
    start = int(now // window_seconds) * window_seconds
    return start, max(1, math.ceil(start + window_seconds - now))


def _counter_name(key: str, window_seconds: int, start: int) -> str:
    return f"rl:hit:{window_seconds}:{start}:{key}"


def _redis_key(key: str, window_seconds: int, start: int) -> str:
    # The Django cache's own key (same prefix and version): cache.get() reads the same counter.
    cache = caches[settings.RATELIMIT_USE_CACHE]
    return cache.make_key(_counter_name(key, window_seconds, start))


def _check_hit_args(key: str, limit: int, window_seconds: int) -> None:
    if not isinstance(key, str) or not key:
        raise ValueError("key must be a non-empty string")
    if limit < 1 or window_seconds < 1:
        raise ValueError("limit and window_seconds must be at least 1")


def _local_incr(name: str, window_seconds: int, cost: int = 1) -> int:
    """The same counter on a non-Redis cache (LocMem: this process only)."""
    cache = caches[settings.RATELIMIT_USE_CACHE]
    cache.add(name, 0, window_seconds + _EXPIRY_FUDGE)
    try:
        return cache.incr(name, cost)
    except ValueError:  # expired between add and incr
        cache.set(name, cost, window_seconds + _EXPIRY_FUDGE)
        return cost


def check_cost(cost: int) -> None:
    if isinstance(cost, bool) or not isinstance(cost, int) or cost < 1:
        raise ValueError("cost must be a whole number of at least 1")


async def acount_hits(key: str, window_seconds: int, cost: int = 1) -> tuple[int, int]:
    """Add ``cost`` hits to ``key`` in the current fixed window; returns ``(count after, seconds
    until the window resets)``. On Redis ``INCRBY`` and its expiry are one transaction (atomic,
    shared by every process); otherwise the counter lives in this process's cache."""
    _check_hit_args(key, 1, window_seconds)
    check_cost(cost)
    start, retry_after = _window(window_seconds)
    location = _redis_location()
    if location is None:
        return _local_incr(_counter_name(key, window_seconds, start), window_seconds, cost), retry_after
    redis_key = _redis_key(key, window_seconds, start)
    async with _async_redis(location).pipeline(transaction=True) as pipe:
        pipe.incrby(redis_key, cost)
        pipe.expire(redis_key, window_seconds + _EXPIRY_FUDGE)
        count, _ = await pipe.execute()
    return int(count), retry_after


def count_hits(key: str, window_seconds: int, cost: int = 1) -> tuple[int, int]:
    """``acount_hits`` for synchronous code (same counters)."""
    _check_hit_args(key, 1, window_seconds)
    check_cost(cost)
    start, retry_after = _window(window_seconds)
    location = _redis_location()
    if location is None:
        return _local_incr(_counter_name(key, window_seconds, start), window_seconds, cost), retry_after
    redis_key = _redis_key(key, window_seconds, start)
    with _sync_redis(location).pipeline(transaction=True) as pipe:
        pipe.incrby(redis_key, cost)
        pipe.expire(redis_key, window_seconds + _EXPIRY_FUDGE)
        total, _ = pipe.execute()
    return int(total), retry_after


async def ahit(key: str, limit: int, window_seconds: int, cost: int = 1) -> tuple[bool, int]:
    """Count ``cost`` hits (default one) of ``key`` in the current fixed window of ``window_seconds``.

    Returns ``(allowed, retry_after)``: ``allowed`` is False once the window holds more than
    ``limit`` hits, and ``retry_after`` is then the seconds until the window resets (0 when
    allowed). Shared by every process on Redis (see ``acount_hits``).
    """
    _check_hit_args(key, limit, window_seconds)
    if not getattr(settings, "RATELIMIT_ENABLE", True):
        return True, 0
    total, retry_after = await acount_hits(key, window_seconds, cost)
    allowed = total <= limit
    return allowed, 0 if allowed else retry_after


def hit(key: str, limit: int, window_seconds: int, cost: int = 1) -> tuple[bool, int]:
    """``ahit`` for synchronous code (same counters)."""
    _check_hit_args(key, limit, window_seconds)
    if not getattr(settings, "RATELIMIT_ENABLE", True):
        return True, 0
    total, retry_after = count_hits(key, window_seconds, cost)
    allowed = total <= limit
    return allowed, 0 if allowed else retry_after
