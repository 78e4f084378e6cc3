"""Invitations: an admin invites by email and revokes (``/o/<slug>/members/…``); the invitee opens
the link (``/invite/<token>/``) and accepts by signing in or by creating an account."""

from __future__ import annotations

from django.conf import settings
from django.contrib import messages
from django.contrib.auth import login
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.http import urlencode
from django.views.decorators.http import require_http_methods, require_POST

from omni.tenants import invitations
from omni.tenants.forms import InviteForm, SignupForm
from omni.tenants.permissions import MEMBERS_MANAGE
from omni.tenants.ui import org_view, redirect_org
from omni.tenants.views.members import members_page

BACKEND = "django.contrib.auth.backends.ModelBackend"
REASONS = {
    "expired": "This invitation has expired.",
    "revoked": "This invitation was withdrawn.",
    "used": "This invitation has already been used.",
}


@require_POST
@org_view(MEMBERS_MANAGE)
def invite_create(request: HttpRequest, slug: str) -> HttpResponse:
    form = InviteForm(request.POST, ctx=request.org_ctx)
    if not form.is_valid() or form.save(request.user, request.build_absolute_uri("/")) is None:
        return members_page(request, invite_form=form, status=400)
    # The same answer whether or not an account exists for the address.
    hours = settings.INVITATION_EXPIRY_HOURS
    messages.success(
        request,
        f"Invitation sent to {form.cleaned_data['email'].lower()}. The link works once, for {hours} hours.",
    )
    return redirect_org(request, f"/o/{slug}/members/")


@require_POST
@org_view(MEMBERS_MANAGE)
def invite_revoke(request: HttpRequest, slug: str, invitation_id: str) -> HttpResponse:
    invitation = invitations.revoke_invitation(request.org_ctx, invitation_id)
    if invitation is None:
        raise Http404("No such pending invitation.")
    messages.success(request, f"Invitation to {invitation.email} revoked.")
    return redirect_org(request, f"/o/{slug}/members/")


def _invalid(request: HttpRequest, reason: str, status: int) -> HttpResponse:
    text = REASONS.get(reason, "This invitation link is not valid.")
    return render(request, "tenants/invitation.html", {"invalid": text}, status=status)


@require_http_methods(["GET", "POST"])
def invite_accept(request: HttpRequest, token: str) -> HttpResponse:
    """The link's page: who invites you where; accept (signed in), sign in, or create an account."""
    invitation = invitations.find(token)
    if invitation is None:
        return _invalid(request, "unknown", 404)
    if not invitation.is_pending:
        return _invalid(request, invitations.refuse(invitation, request=request), 410)
    signup = SignupForm(email=invitation.email)
    status = 200
    if request.method == "POST":
        action = request.POST.get("action")
        if action == "accept" and request.user.is_authenticated:
            return _accept(request, token, request.user)
        if action == "signup" and not request.user.is_authenticated:
            signup = SignupForm(request.POST, email=invitation.email)
            if signup.is_valid():
                user = signup.save()
                login(request, user, backend=BACKEND)
                return _accept(request, token, user)
            status = 400
        else:
            status = 400
    context = {
        "invitation": invitation,
        "signup": signup,
        "login_url": f"{reverse('tenants:login')}?{urlencode({'next': request.path})}",
    }
    return render(request, "tenants/invitation.html", context, status=status)


def _accept(request: HttpRequest, token: str, user) -> HttpResponse:
    invitation, outcome = invitations.accept(token, user, request=request)
    if outcome != "accepted" or invitation is None:
        return _invalid(request, outcome, 410 if invitation is not None else 404)
    org = invitation.organization
    messages.success(request, f"Welcome to {org.name}.")
    return redirect(f"/o/{org.slug}/")
