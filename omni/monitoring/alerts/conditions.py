"""The conditions a rule can watch: a small registry of evaluators by kind.

An evaluator takes a rule, the evaluation time and a per-run cache and returns an ``Observation``:
the value it measured (None: no data), whether the condition holds, and the evidence (what an
incident shows). The metric kinds read the usage counters of the gateway
(``omni.monitoring.usage.query.window_stats``), the server-down kind the status probes
(``omni.monitoring.status.services``), both imported lazily; the pins kind reads held-back tool
definitions (``omni.registry.pins``) and the audit kind walks the audit hash chain.

Add a kind with ``@evaluator("kind")`` and a choice in ``AlertRule.Kind``.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from omni.monitoring.models.alerts import AlertRule

logger = logging.getLogger(__name__)


@dataclass
class Observation:
    value: float | None
    holds: bool
    evidence: dict[str, Any] = field(default_factory=dict)
    title: str = ""


Evaluator = Callable[[AlertRule, datetime, dict[str, Any]], Observation]
EVALUATORS: dict[str, Evaluator] = {}

# Kinds whose threshold is compared with the rule's comparison; the others carry their own meaning.
COMPARED = frozenset({"error_rate", "p95_latency", "calls", "refusals"})


def evaluator(kind: str) -> Callable[[Evaluator], Evaluator]:
    """Register ``fn`` as the evaluator of ``kind``."""

    def register(fn: Evaluator) -> Evaluator:
        EVALUATORS[kind] = fn
        return fn

    return register


def evaluate(rule: AlertRule, now: datetime, cache: dict[str, Any] | None = None) -> Observation:
    """Run the evaluator of ``rule.kind``; an evaluator that fails yields "no data", logged."""
    fn = EVALUATORS.get(rule.kind)
    if fn is None:
        return Observation(None, False, {"error": f"unknown condition kind {rule.kind!r}"})
    try:
        return fn(rule, now, cache if cache is not None else {})
    except Exception as exc:  # noqa: BLE001 - one broken rule must not stop the others
        logger.exception("alert rule %s (%s): evaluation failed", rule.uuid, rule.kind)
        return Observation(None, False, {"error": f"evaluation failed: {type(exc).__name__}"})


def compare(value: float, comparison: str, threshold: float) -> bool:
    return {
        "gt": value > threshold,
        "gte": value >= threshold,
        "lt": value < threshold,
        "lte": value <= threshold,
    }[comparison]


# --------------------------------------------------------------------------- the sources (lazy)
def usage_window_stats(org_id: int | None, since: datetime, until: datetime, **scope: Any) -> Any:
    """``omni.monitoring.usage.query.window_stats`` (musage's); ``None`` while it is not installed."""
    try:
        from omni.monitoring.usage.query import window_stats
    except ImportError:
        return None
    return window_stats(org_id, since, until, **scope)


def status_services() -> Any:
    """``omni.monitoring.status.services`` (mstatus's); ``None`` while it is not installed."""
    try:
        from omni.monitoring.status import services
    except ImportError:
        return None
    return services


def dashboard_link(rule: AlertRule, since: datetime, until: datetime) -> str:
    """Where the evidence can be looked at: the usage dashboard of the window (or the audit log)."""
    frm, to = since.strftime("%Y-%m-%dT%H:%M"), until.strftime("%Y-%m-%dT%H:%M")
    window = f"?range=custom&since={frm}&until={to}"  # the usage dashboard's range form
    if rule.organization_id is None:
        return f"/ops/usage/{window}"
    slug = rule.organization.slug
    if rule.kind == "audit_chain":
        return f"/o/{slug}/audit/"
    if rule.kind in ("server_down", "pins_held"):
        return f"/o/{slug}/servers/"
    if rule.kind == "load_regression":
        return f"/o/{slug}/loadtests/"
    return f"/o/{slug}/usage/{window}"


# --------------------------------------------------------------------------- metric kinds
_METRIC_UNITS = {"error_rate": "%", "p95_latency": "ms", "calls": "calls", "refusals": "refusals"}


def _metric(rule: AlertRule, now: datetime, cache: dict[str, Any]) -> Observation:
    params = rule.params or {}
    since = now - timedelta(minutes=rule.window_minutes)
    scope: dict[str, Any] = {}
    if params.get("server"):
        scope["server"] = params["server"]
    if params.get("tool"):
        scope["target"] = params["tool"]
    if params.get("api_key"):
        scope["api_key_id"] = params["api_key"]
    stats = usage_window_stats(rule.organization_id, since, now, **scope)
    evidence: dict[str, Any] = {
        "window": {"from": since.isoformat(), "to": now.isoformat(), "minutes": rule.window_minutes},
        "scope": {k: params.get(k) for k in ("server", "tool", "api_key") if params.get(k)},
        "link": dashboard_link(rule, since, now),
    }
    if stats is None:
        evidence["error"] = "usage counters are not available"
        return Observation(None, False, evidence)
    evidence.update(calls=stats.calls, errors=stats.errors, refused=stats.refused, p95=stats.p95)
    value: float | None
    if rule.kind == "error_rate":
        value = round(100.0 * stats.errors / stats.calls, 3) if stats.calls else None
    elif rule.kind == "p95_latency":
        value = round(stats.p95 * 1000.0, 3) if stats.p95 is not None else None
    elif rule.kind == "calls":
        value = float(stats.calls)
    else:
        value = float(stats.refused)
    evidence["value"] = value
    evidence["threshold"] = rule.threshold
    evidence["comparison"] = rule.get_comparison_display()
    holds = value is not None and compare(value, rule.comparison, rule.threshold)
    unit = _METRIC_UNITS[rule.kind]
    title = (
        f"{rule.name}: {rule.get_kind_display()} {value:g} {unit} over {rule.window_minutes} min"
        if value is not None
        else rule.name
    )
    return Observation(value, holds, evidence, title)


for _kind in COMPARED:
    EVALUATORS[_kind] = _metric


# --------------------------------------------------------------------------- server down
def _connections(rule: AlertRule) -> list[Any]:
    from omni.registry.models import ServerConnection

    qs = ServerConnection.objects.filter(enabled=True)
    qs = qs.for_org(rule.organization) if rule.organization_id is not None else qs
    server = (rule.params or {}).get("server")
    if server:
        qs = qs.filter(name=server)
    return list(qs.order_by("name")[:200])


@evaluator("server_down")
def _server_down(rule: AlertRule, now: datetime, cache: dict[str, Any]) -> Observation:
    """Fires when a server (or any enabled server of the scope) has been down at least
    ``threshold`` minutes."""
    services = status_services()
    evidence: dict[str, Any] = {"threshold_minutes": rule.threshold, "link": dashboard_link(rule, now, now)}
    if services is None:
        evidence["error"] = "server status probes are not available"
        return Observation(None, False, evidence)
    down: list[dict[str, Any]] = []
    worst = 0.0
    for connection in _connections(rule):
        state = services.current_state(connection.pk)
        if state != "down":
            continue
        since = services.down_since(connection.pk)
        minutes = (now - since).total_seconds() / 60.0 if since is not None else 0.0
        worst = max(worst, minutes)
        down.append(
            {
                "server": connection.name,
                "down_since": since.isoformat() if since else None,
                "minutes": round(minutes, 1),
            }
        )
    evidence["down"] = down
    holds = bool(down) and worst >= rule.threshold
    names = ", ".join(item["server"] for item in down)
    title = f"{rule.name}: {names} down for {worst:.0f} min" if holds else rule.name
    return Observation(round(worst, 3), holds, evidence, title)


# --------------------------------------------------------------------------- held-back tool definitions
@evaluator("pins_held")
def _pins_held(rule: AlertRule, now: datetime, cache: dict[str, Any]) -> Observation:
    """Fires while a downstream tool's changed definition waits for approval (more than
    ``threshold`` of them, 0 by default)."""
    from omni.registry.pins import ToolPin

    connections = [c.pk for c in _connections(rule)]
    pins = list(
        ToolPin.objects.filter(connection_id__in=connections, status=ToolPin.Status.CHANGED)
        .select_related("connection")
        .order_by("connection__name", "tool_name")[:100]
    )
    held = [
        {
            "server": p.connection.name,
            "tool": p.tool_name,
            "changed_at": p.changed_at.isoformat() if p.changed_at else None,
        }
        for p in pins
    ]
    count = float(len(held))
    holds = count > rule.threshold
    evidence = {
        "held": held,
        "count": len(held),
        "threshold": rule.threshold,
        "link": dashboard_link(rule, now, now),
    }
    title = f"{rule.name}: {len(held)} tool definition change(s) held back" if holds else rule.name
    return Observation(count, holds, evidence, title)


# --------------------------------------------------------------------------- audit chain
def _chain_result(cache: dict[str, Any]) -> Any:
    """The whole-chain verification, once per evaluation run (every audit rule shares it)."""
    if "audit_chain" not in cache:
        from omni.audit.chain import chain_events, walk
        from omni.audit.models import AuditChainHead

        head = AuditChainHead.objects.filter(pk=1).first()
        cache["audit_chain"] = walk(chain_events(), head)
    return cache["audit_chain"]


@evaluator("audit_chain")
def _audit_chain(rule: AlertRule, now: datetime, cache: dict[str, Any]) -> Observation:
    """Fires when the audit hash chain does not verify (for an organization's rule: the problems
    that concern it, as ``verify_audit --org`` reports them)."""
    from omni.audit.chain import relevant_to
    from omni.audit.models import AuditEvent

    result = _chain_result(cache)
    if rule.organization_id is not None:
        seqs = list(AuditEvent.objects.filter(org_slug=rule.organization.slug).values_list("seq", flat=True))
        result = relevant_to(result, seqs)
    problems = [
        {"seq": p.seq, "kind": p.kind, "message": p.message}
        for p in sorted(result.problems, key=lambda p: p.seq)[:20]
    ]
    holds = not result.ok
    evidence = {
        "checked": result.checked,
        "problems": problems,
        "problem_count": len(result.problems),
        "first_broken_seq": result.first_broken_seq,
        "link": dashboard_link(rule, now, now),
    }
    title = f"{rule.name}: audit chain broken at seq {result.first_broken_seq}" if holds else rule.name
    return Observation(float(len(result.problems)), holds, evidence, title)


# --------------------------------------------------------------------------- load-test regressions
LOAD_DEDUPE_PREFIX = "loadtest:"


@evaluator("load_regression")
def _load_regression(rule: AlertRule, now: datetime, cache: dict[str, Any]) -> Observation:
    """Event-driven: a finished load run opens (regression, failed thresholds) or resolves (the next
    run passed) its profile and target's incident (``omni.loadtest.analysis.alerts``). Evaluation
    only reports how many are active; it never opens or resolves one (their dedupe keys are not the
    rule's)."""
    from omni.monitoring.models.alerts import Incident

    active = Incident.objects.filter(dedupe_key__startswith=LOAD_DEDUPE_PREFIX, state__in=Incident.ACTIVE)
    active = active.owned_by(rule.organization) if rule.organization_id is not None else active.none()
    count = active.count()
    evidence = {"active": count, "link": dashboard_link(rule, now, now)}
    return Observation(float(count), False, evidence, rule.name)
