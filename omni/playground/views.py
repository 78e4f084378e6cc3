"""Playground pages: the interactive playground, the history of test runs (filters, detail, re-run,
diff of two runs) and analytics. Thin: parse, call services, render."""

from __future__ import annotations

import json
import uuid

from django.contrib import messages
from django.core.exceptions import PermissionDenied
from django.core.paginator import Paginator
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect
from django.urls import reverse
from django.utils import timezone
from django.views.decorators.http import require_GET, require_POST
from rest_framework import serializers

from omni.playground import services
from omni.playground.analytics import WINDOWS, calls_over_time, target_stats
from omni.playground.charts import calls_chart, latency_chart
from omni.playground.forms import AnalyticsForm, DiffForm, HistoryFilterForm
from omni.playground.operations import MAX_BATCH, OPERATION_NAMES
from omni.security.buckets import McpRateLimited, McpRefusal
from omni.tenants.permissions import REGISTRY_READ, TOOLS_CALL, can
from omni.tenants.ui import is_htmx, org_view, render_org

PAGE_SIZE = 25


def too_many_operations(request: HttpRequest, refusal: McpRefusal) -> HttpResponse:
    """429 page (with ``Retry-After``) for an operation refused by the MCP rate limits."""
    messages.error(request, refusal.message)
    response = render_org(
        request, "security/ratelimited.html", {"retry_after": refusal.retry_after}, status=429
    )
    response["Retry-After"] = str(refusal.retry_after)
    return response


@require_GET
@org_view(REGISTRY_READ)
def playground(request: HttpRequest, slug: str) -> HttpResponse:
    """The interactive playground; ``?run=<uuid>`` opens a stored run's request in it."""
    ctx = request.org_ctx
    prefill = None
    run_id = request.GET.get("run")
    if run_id:
        try:
            run = services.get_run(ctx, uuid.UUID(run_id))
        except (ValueError, Http404):  # a bad or foreign id simply opens an empty playground
            run = None
        if run is not None:
            prefill = {"operation": run.operation, "request": run.request}
    context = {
        "can_call": can(ctx, TOOLS_CALL),
        "ws_path": f"/ws/playground/{ctx.org_slug}/",
        "operations": OPERATION_NAMES,
        "prefill": prefill,
        "max_batch": MAX_BATCH,
    }
    return render_org(request, "playground/playground.html", context)


@require_GET
@org_view(REGISTRY_READ)
def history(request: HttpRequest, slug: str) -> HttpResponse:
    ctx = request.org_ctx
    form = HistoryFilterForm(request.GET or None)
    runs = services.runs_for(ctx).none()
    if form.is_bound and form.is_valid():
        runs = services.filter_runs(ctx, form.filters())
    elif not form.is_bound:
        runs = services.filter_runs(ctx, services.RunFilters())
    page = Paginator(runs, PAGE_SIZE).get_page(request.GET.get("page"))
    query = request.GET.copy()
    query.pop("page", None)
    context = {
        "form": form,
        "page": page,
        "query": query.urlencode(),
        "usernames": services.usernames(ctx),
        "can_call": can(ctx, TOOLS_CALL),
    }
    status = 400 if form.is_bound and not form.is_valid() else 200
    return render_org(
        request,
        "playground/history.html",
        context,
        fragment="playground/partials/history_table.html",
        status=status,
    )


@require_GET
@org_view(REGISTRY_READ)
def run_detail(request: HttpRequest, slug: str, run_id: str) -> HttpResponse:
    run = services.get_run(request.org_ctx, run_id)
    context = {
        "run": run,
        "can_rerun": _may_rerun(request, run),
        "request_json": json.dumps(run.request, indent=2, ensure_ascii=False),
        "response_json": json.dumps(run.response, indent=2, ensure_ascii=False)
        if run.response is not None
        else "",
    }
    return render_org(request, "playground/run_detail.html", context)


def _may_rerun(request: HttpRequest, run) -> bool:
    try:
        operation, params, _ = services.replay_input(run)
        services.check_allowed(request.org_ctx, operation, params)
    except (serializers.ValidationError, PermissionDenied):
        return False
    return True


@require_POST
@org_view(REGISTRY_READ)
def run_rerun(request: HttpRequest, slug: str, run_id: str) -> HttpResponse:
    """Run a stored request again; show the old and the new run side by side."""
    ctx = request.org_ctx
    run = services.get_run(ctx, run_id)
    try:
        new_run = services.rerun(ctx, run, user=request.user)  # PermissionDenied: 403
    except McpRateLimited as exc:
        return too_many_operations(request, exc.refusal)
    except serializers.ValidationError:
        messages.error(
            request, "This run's stored request cannot be replayed (it was truncated or is invalid)."
        )
        return _go(request, reverse("playground:run", kwargs={"slug": ctx.org_slug, "run_id": run.public_id}))
    messages.success(request, f"Re-ran {run.operation} {run.target}: {new_run.outcome}.")
    url = reverse("playground:diff", kwargs={"slug": ctx.org_slug})
    return _go(request, f"{url}?a={run.public_id}&b={new_run.public_id}")


def _go(request: HttpRequest, url: str) -> HttpResponse:
    """Redirect; for htmx (the history's re-run buttons) let htmx navigate instead."""
    if is_htmx(request):
        return HttpResponse(status=204, headers={"HX-Redirect": url})
    return redirect(url)


@require_GET
@org_view(REGISTRY_READ)
def run_diff(request: HttpRequest, slug: str) -> HttpResponse:
    ctx = request.org_ctx
    if not request.GET:  # nothing chosen yet: say how, no error
        return render_org(request, "playground/diff.html", {"form": None})
    form = DiffForm.from_query(request.GET)
    if not form.is_valid():
        return render_org(request, "playground/diff.html", {"form": form}, status=400)
    left = services.get_run(ctx, form.cleaned_data["a"])
    right = services.get_run(ctx, form.cleaned_data["b"])
    rows = services.diff_runs(left, right)
    context = {
        "form": form,
        "left": left,
        "right": right,
        "rows": rows,
        "changes": sum(row.kind != "equal" for row in rows),
    }
    return render_org(request, "playground/diff.html", context)


@require_GET
@org_view(REGISTRY_READ)
def analytics(request: HttpRequest, slug: str) -> HttpResponse:
    ctx = request.org_ctx
    form = AnalyticsForm(request.GET)
    form.is_valid()
    window = form.cleaned_data.get("window") or "24h"
    operation = form.cleaned_data.get("operation") or ""
    now = timezone.now()
    since = now - WINDOWS[window]
    stats = target_stats(ctx, since, now)
    if operation:
        stats = [s for s in stats if s.operation == operation]
    hourly = window == "24h"
    buckets = calls_over_time(ctx, since, now, hourly=hourly, operation=operation)
    context = {
        "form": form,
        "window": window,
        "windows": list(WINDOWS),
        "stats": stats,
        "totals": {
            "calls": sum(s.calls for s in stats),
            "ok": sum(s.ok for s in stats),
        },
        "calls_chart": calls_chart(buckets, hourly=hourly),
        "latency_chart": latency_chart(stats),
    }
    return render_org(request, "playground/analytics.html", context)
