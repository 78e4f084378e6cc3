"""``{% load server_status %}{% status_badge server %}``: the status badge of a server connection
(up / degraded / down / unknown, with the last check), for the registry and dashboard templates
(the registry app does not import monitoring; its templates load this library)."""

from __future__ import annotations

from typing import Any

from django import template

from omni.monitoring.models.status import ServerStatus

register = template.Library()

CSS = {"up": "badge-ok", "degraded": "badge-warn", "down": "badge-danger", "unknown": ""}


def _statuses(context: template.Context) -> dict[int, ServerStatus]:
    """Every status the organization sees, loaded once per render (no query per row)."""
    cache = context.render_context.get("omni_server_statuses")
    if cache is None:
        request = context.get("request")
        ctx = getattr(request, "org_ctx", None)
        cache = {row.connection_id: row for row in ServerStatus.objects.for_org(ctx)} if ctx else {}
        context.render_context["omni_server_statuses"] = cache
    return cache


@register.inclusion_tag("monitoring/status/badge.html", takes_context=True)
def status_badge(context: template.Context, server: Any, detail: bool = True) -> dict[str, Any]:
    status = _statuses(context).get(getattr(server, "pk", None))
    state = status.state if status is not None else "unknown"
    if not getattr(server, "enabled", True):
        state = "unknown" if status is None else state
    return {
        "state": state,
        "css": CSS.get(state, ""),
        "status": status,
        "detail": detail,
        "enabled": getattr(server, "enabled", True),
    }


@register.inclusion_tag("monitoring/status/panel.html", takes_context=True)
def status_panel(context: template.Context, server: Any) -> dict[str, Any]:
    """The server page's status card: state, last check, latency, last error, uptime, history."""
    from django.utils import timezone

    from omni.gateway import breaker
    from omni.monitoring.status import charts, services

    request = context.get("request")
    ctx = getattr(request, "org_ctx", None)
    if ctx is None or getattr(server, "pk", None) is None:
        return {"status": None}
    status = services.statuses_for(ctx, [server.pk]).get(server.pk)
    probes = services.history(ctx, server.pk)
    return {
        "server": server,
        "status": status,
        "state": status.state if status else "unknown",
        "css": CSS.get(status.state if status else "unknown", ""),
        "uptime": services.uptime(ctx, server.pk),
        "chart": charts.history_chart(probes, timezone.now()),
        "breaker_open": breaker.is_open(server.pk) or bool(status and status.breaker_open),
    }
