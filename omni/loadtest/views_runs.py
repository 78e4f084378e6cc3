"""Run pages under ``/o/<slug>/loadtests/``: the list of runs, starting one (POST-redirect-GET to
its page), the run page (live over the websocket of ``consumers.py`` while it runs, the report
once finished), cancel, exports (JSON, CSV) and "save as baseline". Thin: parse, call the
services, execution and analysis parts (through ``omni.loadtest.parts``), render."""

from __future__ import annotations

import logging
from typing import Any

from django.contrib import messages
from django.db import transaction
from django.http import Http404, HttpRequest, HttpResponse
from django.urls import reverse
from django.views.decorators.http import require_http_methods

from omni.loadtest import charts, display, parts
from omni.loadtest.followups import apply_followups, pending, request_followups
from omni.loadtest.forms import BaselineForm, StartForm
from omni.loadtest.models import LoadBaseline, LoadRun, LoadShard
from omni.loadtest.views_profiles import profile_names
from omni.tenants.permissions import LOADTEST_READ, LOADTEST_RUN, can
from omni.tenants.ui import org_view, redirect_org, render_org

logger = logging.getLogger(__name__)
RUNS_PER_PAGE = 50


def get_run(request: HttpRequest, run: Any) -> LoadRun:
    """The organization's run with that uuid (another organization's, or none: 404)."""
    found = LoadRun.objects.for_org(request.org_ctx).filter(uuid=run).first()
    if found is None:
        raise Http404("No such run.")
    return found


@require_http_methods(["GET"])
@org_view(LOADTEST_READ)
def run_list(request: HttpRequest, slug: str) -> HttpResponse:
    ctx = request.org_ctx
    runs = list(LoadRun.objects.for_org(ctx).order_by("-created_at")[:RUNS_PER_PAGE])
    rows = [{"run": r, "summary": display.summary(r.report or {})} for r in runs]
    return render_org(
        request,
        "loadtest/runs.html",
        {"rows": rows, "can_run": can(ctx, LOADTEST_RUN), "status_css": display.status_css},
    )


def _start_form(request: HttpRequest, data: Any = None) -> StartForm:
    initial = {"profile": request.GET.get("profile", ""), "target": request.GET.get("target", "")}
    return StartForm(
        data,
        initial=initial,
        ctx=request.org_ctx,
        profiles=profile_names(request.org_ctx),
        superuser=request.user.is_superuser,
    )


def _create(request: HttpRequest, data: dict[str, Any]) -> LoadRun:
    """``services.create_run`` with the form's choices, then the baseline options (followups)."""
    run = parts.create_run(
        request.org_ctx.organization,
        data["profile"],
        target=data["target"] or None,  # "": the profile's own target
        user=request.user,
        trigger="ui",
        raise_limits=bool(data.get("raise_limits")) and request.user.is_superuser,
    )
    request_followups(
        run, compare_with=data.get("compare_baseline") or "", save_as=data.get("save_baseline") or ""
    )
    return run


def _start(request: HttpRequest, run: LoadRun) -> None:
    """Dispatch the run's shards; a run that cannot start is marked failed with the reason."""
    try:
        parts.start_run(run)
    except Exception as exc:
        logger.exception("starting load run %s failed", run.uuid)
        LoadRun.objects.filter(pk=run.pk, status=LoadRun.Status.QUEUED).update(
            status=LoadRun.Status.FAILED, error=f"could not start: {exc}"
        )
        messages.error(request, f"The run could not start: {exc}")
    else:
        messages.success(request, f"Run of “{run.profile_name}” started.")


@require_http_methods(["GET", "POST"])
@org_view(LOADTEST_RUN)
def run_start(request: HttpRequest, slug: str) -> HttpResponse:
    if request.method == "GET":
        return render_org(request, "loadtest/start.html", {"form": _start_form(request)})
    form = _start_form(request, request.POST)
    if form.is_valid():
        try:
            run = _create(request, form.cleaned_data)
        except parts.ProfileError as exc:
            form.add_error("profile", parts.profile_errors(exc))
        except parts.RunRefused as exc:
            form.add_error(None, parts.refusal_lines(exc))
        except parts.PartMissing as exc:
            form.add_error(None, str(exc))
        except Exception as exc:  # another part failing its own way: a form error, not a 500
            logger.exception("creating a load run failed")
            form.add_error(None, f"The run could not be created: {exc}")
        else:
            _start(request, run)
            return redirect_org(request, reverse("loadtest:run", args=[slug, run.uuid]))
    return render_org(request, "loadtest/start.html", {"form": form}, status=400)


