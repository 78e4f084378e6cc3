"""The default rate limits of every DRF view, as a DRF throttle (``DEFAULT_THROTTLE_CLASSES``).

DRF throttles run after authentication, so a JWT-authenticated request is counted per user (not
per IP, as ``RateLimitMiddleware`` would see it before DRF decoded the token). The counters are
django-ratelimit's, shared with the middleware. Over the limit DRF answers 429 with a JSON
``detail`` and ``Retry-After``.

A view sets ``ratelimit_scope = "login"`` to be counted per IP against ``login_per_minute`` as
well (the token endpoint does), or ``ratelimit_exempt = True`` to be left alone.
"""

from __future__ import annotations

from typing import Any

from django.conf import settings
from rest_framework.throttling import BaseThrottle

from omni.security import ratelimit


class RateLimitThrottle(BaseThrottle):
    def __init__(self) -> None:
        self.verdict: ratelimit.Verdict | None = None

    def allow_request(self, request: Any, view: Any) -> bool:
        if not settings.RATELIMIT_ENABLE or getattr(view, "ratelimit_exempt", False):
            return True
        if ratelimit.is_exempt_path(request.path):
            return True
        if getattr(view, "ratelimit_scope", None) == "login" and request.method == "POST":
            if not self._allowed(request, ratelimit.check_login(request)):
                return False
        slug = (getattr(view, "kwargs", None) or {}).get("slug")
        if not isinstance(slug, str):
            ctx = getattr(request, "org_ctx", None)
            slug = ctx.org_slug if ctx is not None else None
        verdict = ratelimit.check_user_or_ip(request, org_slug=slug, authenticated_scope="api")
        return self._allowed(request, verdict)

    def _allowed(self, request: Any, verdict: ratelimit.Verdict) -> bool:
        self.verdict = verdict
        if not verdict.limited:
            return True
        if verdict.count == verdict.limit + 1:
            ratelimit.record_hit(request, verdict)
        return False

    def wait(self) -> float | None:
        return float(self.verdict.retry_after) if self.verdict is not None else None
