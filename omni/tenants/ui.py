"""The organization context of the web UI: one decorator, one render helper, one context processor.

Every page under ``/o/<slug>/`` is a view taking ``slug`` and decorated with ``org_view``::

    @org_view(REGISTRY_WRITE)
    def prompt_create(request, slug): ...

``org_view`` requires a login, resolves ``request.org_ctx`` through ``resolve_user_context``
(outsiders get 404, never a hint that the organization exists) and checks the capability when one
is given (a lower role gets 403). ``render_org`` renders a full page, or only ``fragment`` when the
request comes from htmx. The context processor ``org_context`` puts ``org``, ``org_ctx``,
``org_caps``, ``user_orgs`` (the switcher) and ``org_section`` into every template.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any

from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils.functional import SimpleLazyObject

from omni.tenants.permissions import REGISTRY_WRITE, require, role_capabilities
from omni.tenants.services import organizations_for_user, resolve_user_context

View = Callable[..., HttpResponse]


def org_view(capability: str | None = None) -> Callable[[View], View]:
    """Decorate a view taking ``slug``: login, org context (404 for outsiders), capability (403)."""

    def decorator(view: View) -> View:
        @functools.wraps(view)
        def wrapper(request: HttpRequest, slug: str, *args: Any, **kwargs: Any) -> HttpResponse:
            ctx = resolve_user_context(request.user, slug)
            if capability is not None:
                require(ctx, capability)
            request.org_ctx = ctx
            return view(request, slug, *args, **kwargs)

        return login_required(wrapper)

    return decorator


def is_htmx(request: HttpRequest) -> bool:
    """Whether htmx sent the request (and wants a fragment, not a whole page)."""
    headers = request.headers
    return (
        headers.get("HX-Request") == "true"
        and headers.get("HX-Boosted") != "true"
        and headers.get("HX-History-Restore-Request") != "true"  # a history miss needs the whole page
    )


def render_org(
    request: HttpRequest,
    template: str,
    context: dict[str, Any] | None = None,
    *,
    fragment: str | None = None,
    status: int = 200,
) -> HttpResponse:
    """Render ``template`` (a full page), or ``fragment`` (a partial) for an htmx request."""
    name = fragment if fragment is not None and is_htmx(request) else template
    return render(request, name, context or {}, status=status)


def _section(request: HttpRequest) -> str:
    """The first path segment after ``/o/<slug>/`` ("prompts"), so the switcher keeps the section."""
    match = getattr(request, "resolver_match", None)
    parts = request.path.strip("/").split("/")
    if match is None or len(parts) < 3 or parts[0] != "o":
        return ""
    return parts[2]


def org_context(request: HttpRequest) -> dict[str, Any]:
    """Template context of every page: the current organization (if any) and the switcher."""
    ctx = getattr(request, "org_ctx", None)
    user = getattr(request, "user", None)
    caps = role_capabilities(ctx.role) if ctx is not None else frozenset()
    return {
        "org_ctx": ctx,
        "org": ctx.organization if ctx is not None else None,
        "org_caps": caps,
        "can_write": REGISTRY_WRITE in caps,
        "user_orgs": SimpleLazyObject(lambda: organizations_for_user(user)) if user is not None else [],
        "org_section": _section(request),
    }


def redirect_org(request: HttpRequest, url: str) -> HttpResponse:
    """After a successful write: a redirect, or for htmx an ``HX-Redirect`` (a full page load)."""
    if is_htmx(request):
        return HttpResponse(status=204, headers={"HX-Redirect": url})
    return redirect(url)