def report_context(run: LoadRun) -> dict[str, Any]:
    """Everything the report part of the run page shows (also used by the compare page)."""
    report = run.report or {}
    timeline = report.get("timeline") or []
    direct = report.get("direct") or {}
    return {
        "summary": display.summary(report),
        "operations": display.operation_rows(report),
        "orgs": display.org_rows(report),
        "errors_by_kind": display.error_rows(report),
        "percentiles": display.percentile_headers(),
        "thresholds": display.threshold_rows(report),
        "comparison": display.comparison_view(run.comparison or {}),
        "fairness": display.describe(report.get("fairness")) if report.get("fairness") else None,
        "overhead": display.describe(report.get("overhead")) if report.get("overhead") else None,
        "knee": display.describe(report.get("knee")) if report.get("knee") else None,
        "direct": display.summary(direct) if direct else None,
        "throughput_chart": charts.throughput_chart(timeline),
        "latency_chart": charts.latency_timeline_chart(timeline),
        "shards": report.get("shards") or [],
    }


@require_http_methods(["GET"])
@org_view(LOADTEST_READ)
def run_detail(request: HttpRequest, slug: str, run: Any) -> HttpResponse:
    ctx = request.org_ctx
    found = get_run(request, run)
    notes = apply_followups(found, request.user) if can(ctx, LOADTEST_READ) else []
    for note in notes:
        messages.info(request, note)
    context: dict[str, Any] = {
        "run": found,
        "can_run": can(ctx, LOADTEST_RUN),
        "status_css": display.status_css(found.status),
        "verdict_css": display.verdict_css(found.verdict),
        "shard_rows": list(
            LoadShard.objects.for_org(ctx)
            .filter(run=found)
            .order_by("phase", "index")
            .values("phase", "index", "status", "worker", "error")
        ),
        "pending": pending(found),
        "baselines": list(LoadBaseline.objects.for_org(ctx).filter(run=found).values_list("name", flat=True)),
        "baseline_form": BaselineForm(),
        "ws_path": f"/ws/loadtests/{slug}/runs/{found.uuid}/",
    }
    if found.finished:
        context.update(report_context(found))
    return render_org(request, "loadtest/run.html", context)


@require_http_methods(["POST"])
@org_view(LOADTEST_RUN)
def run_cancel(request: HttpRequest, slug: str, run: Any) -> HttpResponse:
    found = get_run(request, run)
    if found.finished:
        messages.info(request, f"The run is already {found.status}.")
    else:
        try:
            parts.cancel_run(found)
            messages.success(request, "Cancelling: the shards stop within a second.")
        except parts.PartMissing as exc:
            messages.error(request, str(exc))
    return redirect_org(request, reverse("loadtest:run", args=[slug, found.uuid]))


@require_http_methods(["GET"])
@org_view(LOADTEST_READ)
def run_export(request: HttpRequest, slug: str, run: Any, fmt: str) -> HttpResponse:
    if fmt not in ("json", "csv"):
        raise Http404("Export as json or csv.")
    found = get_run(request, run)
    if not found.finished:
        return HttpResponse("The run has not finished yet.", status=409, content_type="text/plain")
    try:
        body = parts.report_json(found) if fmt == "json" else parts.report_csv(found)
    except parts.PartMissing as exc:
        return HttpResponse(str(exc), status=501, content_type="text/plain")
    content_type = "application/json" if fmt == "json" else "text/csv; charset=utf-8"
    response = HttpResponse(body, content_type=content_type)
    filename = f"loadrun-{found.profile_name}-{found.uuid.hex[:8]}.{fmt}"
    response["Content-Disposition"] = f'attachment; filename="{filename}"'
    return response


@require_http_methods(["POST"])
@org_view(LOADTEST_RUN)
def run_save_baseline(request: HttpRequest, slug: str, run: Any) -> HttpResponse:
    found = get_run(request, run)
    form = BaselineForm(request.POST)
    target = reverse("loadtest:run", args=[slug, found.uuid])
    if not form.is_valid():
        messages.error(request, "Name the baseline with letters, digits and - _ . : only.")
        return redirect_org(request, target)
    if found.status != LoadRun.Status.COMPLETED:
        messages.error(request, "Only a completed run can be a baseline.")
        return redirect_org(request, target)
    name = form.cleaned_data["name"] or f"{found.profile_name}:{found.target}"
    try:
        with transaction.atomic():
            parts.save_baseline(found, name, user=request.user)
    except parts.PartMissing as exc:
        messages.error(request, str(exc))
    except Exception as exc:  # e.g. a clash the analysis part refuses: say so
        logger.warning("saving baseline %s failed: %s", name, exc)
        messages.error(request, f"Could not save the baseline “{name}”: {exc}")
    else:
        messages.success(request, f"Saved as the baseline “{name}” of {found.profile_name} → {found.target}.")
    return redirect_org(request, target)
