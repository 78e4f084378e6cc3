"""The usage dashboards: ``/o/<slug>/usage/`` (``usage:read``: owners and admins) and
``/ops/usage/`` (every organization, superusers; others get 404), each with ``?fmt=csv``."""

from __future__ import annotations

import csv
import re
from collections.abc import Iterator
from datetime import timedelta
from typing import Any

from django.http import HttpRequest, HttpResponse, StreamingHttpResponse
from django.views.decorators.http import require_GET

from omni.audit.views import superuser_view
from omni.gateway.quotas import QUOTA_NAMES, quota_for
from omni.monitoring.usage.forms import RANGES, RangeForm
from omni.monitoring.usage.query import Usage, peak_per_minute, usage
from omni.playground.analytics import Bucket
from omni.playground.charts import calls_chart, latency_chart
from omni.security.ratelimit import limit_for
from omni.tenants.models import ApiKey, Organization
from omni.tenants.permissions import USAGE_READ
from omni.tenants.ui import org_view, render_org

CSV_COLUMNS = (
    "organization",
    "api_key",
    "api_key_id",
    "server",
    "method",
    "target",
    "outcome",
    "error_type",
    "calls",
    "errors",
    "refused",
    "mean_ms",
    "p50_ms",
    "p95_ms",
    "p99_ms",
)
_NUMBER = re.compile(r"-?\d+")


def _cell(value: Any) -> Any:
    """No spreadsheet formulas from client-chosen names (a cell starting =, +, -, @ is quoted)."""
    if value is None:
        return ""
    if isinstance(value, float):
        return f"{value:.3f}"
    if (
        isinstance(value, str)
        and value[:1] in ("=", "+", "-", "@", "\t", "\r")
        and not _NUMBER.fullmatch(value)
    ):
        return "'" + value
    return value


class _Echo:
    def write(self, value: str) -> str:
        return value


def _key_names(data: Usage) -> dict[str, str]:
    ids = {dims["api_key_id"] for dims, _ in data.detail if dims["api_key_id"]}
    valid = [i for i in ids if re.fullmatch(r"[0-9a-f-]{36}", i)]
    names = {
        str(pk): f"{name} ({prefix}…)"
        for pk, name, prefix in ApiKey.objects.filter(pk__in=valid).values_list("pk", "name", "prefix")
    }
    return {i: names.get(i, "deleted key") for i in ids} | {"": "(session / other credential)"}


def _org_names(data: Usage) -> dict[int, str]:
    ids = {dims["organization_id"] for dims, _ in data.detail}
    return dict(Organization.objects.filter(pk__in=ids).values_list("pk", "slug"))


def _csv(data: Usage, name: str) -> StreamingHttpResponse:
    keys, orgs = _key_names(data), _org_names(data)

    def rows() -> Iterator[str]:
        writer = csv.writer(_Echo())
        yield writer.writerow(CSV_COLUMNS)
        for dims, stats in data.detail:
            yield writer.writerow(
                _cell(v)
                for v in (
                    orgs.get(dims["organization_id"], dims["organization_id"]),
                    keys.get(dims["api_key_id"], ""),
                    dims["api_key_id"],
                    dims["server"],
                    dims["method"],
                    dims["target"],
                    dims["outcome"],
                    dims["error_type"],
                    stats.calls,
                    stats.errors,
                    stats.refused,
                    None if stats.mean is None else stats.mean * 1000,
                    None if stats.p50 is None else stats.p50 * 1000,
                    None if stats.p95 is None else stats.p95 * 1000,
                    None if stats.p99 is None else stats.p99 * 1000,
                )
            )

    stamp = f"{data.since:%Y%m%dT%H%M}-{data.until:%Y%m%dT%H%M}"
    response = StreamingHttpResponse(rows(), content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = f'attachment; filename="usage-{name}-{stamp}.csv"'
    return response


def _context(request: HttpRequest, org_id: int | None) -> tuple[dict[str, Any], Usage | None, int]:
    form = RangeForm(request.GET or None)
    if form.is_bound and not form.is_valid():
        return {"form": form, "ranges": list(RANGES)}, None, 400
    choice, since, until = form.window()
    data = usage(org_id, since, until)
    hourly = data.step < timedelta(days=1)
    chart = calls_chart([Bucket(p.start, p.ok, p.failed + p.refused) for p in data.series], hourly=hourly)
    chart.title = "Requests over time"
    chart.legend = [("bar-ok", "ok"), ("bar-failed", "error or refused")]
    tools = latency_chart(data.by_target)
    tools.title = "Latency per tool, prompt or resource (ms)"
    servers = latency_chart(data.by_server)
    servers.title = "Latency per server (ms)"
    keys = _key_names(data)
    context = {
        "form": form,
        "range": choice,
        "ranges": list(RANGES),
        "usage": data,
        "calls_chart": chart,
        "tools_chart": tools,
        "servers_chart": servers,
        "key_rows": [(keys.get(g.key[0], g.key[0]), g) for g in data.by_key[:20]],
        "query": request.GET.urlencode(),
    }
    return context, data, 200


@require_GET
@org_view(USAGE_READ)
def org_usage(request: HttpRequest, slug: str) -> HttpResponse:
    ctx = request.org_ctx
    context, data, status = _context(request, ctx.org_id)
    if data is not None and request.GET.get("fmt") == "csv":
        return _csv(data, ctx.org_slug)
    if data is not None:
        peaks = peak_per_minute(ctx.org_id, data.since, data.until)
        per_key = limit_for(ctx.organization, "mcp_per_key_per_minute")
        context["limits"] = {
            "rate": [
                ("mcp_per_key_per_minute", per_key, max(peaks.values(), default=None)),
                ("mcp_per_org_per_minute", limit_for(ctx.organization, "mcp_per_org_per_minute"), None),
            ],
            "quotas": [(name, quota_for(ctx.organization, name)) for name in QUOTA_NAMES],
        }
    return render_org(request, "monitoring/usage/dashboard.html", context, status=status)


@require_GET
@superuser_view
def ops_usage(request: HttpRequest) -> HttpResponse:
    context, data, status = _context(request, None)
    if data is not None and request.GET.get("fmt") == "csv":
        return _csv(data, "all")
    if data is not None:
        orgs = _org_names(data)
        context["org_rows"] = [(orgs.get(g.key[0], "deleted organization"), g) for g in data.by_org[:50]]
    context["is_global"] = True
    return render_org(request, "monitoring/usage/dashboard.html", context, status=status)
