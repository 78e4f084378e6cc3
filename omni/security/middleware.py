"""Django middleware of the security package: response headers and the default rate limits.

Neither runs on ``/mcp``, ``/sse`` and ``/messages/``: those are served beside Django by the
gateway's own ASGI front (see ``omni/gateway/asgi.py``), which calls ``ratelimit.ahit`` itself.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import wraps
from typing import Any

from asgiref.sync import iscoroutinefunction
from django.conf import settings
from django.http import HttpRequest, HttpResponse
from django.utils.deprecation import MiddlewareMixin

from omni.security import ratelimit

# Scripts, styles, images, fonts and fetches only from this site; no plugins, no framing, forms
# post only here. The UI ships no inline scripts or styles (docs/security.md).
DEFAULT_CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; font-src 'self'; "
    "connect-src 'self'; object-src 'none'; base-uri 'self'; form-action 'self'; frame-ancestors 'none'"
)
DEFAULT_PERMISSIONS_POLICY = (
    "accelerometer=(), camera=(), geolocation=(), gyroscope=(), magnetometer=(), microphone=(), "
    "payment=(), usb=(), interest-cohort=()"
)
CSP_HEADER = "Content-Security-Policy"
CSP_REPORT_ONLY_HEADER = "Content-Security-Policy-Report-Only"


def content_security_policy() -> str:
    return getattr(settings, "OMNI_CSP", None) or DEFAULT_CSP


def csp_override(policy: str) -> Callable[[Callable], Callable]:
    """Give one view its own Content-Security-Policy (e.g. a page that must load a CDN script).

    The middleware keeps a policy that a view already set; prefer fixing the page over this.
    """

    def decorator(view: Callable) -> Callable:
        if iscoroutinefunction(view):

            @wraps(view)
            async def async_wrapper(*args: Any, **kwargs: Any) -> HttpResponse:
                response = await view(*args, **kwargs)
                response[CSP_HEADER] = policy
                return response

            return async_wrapper

        @wraps(view)
        def wrapper(*args: Any, **kwargs: Any) -> HttpResponse:
            response = view(*args, **kwargs)
            response[CSP_HEADER] = policy
            return response

        return wrapper

    return decorator


class SecurityHeadersMiddleware(MiddlewareMixin):
    """Adds Content-Security-Policy, Permissions-Policy and Cross-Origin-Resource-Policy.

    Django's own ``SecurityMiddleware`` and ``XFrameOptionsMiddleware`` send HSTS (over TLS only),
    ``X-Content-Type-Options``, ``Referrer-Policy``, ``Cross-Origin-Opener-Policy`` and
    ``X-Frame-Options`` from the ``SECURE_*``/``X_FRAME_OPTIONS`` settings.
    """

    def process_response(self, request: HttpRequest, response: HttpResponse) -> HttpResponse:
        header = CSP_REPORT_ONLY_HEADER if getattr(settings, "OMNI_CSP_REPORT_ONLY", False) else CSP_HEADER
        if CSP_HEADER not in response and CSP_REPORT_ONLY_HEADER not in response:
            response[header] = content_security_policy()
        if "Permissions-Policy" not in response:
            response["Permissions-Policy"] = DEFAULT_PERMISSIONS_POLICY
        if "Cross-Origin-Resource-Policy" not in response:
            response["Cross-Origin-Resource-Policy"] = "same-origin"
        return response


def _is_drf_view(view_func: Callable) -> bool:
    view_class = getattr(view_func, "cls", None)
    if view_class is None:
        return False
    from rest_framework.views import APIView

    return isinstance(view_class, type) and issubclass(view_class, APIView)


class RateLimitMiddleware(MiddlewareMixin):
    """The default limits of every Django view (DRF views are counted by ``RateLimitThrottle``,
    after DRF authenticated their bearer token): per user and organization for logged-in users
    (``ui_per_minute``/``api_per_minute``), per IP for anonymous ones (``anon_per_minute``), plus
    ``login_per_minute`` per IP on the POSTs of the log-in views (``RATELIMIT_LOGIN_VIEWS``)."""

    def process_view(
        self,
        request: HttpRequest,
        view_func: Callable,
        view_args: tuple,
        view_kwargs: dict[str, Any],
    ) -> HttpResponse | None:
        if not settings.RATELIMIT_ENABLE or ratelimit.is_exempt_path(request.path) or _is_drf_view(view_func):
            return None
        if getattr(view_func, "ratelimit_exempt", False):
            return None
        match = request.resolver_match
        if (
            request.method == "POST"
            and match is not None
            and match.view_name in settings.RATELIMIT_LOGIN_VIEWS
        ):
            verdict = ratelimit.check_login(request)
            if verdict.limited:
                return ratelimit.too_many_requests(request, verdict)
        slug = view_kwargs.get("slug")
        verdict = ratelimit.check_user_or_ip(
            request,
            org_slug=slug if isinstance(slug, str) else None,
            authenticated_scope="api" if request.path.startswith("/api/") else "ui",
        )
        if verdict.limited:
            return ratelimit.too_many_requests(request, verdict)
        return None
