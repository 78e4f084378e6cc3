"""Pages of data-subject rights.

* ``/account/`` — the signed-in person: profile, memberships, "Download my data", "Delete my
  account" (password, grace period, cancel), and their requests.
* ``/account/download/<token>/`` — the one-time link of a ready export (the requester only).
* ``/privacy/requests/`` — operators (superusers): every request; anyone else gets 404.
* ``/o/<slug>/privacy/requests/`` — owners: export or delete the organization, cancel a pending
  deletion, and the register of requests about the organization and its members (other roles
  get 403, outsiders 404).
"""

from __future__ import annotations

import functools

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.db.models import Q
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.views.decorators.http import require_GET, require_POST

from omni.audit.views import superuser_view
from omni.privacy.models import DataSubjectRequest
from omni.privacy.subjects import services
from omni.privacy.subjects.erasure import last_owned
from omni.tenants.models import Membership, Role
from omni.tenants.ui import org_view, render_org

State = DataSubjectRequest.State


def _with_links(requests: list[DataSubjectRequest], user) -> list[DataSubjectRequest]:
    for dsr in requests:
        dsr.download_url = ""
        if dsr.state == State.READY and dsr.link_nonce and dsr.requested_by_id == user.pk:
            dsr.download_url = reverse("privacy:download", args=[services.download_token(dsr)])
    return requests


@login_required
def account(request: HttpRequest) -> HttpResponse:
    user = request.user
    requests = list(
        DataSubjectRequest.objects.filter(user=user, subject_type=DataSubjectRequest.SubjectType.USER)
        .defer("archive")
        .order_by("-requested_at")[:50]
    )
    pending_erasure = next(
        (r for r in requests if r.kind == DataSubjectRequest.Kind.ERASURE and r.state == State.PENDING), None
    )
    context = {
        "memberships": Membership.objects.filter(user=user)
        .select_related("organization")
        .order_by("organization__slug"),
        "requests": _with_links(requests, user),
        "pending_erasure": pending_erasure,
        "last_owned": last_owned(user),
    }
    return render(request, "privacy/subjects/account.html", context)


@login_required
@require_POST
def account_export(request: HttpRequest) -> HttpResponse:
    services.request_user_export(request.user, request=request)
    messages.success(
        request, "Your export is being prepared. Its download link appears below when it is ready."
    )
    return redirect("privacy:account")


@login_required
@require_POST
def account_erase(request: HttpRequest) -> HttpResponse:
    try:
        dsr = services.request_user_erasure(request.user, request.POST.get("password", ""), request=request)
    except services.RequestError as exc:
        messages.error(request, str(exc))
        return redirect("privacy:account")
    messages.warning(
        request,
        f"Your account will be erased on {dsr.scheduled_for:%Y-%m-%d %H:%M} UTC. You can cancel until then.",
    )
    return redirect("privacy:account")


@login_required
@require_POST
def account_cancel(request: HttpRequest, public_id) -> HttpResponse:
    dsr = DataSubjectRequest.objects.filter(public_id=public_id, user=request.user).first()
    if dsr is not None and services.cancel(dsr, request.user, request=request):
        messages.success(request, "The erasure of your account is cancelled.")
    else:
        messages.error(request, "There is no pending erasure of your account to cancel.")
    return redirect("privacy:account")


@login_required
def download(request: HttpRequest, token: str) -> HttpResponse:
    try:
        got = services.consume_download(token, request.user, request=request)
    except services.RequestError as exc:
        return render(request, "privacy/subjects/link_error.html", {"error": str(exc)}, status=410)
    response = HttpResponse(got.data, content_type="application/zip")
    response["Content-Disposition"] = f'attachment; filename="{got.name}"'
    response["Cache-Control"] = "no-store"
    return response


@require_GET
@superuser_view
def all_requests(request: HttpRequest) -> HttpResponse:
    """Operators (superusers): every request of the platform; everyone else gets 404."""
    requests = list(DataSubjectRequest.objects.defer("archive").order_by("-requested_at")[:200])
    for dsr in requests:
        dsr.download_url = ""
    return render(request, "privacy/subjects/all_requests.html", {"requests": requests})


# --------------------------------------------------------------------------- organizations
def _require_owner(request: HttpRequest) -> None:
    if request.org_ctx.role != Role.OWNER:
        raise PermissionDenied("Only owners can export or delete the organization.")


def owner_only(view):  # noqa: ANN001, ANN201
    """Between ``org_view`` and ``require_POST``: a lower role gets 403 whatever the method."""

    @functools.wraps(view)
    def wrapper(request: HttpRequest, *args, **kwargs) -> HttpResponse:  # noqa: ANN002, ANN003
        _require_owner(request)
        return view(request, *args, **kwargs)

    return wrapper


@org_view()
def org_requests(request: HttpRequest, slug: str) -> HttpResponse:
    _require_owner(request)
    org = request.org_ctx.organization
    members = Membership.objects.for_org(request.org_ctx).values("user_id")
    requests = list(
        DataSubjectRequest.objects.filter(
            Q(organization=org) | Q(subject_type=DataSubjectRequest.SubjectType.USER, user_id__in=members)
        )
        .defer("archive")
        .order_by("-requested_at")[:100]
    )
    pending = next(
        (
            r
            for r in requests
            if r.organization_id == org.pk
            and r.kind == DataSubjectRequest.Kind.ERASURE
            and r.state == State.PENDING
        ),
        None,
    )
    return render_org(
        request,
        "privacy/subjects/org_requests.html",
        {"requests": _with_links(requests, request.user), "pending_deletion": pending},
    )


@org_view()
@owner_only
@require_POST
def org_export(request: HttpRequest, slug: str) -> HttpResponse:
    services.request_org_export(request.org_ctx.organization, request.user, request=request)
    messages.success(
        request, "The export is being prepared. Its download link appears below when it is ready."
    )
    return redirect("privacy:org_requests", slug=slug)


@org_view()
@owner_only
@require_POST
def org_delete(request: HttpRequest, slug: str) -> HttpResponse:
    org = request.org_ctx.organization
    if request.POST.get("confirm_slug", "").strip() != org.slug:
        messages.error(request, "Type the organization's slug to confirm its deletion.")
        return redirect("privacy:org_requests", slug=slug)
    dsr = services.request_org_deletion(org, request.user, request=request)
    messages.warning(
        request,
        f"{org.slug} will be deleted on {dsr.scheduled_for:%Y-%m-%d %H:%M} UTC. You can cancel until then.",
    )
    return redirect("privacy:org_requests", slug=slug)


@org_view()
@owner_only
@require_POST
def org_cancel(request: HttpRequest, slug: str, public_id) -> HttpResponse:
    dsr = DataSubjectRequest.objects.filter(
        public_id=public_id, organization=request.org_ctx.organization
    ).first()
    if dsr is None:
        raise Http404
    if services.cancel(dsr, request.user, request=request):
        messages.success(request, "The deletion is cancelled.")
    return redirect("privacy:org_requests", slug=slug)
