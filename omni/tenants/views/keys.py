"""API keys of an organization: list (prefix, scopes, expiry, last use), create (raw key shown
once, in the response to the POST and nowhere else), revoke."""

from __future__ import annotations

from django.contrib import messages
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404
from django.views.decorators.http import require_POST

from omni.tenants.forms import ApiKeyForm
from omni.tenants.models import ApiKey
from omni.tenants.permissions import KEYS_MANAGE
from omni.tenants.services import revoke_api_key
from omni.tenants.ui import org_view, redirect_org, render_org


def _page(
    request: HttpRequest, *, form: ApiKeyForm | None = None, new_key: tuple | None = None, status: int = 200
) -> HttpResponse:
    ctx = request.org_ctx
    keys = ApiKey.objects.for_org(ctx).select_related("created_by").order_by("-created_at")
    context = {
        "keys": keys,
        "form": form or ApiKeyForm(ctx=ctx),
        "new_key": new_key[0] if new_key else None,
        "raw_key": new_key[1] if new_key else None,
    }
    response = render_org(request, "tenants/keys.html", context, status=status)
    if new_key:
        response["Cache-Control"] = "no-store"
    return response


@org_view()
def key_list(request: HttpRequest, slug: str) -> HttpResponse:
    return _page(request)


@require_POST
@org_view(KEYS_MANAGE)
def key_create(request: HttpRequest, slug: str) -> HttpResponse:
    form = ApiKeyForm(request.POST, ctx=request.org_ctx)
    if not form.is_valid():
        return _page(request, form=form, status=400)
    key, raw = form.save(request.user)
    return _page(request, new_key=(key, raw), status=201)


@require_POST
@org_view(KEYS_MANAGE)
def key_revoke(request: HttpRequest, slug: str, key_id: str) -> HttpResponse:
    key = get_object_or_404(ApiKey.objects.for_org(request.org_ctx), pk=key_id)
    already = key.is_revoked
    revoke_api_key(key)
    if already:
        messages.info(request, f"{key.name} was already revoked.")
    else:
        messages.success(request, f"Revoked {key.name} ({key.prefix}…): clients using it are refused now.")
    return redirect_org(request, f"/o/{slug}/keys/")
