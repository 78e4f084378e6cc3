"""Who is acting right now, for events recorded deep inside models and services.

``AuditContextMiddleware`` puts the current Django request into a context variable for the length
of each request (NetBox's change-logging context, in our words), so that ``RegistryItem.save()`` or
``revoke_api_key()`` can name the user and IP that caused the change without being passed the
request. Outside a request (shell, management commands, Celery) wrap the work in
``audit_context(actor=...)``; without either, events name the actor ``system``.

It also records ``access.denied`` for the 403s of the web UI, and for a logged-in user who asks
for an organization's page without being a member (they get the same 404 as for a missing one).
"""

from __future__ import annotations

import contextlib
import contextvars
import logging
import re
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

from asgiref.sync import iscoroutinefunction, markcoroutinefunction
from django.core.exceptions import PermissionDenied
from django.http import Http404, HttpRequest, HttpResponse

logger = logging.getLogger(__name__)

REQUEST_ID_HEADER = "HTTP_X_REQUEST_ID"
_REQUEST_ID_RE = re.compile(r"^[A-Za-z0-9._-]{1,64}$")


@dataclass(frozen=True)
class AuditScope:
    request: HttpRequest | None = None
    actor: Any = None


_scope: contextvars.ContextVar[AuditScope | None] = contextvars.ContextVar("omni_audit_scope", default=None)


def current_scope() -> AuditScope | None:
    return _scope.get()


@contextlib.contextmanager
def audit_context(*, request: HttpRequest | None = None, actor: Any = None) -> Iterator[None]:
    """Attribute the events recorded inside the block to ``actor`` (a user, an API key, an
    ``Actor``, or a name for a system job) and/or to ``request``."""
    token = _scope.set(AuditScope(request=request, actor=actor))
    try:
        yield
    finally:
        _scope.reset(token)


def request_id_for(request: HttpRequest) -> str:
    """One id per request (a valid ``X-Request-ID`` header, else a new uuid), shared by its events."""
    existing = getattr(request, "audit_request_id", None)
    if existing:
        return existing
    supplied = request.META.get(REQUEST_ID_HEADER, "")
    value = supplied if _REQUEST_ID_RE.match(supplied) else uuid.uuid4().hex
    request.audit_request_id = value
    return value


def _denied(request: HttpRequest, exception: Exception) -> None:
    """Record an ``access.denied`` for a 403, or for a non-member's 404 on an organization page."""
    from omni.audit.services import record

    match = getattr(request, "resolver_match", None)
    slug = match.kwargs.get("slug") if match is not None else None
    org_ctx = getattr(request, "org_ctx", None)
    org = getattr(org_ctx, "organization", None)
    if isinstance(exception, Http404):
        if not slug or org is not None or not getattr(request.user, "is_authenticated", False):
            return  # an ordinary 404
        from omni.tenants.models import Membership, Organization

        org = Organization.objects.filter(slug=slug).first()
        if org is None or Membership.objects.filter(organization=org, user=request.user).exists():
            return  # no such organization, or a member asking for a missing object
        reason = "not a member"
    else:
        if org is None and isinstance(slug, str):
            from omni.tenants.models import Organization

            org = Organization.objects.filter(slug=slug).first()
        reason = str(exception) or "permission denied"
    record(
        "access.denied",
        organization=org,
        request=request,
        data={"path": request.path[:500], "method": request.method, "reason": reason[:500]},
    )


class AuditContextMiddleware:
    """Binds each request to the audit context and records denied accesses (sync and async)."""

    sync_capable = True
    async_capable = True

    def __init__(self, get_response: Callable[[HttpRequest], Any]) -> None:
        self.get_response = get_response
        if iscoroutinefunction(get_response):
            markcoroutinefunction(self)

    def __call__(self, request: HttpRequest) -> Any:
        if iscoroutinefunction(self):
            return self._acall(request)
        with audit_context(request=request):
            return self.get_response(request)

    async def _acall(self, request: HttpRequest) -> HttpResponse:
        with audit_context(request=request):
            return await self.get_response(request)

    def process_exception(self, request: HttpRequest, exception: Exception) -> None:
        if isinstance(exception, PermissionDenied | Http404):
            try:
                _denied(request, exception)
            except Exception:  # auditing never turns a 403/404 into a 500
                logger.exception("could not record access.denied for %s", request.path)
        return None
