"""The way in: ``/`` sends a logged-in user to their first organization; the org dashboard."""

from __future__ import annotations

from django.conf import settings
from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils import timezone

from omni.registry.services import effective_prompts, effective_resources, effective_servers
from omni.tenants.models import ApiKey, Membership
from omni.tenants.services import organizations_for_user
from omni.tenants.ui import org_view, render_org


@login_required
def home(request: HttpRequest) -> HttpResponse:
    """``/``: the first organization of the user, or a page saying they have none."""
    orgs = organizations_for_user(request.user)
    if orgs:
        return redirect("tenants:dashboard", slug=orgs[0].slug)
    return render(request, "tenants/no_org.html")


@org_view()
def dashboard(request: HttpRequest, slug: str) -> HttpResponse:
    ctx = request.org_ctx
    servers = effective_servers(ctx, enabled_only=False)
    now = timezone.now()
    keys = ApiKey.objects.for_org(ctx)
    context = {
        "servers": servers,
        "enabled_servers": sum(1 for server in servers if server.enabled),
        "prompt_count": len(effective_prompts(ctx)),
        "resource_count": len(effective_resources(ctx)),
        "member_count": Membership.objects.for_org(ctx).count(),
        "active_key_count": keys.filter(revoked_at__isnull=True)
        .exclude(expires_at__isnull=False, expires_at__lte=now)
        .count(),
        "mcp_url": settings.OMNI_PUBLIC_URL.rstrip("/") + "/mcp",
    }
    return render_org(request, "tenants/dashboard.html", context)
