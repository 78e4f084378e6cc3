"""Members and roles of an organization, and its settings (name). New members come in by
invitation (``views/invitations.py``)."""

from __future__ import annotations

from django.contrib import messages
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404
from django.views.decorators.http import require_POST

from omni.tenants import invitations
from omni.tenants.forms import InviteForm, MemberRoleForm, OrganizationForm, remove_member
from omni.tenants.models import Membership
from omni.tenants.permissions import MEMBERS_MANAGE, ORG_MANAGE, can
from omni.tenants.ui import org_view, redirect_org, render_org


def members_page(
    request: HttpRequest,
    *,
    invite_form: InviteForm | None = None,
    org_form: OrganizationForm | None = None,
    row_errors: dict[str, list[str]] | None = None,
    status: int = 200,
) -> HttpResponse:
    ctx = request.org_ctx
    members = list(Membership.objects.for_org(ctx).select_related("user").order_by("user__username"))
    for member in members:
        member.row_errors = (row_errors or {}).get(member.user.get_username(), [])
    context = {
        "members": members,
        "invite_form": invite_form or InviteForm(ctx=ctx),
        "invitations": invitations.pending(ctx) if can(ctx, MEMBERS_MANAGE) else [],
        "org_form": org_form or OrganizationForm(instance=ctx.organization),
        "role_choices": Membership.Role.choices,
        "owner_count": sum(1 for member in members if member.role == Membership.Role.OWNER),
    }
    return render_org(request, "tenants/members.html", context, status=status)


def _membership(request: HttpRequest, username: str) -> Membership:
    return get_object_or_404(
        Membership.objects.for_org(request.org_ctx).select_related("user", "organization"),
        user__username=username,
    )


@org_view()
def member_list(request: HttpRequest, slug: str) -> HttpResponse:
    return members_page(request)


@require_POST
@org_view(MEMBERS_MANAGE)
def member_role(request: HttpRequest, slug: str, username: str) -> HttpResponse:
    membership = _membership(request, username)
    form = MemberRoleForm(request.POST, ctx=request.org_ctx, membership=membership)
    if not form.is_valid() or form.save() is None:
        errors = [str(error) for error in form.errors.get("role", [])]
        return members_page(request, row_errors={username: errors}, status=400)
    messages.success(request, f"{username} is now {form.cleaned_data['role']}.")
    return redirect_org(request, f"/o/{slug}/members/")


@require_POST
@org_view(MEMBERS_MANAGE)
def member_remove(request: HttpRequest, slug: str, username: str) -> HttpResponse:
    membership = _membership(request, username)
    error = remove_member(request.org_ctx, membership)
    if error:
        return members_page(request, row_errors={username: [error]}, status=400)
    messages.success(request, f"Removed {username} from {request.org_ctx.organization.name}.")
    if membership.user_id == request.user.pk:
        return redirect_org(request, "/")
    return redirect_org(request, f"/o/{slug}/members/")


@require_POST
@org_view(ORG_MANAGE)
def org_settings(request: HttpRequest, slug: str) -> HttpResponse:
    form = OrganizationForm(request.POST, instance=request.org_ctx.organization)
    if not form.is_valid():
        return members_page(request, org_form=form, status=400)
    form.save()
    messages.success(request, "Organization renamed.")
    return redirect_org(request, f"/o/{slug}/members/")
