"""Pages across runs under ``/o/<slug>/loadtests/``: compare two runs side by side, the trend of a
profile and target (p95 and throughput over its runs, with verdicts), and the baselines."""

from __future__ import annotations

import uuid
from typing import Any

from django.contrib import messages
from django.http import Http404, HttpRequest, HttpResponse
from django.views.decorators.http import require_http_methods

from omni.loadtest import charts, display, parts
from omni.loadtest.models import LoadBaseline, LoadRun
from omni.tenants.permissions import LOADTEST_READ, LOADTEST_RUN, can
from omni.tenants.ui import org_view, redirect_org, render_org

TREND_RUNS = 50
PICKABLE_RUNS = 100


def _run_or_none(ctx: Any, value: str) -> LoadRun | None:
    try:
        wanted = uuid.UUID(value)
    except (ValueError, TypeError, AttributeError):
        return None
    return LoadRun.objects.for_org(ctx).filter(uuid=wanted).first()


def _side(run: LoadRun) -> dict[str, Any]:
    report = run.report or {}
    return {
        "run": run,
        "summary": display.summary(report),
        "operations": {row["name"]: row for row in display.operation_rows(report)},
    }


@require_http_methods(["GET"])
@org_view(LOADTEST_READ)
def compare(request: HttpRequest, slug: str) -> HttpResponse:
    """``?a=<uuid>&b=<uuid>``: two finished runs side by side (a = the reference)."""
    ctx = request.org_ctx
    choices = list(
        LoadRun.objects.for_org(ctx)
        .filter(status=LoadRun.Status.COMPLETED)
        .order_by("-created_at")
        .values("uuid", "profile_name", "target", "created_at")[:PICKABLE_RUNS]
    )
    a_value, b_value = request.GET.get("a", ""), request.GET.get("b", "")
    context: dict[str, Any] = {"choices": choices, "a_value": a_value, "b_value": b_value}
    if a_value or b_value:
        a, b = _run_or_none(ctx, a_value), _run_or_none(ctx, b_value)
        if a is None or b is None:
            context["error"] = "Choose two runs of this organization."
            return render_org(request, "loadtest/compare.html", context, status=400)
        left, right = _side(a), _side(b)
        labels = sorted(set(left["operations"]) | set(right["operations"]))
        rows = []
        for label in labels:
            la, rb = left["operations"].get(label), right["operations"].get(label)
            rows.append(
                {
                    "label": label,
                    "a": la,
                    "b": rb,
                    "p95_pct": _pct(la, rb, display.PERCENTILES.index("p95")),
                    "tp_pct": _tp(la, rb),
                }
            )
        analysis = None
        if parts.compare is not None and a.report and b.report:
            try:
                analysis = display.comparison_view(
                    parts.compare(b.report, a.report, (b.spec or {}).get("thresholds"))
                )
            except Exception as exc:  # reports the analysis cannot compare: show the side by side only
                context["analysis_error"] = str(exc)
        context.update(
            {
                "a": left,
                "b": right,
                "rows": rows,
                "percentiles": display.percentile_headers(),
                "analysis": analysis,
                "p95_pct": _change(left["summary"]["p95"], right["summary"]["p95"]),
                "tp_pct": _change(left["summary"]["throughput"], right["summary"]["throughput"]),
            }
        )
    return render_org(request, "loadtest/compare.html", context)


def _change(base: Any, value: Any) -> float | None:
    if not isinstance(base, int | float) or not isinstance(value, int | float) or not base:
        return None
    return round(100.0 * (value - base) / base, 1)


def _pct(a: dict | None, b: dict | None, index: int) -> float | None:
    if not a or not b:
        return None
    return _change(a["latency"][index], b["latency"][index])


def _tp(a: dict | None, b: dict | None) -> float | None:
    return _change(a["throughput"], b["throughput"]) if a and b else None


@require_http_methods(["GET"])
@org_view(LOADTEST_READ)
def trend(request: HttpRequest, slug: str) -> HttpResponse:
    """``?profile=&target=``: the history of one profile against one target; without: the choices."""
    ctx = request.org_ctx
    pairs = list(
        LoadRun.objects.for_org(ctx)
        .values_list("profile_name", "target")
        .distinct()
        .order_by("profile_name", "target")
    )
    profile, target = request.GET.get("profile", ""), request.GET.get("target", "gateway")
    context: dict[str, Any] = {"pairs": pairs, "profile": profile, "target": target}
    if profile:
        runs = list(
            LoadRun.objects.for_org(ctx)
            .filter(profile_name=profile, target=target, status=LoadRun.Status.COMPLETED)
            .order_by("-created_at")[:TREND_RUNS]
        )[::-1]
        rows = [
            {
                "run": r,
                "summary": display.summary(r.report or {}),
                "verdict_css": display.verdict_css(r.verdict),
            }
            for r in runs
        ]
        labels = [r.created_at.strftime("%m-%d %H:%M") for r in runs]
        context.update(
            {
                "rows": rows[::-1],
                "p95_chart": charts.series_chart(
                    "p95 latency (ms)", labels, [("line-p95", "p95", [row["summary"]["p95"] for row in rows])]
                ),
                "throughput_chart": charts.series_chart(
                    "Throughput (requests/s)",
                    labels,
                    [("line-throughput", "requests/s", [row["summary"]["throughput"] for row in rows])],
                ),
                "baselines": list(
                    LoadBaseline.objects.for_org(ctx).filter(profile_name=profile, target=target)
                ),
            }
        )
    return render_org(request, "loadtest/trend.html", context)


@require_http_methods(["GET"])
@org_view(LOADTEST_READ)
def baselines(request: HttpRequest, slug: str) -> HttpResponse:
    ctx = request.org_ctx
    rows = list(LoadBaseline.objects.for_org(ctx).select_related("run", "created_by").order_by("name"))
    return render_org(
        request,
        "loadtest/baselines.html",
        {
            "rows": [{"baseline": b, "summary": display.summary(b.run.report or {})} for b in rows],
            "can_run": can(ctx, LOADTEST_RUN),
        },
    )


@require_http_methods(["POST"])
@org_view(LOADTEST_RUN)
def baseline_delete(request: HttpRequest, slug: str, baseline: str) -> HttpResponse:
    found = LoadBaseline.objects.for_org(request.org_ctx).filter(name=baseline).first()
    if found is None:
        raise Http404("No such baseline.")
    found.delete()
    messages.success(request, f"Baseline “{baseline}” deleted (its run is kept).")
    return redirect_org(request, f"/o/{slug}/loadtests/baselines/")
