"""The audit log viewer: ``/o/<slug>/audit/`` for owners and admins, ``/audit/`` (global events)
for superusers. Filters, pagination, an event's before/after, CSV/JSON export of the filtered set.

Members and viewers get 403 (``audit:read``), outsiders 404 (``org_view``); non-superusers get 404
on the global log.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any

from django import forms
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.paginator import Paginator
from django.db.models import QuerySet
from django.http import Http404, HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import get_object_or_404
from django.views.decorators.http import require_GET, require_POST

from omni.audit.display import diff_rows, other_data
from omni.audit.export import export_response
from omni.audit.filters import AuditFilterForm, form_errors
from omni.audit.models import AuditEvent
from omni.audit.services import ARGUMENTS_SETTING, set_tool_argument_recording
from omni.tenants.permissions import AUDIT_READ, ORG_MANAGE, can
from omni.tenants.ui import is_htmx, org_view, redirect_org, render_org

PAGE_SIZE = 50
EXPORT_FORMATS = ("csv", "json")


class ToolArgumentsForm(forms.Form):
    enabled = forms.BooleanField(required=False, label="Record tool-call arguments")


def superuser_view(view: Callable[..., HttpResponse]) -> Callable[..., HttpResponse]:
    """Login required; anyone but a superuser gets 404 (the global log is not theirs to know of)."""

    @functools.wraps(view)
    def wrapper(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        if not request.user.is_superuser:
            raise Http404("No such page.")
        return view(request, *args, **kwargs)

    return login_required(wrapper)


# --------------------------------------------------------------------------- shared bodies
def _listing(request: HttpRequest, events: QuerySet, base: str, extra: dict[str, Any]) -> HttpResponse:
    form = AuditFilterForm(request.GET or None)
    page, status = None, 200
    if form.is_bound and not form.is_valid():
        # The form shows what is wrong and nothing is listed; htmx swaps only 2xx answers in.
        status = 200 if is_htmx(request) else 400
    else:
        filtered = form.apply(events) if form.is_bound else events
        page = Paginator(filtered.order_by("-seq"), PAGE_SIZE).get_page(request.GET.get("page"))
    query = "&".join(f"{name}={value}" for name, value in _encoded(form.active()).items())
    context = {"form": form, "page": page, "base": base, "query": query, **extra}
    return render_org(
        request, "audit/list.html", context, fragment="audit/partials/results.html", status=status
    )


def _encoded(params: dict[str, str]) -> dict[str, str]:
    from urllib.parse import quote

    return {name: quote(value, safe="") for name, value in params.items()}


def _detail(request: HttpRequest, event: AuditEvent, base: str) -> HttpResponse:
    context = {"event": event, "diff": diff_rows(event), "details": other_data(event), "base": base}
    return render_org(request, "audit/detail.html", context)


def _export(request: HttpRequest, events: QuerySet, fmt: str, name: str) -> HttpResponse:
    if fmt not in EXPORT_FORMATS:
        raise Http404("Unknown export format.")
    form = AuditFilterForm(request.GET or None)
    if form.is_bound and not form.is_valid():
        return JsonResponse({"error": "invalid filters", "fields": form_errors(form)}, status=400)
    filtered = form.apply(events) if form.is_bound else events
    return export_response(filtered.order_by("seq"), fmt, name)


# --------------------------------------------------------------------------- an organization's log
@require_GET
@org_view(AUDIT_READ)
def org_log(request: HttpRequest, slug: str) -> HttpResponse:
    ctx = request.org_ctx
    extra = {
        "settings_form": ToolArgumentsForm(
            initial={"enabled": (ctx.organization.settings or {}).get(ARGUMENTS_SETTING) is True}
        ),
        "can_manage": can(ctx, ORG_MANAGE),
    }
    return _listing(request, AuditEvent.objects.for_org(ctx), f"/o/{slug}/audit/", extra)


@require_GET
@org_view(AUDIT_READ)
def org_event(request: HttpRequest, slug: str, event_id: str) -> HttpResponse:
    event = get_object_or_404(AuditEvent.objects.for_org(request.org_ctx), public_id=event_id)
    return _detail(request, event, f"/o/{slug}/audit/")


@require_GET
@org_view(AUDIT_READ)
def org_export(request: HttpRequest, slug: str, fmt: str) -> HttpResponse:
    return _export(request, AuditEvent.objects.for_org(request.org_ctx), fmt, slug)


@require_POST
@org_view(ORG_MANAGE)
def org_settings(request: HttpRequest, slug: str) -> HttpResponse:
    form = ToolArgumentsForm(request.POST)
    form.is_valid()  # a checkbox: absent means off, nothing can be invalid
    enabled = bool(form.cleaned_data.get("enabled"))
    if set_tool_argument_recording(request.org_ctx.organization, enabled, request=request):
        messages.success(request, f"Tool-call arguments are {'now' if enabled else 'no longer'} recorded.")
    return redirect_org(request, f"/o/{slug}/audit/")


# --------------------------------------------------------------------------- the global log
@require_GET
@superuser_view
def global_log(request: HttpRequest) -> HttpResponse:
    return _listing(request, AuditEvent.objects.global_only(), "/audit/", {"is_global": True})


@require_GET
@superuser_view
def global_event(request: HttpRequest, event_id: str) -> HttpResponse:
    event = get_object_or_404(AuditEvent.objects.global_only(), public_id=event_id)
    return _detail(request, event, "/audit/")


@require_GET
@superuser_view
def global_export(request: HttpRequest, fmt: str) -> HttpResponse:
    return _export(request, AuditEvent.objects.global_only(), fmt, "global")
