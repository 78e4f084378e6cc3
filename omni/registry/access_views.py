"""``/o/<slug>/access/``: list, add and delete the organization's access rules (owners, admins).

Members and viewers get 403, outsiders 404 (``org_view``). The work is in ``access.py``.
"""

from __future__ import annotations

from django.contrib import messages
from django.core.exceptions import ValidationError
from django.http import HttpRequest, HttpResponse
from django.views.decorators.http import require_http_methods, require_POST

from omni.registry import access
from omni.registry.access_forms import AccessRuleForm
from omni.tenants.ui import org_view, redirect_org, render_org


def _page(request: HttpRequest, form: AccessRuleForm, status: int = 200) -> HttpResponse:
    ctx = request.org_ctx
    context = {"rules": access.list_rules(ctx), "form": form, "has_keys": bool(access.key_choices(ctx))}
    return render_org(request, "access/rules.html", context, status=status)


@org_view(access.MANAGE_CAPABILITY)
@require_http_methods(["GET", "POST"])
def rule_list(request: HttpRequest, slug: str) -> HttpResponse:
    ctx = request.org_ctx
    if request.method != "POST":
        return _page(request, AccessRuleForm(ctx=ctx))
    form = AccessRuleForm(request.POST, ctx=ctx)
    if form.is_valid():
        try:
            rule = access.create_rule(ctx, user=request.user, **form.rule_fields())
        except ValidationError as exc:
            form.add_error(None, exc)
        else:
            messages.success(request, f"Added: {rule}. MCP clients see the change now.")
            return redirect_org(request, f"/o/{ctx.org_slug}/access/")
    return _page(request, form, status=400)


@org_view(access.MANAGE_CAPABILITY)
@require_POST
def rule_delete(request: HttpRequest, slug: str, rule_id: str) -> HttpResponse:
    access.delete_rule(request.org_ctx, rule_id)
    messages.success(request, "Deleted the access rule.")
    return redirect_org(request, f"/o/{slug}/access/")
