"""Alerting pages: incidents (list, detail with evidence and the delivery timeline, acknowledge,
resolve), rules, notification channels (with "send test notification") and maintenance windows.

The same views serve an organization (``/o/<slug>/alerts/…``: members read, admins and owners
change) and the platform operators' global objects (``/ops/alerts/…``: superusers only; anyone
else gets 404). ``Scope`` is what differs: the organization (or None) and the base URL; every query
goes through ``owned_by``/``global_only`` of that scope.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import Http404, HttpRequest, HttpResponse
from django.views.decorators.http import require_POST

from omni.audit.services import record
from omni.monitoring.alerts import services
from omni.monitoring.alerts.forms import ChannelForm, MaintenanceForm, RuleForm
from omni.monitoring.models.alerts import (
    AlertRule,
    Delivery,
    Incident,
    MaintenanceWindow,
    NotificationChannel,
)
from omni.tenants.permissions import ORG_MANAGE, REGISTRY_READ, can
from omni.tenants.ui import org_view, redirect_org, render_org

PAGE_SIZE = 100


@dataclass(frozen=True)
class Scope:
    org: Any  # Organization | None (the operators' global objects)
    base: str  # "/o/<slug>/alerts/" or "/ops/alerts/"
    can_write: bool

    def of(self, model: Any) -> Any:
        return model.objects.owned_by(self.org) if self.org is not None else model.objects.global_only()


View = Callable[..., HttpResponse]


def _org_door(body: View, capability: str) -> View:
    @org_view(capability)
    @functools.wraps(body)
    def view(request: HttpRequest, slug: str, *args: Any, **kwargs: Any) -> HttpResponse:
        ctx = request.org_ctx
        scope = Scope(ctx.organization, f"/o/{ctx.org_slug}/alerts/", can(ctx, ORG_MANAGE))
        return body(request, scope, *args, **kwargs)

    return view


def _ops_door(body: View) -> View:
    @login_required
    @functools.wraps(body)
    def view(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        if not request.user.is_superuser:
            raise Http404("No such page.")
        return body(request, Scope(None, "/ops/alerts/", True), *args, **kwargs)

    return view


def doors(capability: str, *, post: bool = False) -> Callable[[View], tuple[View, View]]:
    """``(org_view, ops_view)`` of one view body taking ``(request, scope, ...)``."""

    def decorator(body: View) -> tuple[View, View]:
        org, ops = _org_door(body, capability), _ops_door(body)
        if post:
            org, ops = require_POST(org), require_POST(ops)
        return org, ops

    return decorator


def _get(scope: Scope, model: Any, item_id: Any) -> Any:
    item = scope.of(model).filter(uuid=item_id).first()
    if item is None:
        raise Http404("Not found.")
    return item


def _render(
    request: HttpRequest, scope: Scope, template: str, context: dict[str, Any], status: int = 200
) -> HttpResponse:
    return render_org(request, template, {"scope": scope, "base": scope.base, **context}, status=status)


# --------------------------------------------------------------------------- incidents
@doors(REGISTRY_READ)
def incident_list(request: HttpRequest, scope: Scope) -> HttpResponse:
    state = request.GET.get("state", "active")
    incidents = scope.of(Incident)
    if state == "active":
        incidents = incidents.filter(state__in=Incident.ACTIVE)
    elif state in Incident.State.values:
        incidents = incidents.filter(state=state)
    else:
        state = "all"
    context = {
        "incidents": list(incidents.order_by("-opened_at")[:PAGE_SIZE]),
        "state": state,
        "tab": "incidents",
    }
    return _render(request, scope, "monitoring/alerts/incidents.html", context)


@doors(REGISTRY_READ)
def incident_detail(request: HttpRequest, scope: Scope, item_id: str) -> HttpResponse:
    incident = _get(scope, Incident, item_id)
    deliveries = list(incident.deliveries.order_by("created_at", "attempt")[:200])
    timeline = [("opened", incident.opened_at, None)]
    if incident.acknowledged_at:
        timeline.append(("acknowledged", incident.acknowledged_at, incident.acknowledged_by))
    if incident.resolved_at:
        timeline.append(("resolved", incident.resolved_at, incident.resolved_by))
    context = {"incident": incident, "deliveries": deliveries, "timeline": timeline, "tab": "incidents"}
    return _render(request, scope, "monitoring/alerts/incident_detail.html", context)


@doors(ORG_MANAGE, post=True)
def incident_ack(request: HttpRequest, scope: Scope, item_id: str) -> HttpResponse:
    incident = _get(scope, Incident, item_id)
    if services.acknowledge(incident, request.user, request=request):
        messages.success(request, "Acknowledged.")
    else:
        messages.info(request, f"The incident is {incident.state}: nothing to acknowledge.")
    return redirect_org(request, f"{scope.base}incidents/{incident.uuid}/")


@doors(ORG_MANAGE, post=True)
def incident_resolve(request: HttpRequest, scope: Scope, item_id: str) -> HttpResponse:
    incident = _get(scope, Incident, item_id)
    if services.resolve(incident, user=request.user, request=request, resolution="resolved by hand"):
        messages.success(request, "Resolved. If the condition still holds, the rule opens a new incident.")
    return redirect_org(request, f"{scope.base}incidents/{incident.uuid}/")


# --------------------------------------------------------------------------- rules
@doors(REGISTRY_READ)
def rule_list(request: HttpRequest, scope: Scope) -> HttpResponse:
    rules = list(scope.of(AlertRule).prefetch_related("channels").order_by("name"))
    return _render(request, scope, "monitoring/alerts/rules.html", {"rules": rules, "tab": "rules"})


def _rule_form(request: HttpRequest, scope: Scope, rule: AlertRule | None) -> HttpResponse:
    before = services.rule_snapshot(rule) if rule is not None else None
    if request.method == "POST":
        form = RuleForm(request.POST, instance=rule or AlertRule(), org=scope.org)
        if form.is_valid():
            saved = form.save()
            action = "alert.rule_update" if rule is not None else "alert.rule_create"
            services.audit_rule_change(action, saved, user=request.user, request=request, before=before)
            if not saved.enabled:
                services.close_incidents(
                    saved, user=request.user, request=request, why="the rule was disabled"
                )
            messages.success(request, f"Saved rule {saved.name}.")
            return redirect_org(request, f"{scope.base}rules/")
        status = 400
    else:
        form = RuleForm(instance=rule or AlertRule(), org=scope.org)
        status = 200
    return _render(
        request,
        scope,
        "monitoring/alerts/rule_form.html",
        {"form": form, "rule": rule, "tab": "rules"},
        status,
    )


@doors(ORG_MANAGE)
def rule_create(request: HttpRequest, scope: Scope) -> HttpResponse:
    return _rule_form(request, scope, None)


@doors(ORG_MANAGE)
def rule_edit(request: HttpRequest, scope: Scope, item_id: str) -> HttpResponse:
    return _rule_form(request, scope, _get(scope, AlertRule, item_id))


@doors(ORG_MANAGE, post=True)
def rule_delete(request: HttpRequest, scope: Scope, item_id: str) -> HttpResponse:
    rule = _get(scope, AlertRule, item_id)
    before = services.rule_snapshot(rule)
    services.audit_rule_change("alert.rule_delete", rule, user=request.user, request=request, before=before)
    services.close_incidents(rule, user=request.user, request=request, why="the rule was deleted")
    name = rule.name
    rule.delete()
    messages.success(request, f"Deleted rule {name}. Its incidents are kept.")
    return redirect_org(request, f"{scope.base}rules/")


# --------------------------------------------------------------------------- channels
@doors(REGISTRY_READ)
def channel_list(request: HttpRequest, scope: Scope) -> HttpResponse:
    channels = list(scope.of(NotificationChannel).order_by("name"))
    recent = {}
    for delivery in scope.of(Delivery).order_by("-created_at")[:200]:
        recent.setdefault(delivery.channel_id, delivery)
    for channel in channels:
        channel.last_delivery = recent.get(channel.pk)
    return _render(
        request, scope, "monitoring/alerts/channels.html", {"channels": channels, "tab": "channels"}
    )


def _channel_form(request: HttpRequest, scope: Scope, channel: NotificationChannel | None) -> HttpResponse:
    if request.method == "POST":
        form = ChannelForm(request.POST, instance=channel or NotificationChannel(), org=scope.org)
        if form.is_valid():
            saved = form.save()
            action = "alert.channel_update" if channel is not None else "alert.channel_create"
            record(
                action,
                organization=scope.org,
                actor=request.user,
                target=saved,
                request=request,
                data={"kind": saved.kind, "name": saved.name, "secret_set": bool(saved.secret)},
            )
            messages.success(request, f"Saved channel {saved.name}.")
            return redirect_org(request, f"{scope.base}channels/")
        status = 400
    else:
        form = ChannelForm(instance=channel or NotificationChannel(), org=scope.org)
        status = 200
    context = {"form": form, "channel": channel, "tab": "channels"}
    return _render(request, scope, "monitoring/alerts/channel_form.html", context, status)


@doors(ORG_MANAGE)
def channel_create(request: HttpRequest, scope: Scope) -> HttpResponse:
    return _channel_form(request, scope, None)


@doors(ORG_MANAGE)
def channel_edit(request: HttpRequest, scope: Scope, item_id: str) -> HttpResponse:
    return _channel_form(request, scope, _get(scope, NotificationChannel, item_id))


@doors(ORG_MANAGE, post=True)
def channel_delete(request: HttpRequest, scope: Scope, item_id: str) -> HttpResponse:
    channel = _get(scope, NotificationChannel, item_id)
    record(
        "alert.channel_delete", organization=scope.org, actor=request.user, target=channel, request=request
    )
    name = channel.name
    channel.delete()
    messages.success(request, f"Deleted channel {name}.")
    return redirect_org(request, f"{scope.base}channels/")


@doors(ORG_MANAGE, post=True)
def channel_test(request: HttpRequest, scope: Scope, item_id: str) -> HttpResponse:
    channel = _get(scope, NotificationChannel, item_id)
    services.queue_test(channel, user=request.user, request=request)
    messages.success(
        request, f"Test notification queued for {channel.name}: its result appears below in a moment."
    )
    return redirect_org(request, f"{scope.base}channels/")


# --------------------------------------------------------------------------- maintenance
@doors(REGISTRY_READ)
def maintenance_list(request: HttpRequest, scope: Scope) -> HttpResponse:
    windows = list(
        scope.of(MaintenanceWindow).select_related("rule", "connection").order_by("-starts_at")[:PAGE_SIZE]
    )
    return _render(
        request, scope, "monitoring/alerts/maintenance.html", {"windows": windows, "tab": "maintenance"}
    )


@doors(ORG_MANAGE)
def maintenance_create(request: HttpRequest, scope: Scope) -> HttpResponse:
    if request.method == "POST":
        form = MaintenanceForm(request.POST, org=scope.org)
        if form.is_valid():
            window = form.save(commit=False)
            window.created_by = request.user
            window.save()
            record(
                "alert.maintenance_create",
                organization=scope.org,
                actor=request.user,
                request=request,
                target=window,
                data={
                    "rule": window.rule.name if window.rule_id else None,
                    "server": window.connection.name if window.connection_id else None,
                    "starts_at": window.starts_at.isoformat(),
                    "ends_at": window.ends_at.isoformat(),
                },
            )
            messages.success(request, "Maintenance window saved.")
            return redirect_org(request, f"{scope.base}maintenance/")
        status = 400
    else:
        form, status = MaintenanceForm(org=scope.org), 200
    return _render(
        request,
        scope,
        "monitoring/alerts/maintenance_form.html",
        {"form": form, "tab": "maintenance"},
        status,
    )


@doors(ORG_MANAGE, post=True)
def maintenance_delete(request: HttpRequest, scope: Scope, item_id: str) -> HttpResponse:
    window = _get(scope, MaintenanceWindow, item_id)
    record(
        "alert.maintenance_delete", organization=scope.org, actor=request.user, target=window, request=request
    )
    window.delete()
    messages.success(request, "Maintenance window removed.")
    return redirect_org(request, f"{scope.base}maintenance/")
