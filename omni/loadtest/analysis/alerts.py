"""A regressed load run (or one that failed its thresholds) opens an incident for its organization
through the alerting of ``omni.monitoring``; the next passing run of the same profile and target
resolves it.

One active incident per organization, profile and target (its dedupe key). The organization's
first enabled rule of kind ``load_regression`` (by name) gives the incident its rule, severity and
channels, and its maintenance windows mute it; without such a rule the incident still opens (shown
on the alerts page, notifying nobody). Transitions are audited as ``alert.incident_open`` /
``alert.incident_resolve`` like every incident.
"""

from __future__ import annotations

import hashlib
import logging
from typing import Any

from django.db import IntegrityError, transaction
from django.urls import NoReverseMatch, reverse
from django.utils import timezone

from omni.audit.services import AuditTarget, record
from omni.loadtest.models import LoadRun
from omni.monitoring.alerts import services as alerting
from omni.monitoring.alerts.conditions import LOAD_DEDUPE_PREFIX
from omni.monitoring.models.alerts import AlertRule, Incident, Severity

logger = logging.getLogger(__name__)

RULE_NAME = "load test"  # the incident's rule name when no load_regression rule exists
FAILING = (LoadRun.Verdict.REGRESSED, LoadRun.Verdict.FAILED_THRESHOLDS)


def dedupe_key(org_id: int, profile: str, target: str) -> str:
    digest = hashlib.sha256(f"{profile}\0{target}".encode()).hexdigest()[:40]
    return f"{LOAD_DEDUPE_PREFIX}{org_id}:{digest}"


def active_incident(run: LoadRun) -> Incident | None:
    key = dedupe_key(run.organization_id, run.profile_name, run.target)
    return (
        Incident.objects.owned_by(run.organization).filter(dedupe_key=key, state__in=Incident.ACTIVE).first()
    )


def routing_rule(run: LoadRun) -> AlertRule | None:
    return (
        AlertRule.objects.owned_by(run.organization)
        .filter(kind=AlertRule.Kind.LOAD_REGRESSION, enabled=True)
        .order_by("name", "pk")
        .first()
    )


def run_link(run: LoadRun) -> str:
    """The run's page (the UI part's ``loadtest:run``), or where it will be."""
    try:
        return reverse("loadtest:run", kwargs={"slug": run.organization.slug, "run": run.uuid})
    except NoReverseMatch:
        return f"/o/{run.organization.slug}/loadtests/runs/{run.uuid}/"


def _evidence(run: LoadRun) -> dict[str, Any]:
    comparison = run.comparison or {}
    failed = [row for row in (run.report or {}).get("thresholds") or [] if not row.get("passed")]
    slower = {
        label: item.get("reasons", [])
        for label, item in (comparison.get("operations") or {}).items()
        if item.get("verdict") == "slower"
    }
    return {
        "run": str(run.uuid),
        "profile": run.profile_name,
        "target": run.target,
        "verdict": run.verdict,
        "baseline": comparison.get("baseline"),
        "regressions": slower,
        "throughput": (comparison.get("throughput") or {}).get("verdict"),
        "failed_thresholds": [row["threshold"] for row in failed],
        "link": run_link(run),
        "value": len(slower) + len(failed),
    }


def _title(run: LoadRun, evidence: dict[str, Any]) -> str:
    parts = []
    if evidence["regressions"]:
        parts.append("slower: " + ", ".join(sorted(evidence["regressions"])))
    if evidence["throughput"] == "lower":
        parts.append("throughput lower")
    if evidence["failed_thresholds"]:
        parts.append("failed " + ", ".join(evidence["failed_thresholds"]))
    what = "; ".join(parts) or run.get_verdict_display()
    return f"Load test {run.profile_name} → {run.target}: {what}"[:300]


def notify_verdict(run: LoadRun) -> str:
    """Open, update or resolve the incident of ``run``'s profile and target from its verdict.
    Returns "opened", "updated", "resolved", "muted" or "none"."""
    if run.status != LoadRun.Status.COMPLETED or not run.verdict:
        return "none"
    now = timezone.now()
    active = active_incident(run)
    if run.verdict == LoadRun.Verdict.PASSED:
        if active is None:
            return "none"
        resolved = alerting.resolve(
            active,
            now=now,
            resolution=f"the next run passed ({run.uuid})"[:200],
            evidence={"run": str(run.uuid), "verdict": run.verdict, "link": run_link(run)},
        )
        return "resolved" if resolved else "none"
    if run.verdict not in FAILING:
        return "none"
    evidence = _evidence(run)
    if active is not None:
        runs = list(active.evidence.get("runs") or [])[-19:] + [str(run.uuid)]
        active.evidence = {**active.evidence, **evidence, "runs": runs, "updated_at": now.isoformat()}
        active.title = _title(run, evidence)
        active.save(update_fields=["evidence", "title"])
        return "updated"
    rule = routing_rule(run)
    if rule is not None and alerting.muting_window(rule, now) is not None:
        return "muted"
    evidence.update(
        runs=[str(run.uuid)],
        rule=rule.name if rule else RULE_NAME,
        condition="a load test regressed against its baseline or failed its thresholds",
    )
    try:
        with transaction.atomic():  # a savepoint: a racing opener loses on the unique constraint
            incident = Incident.objects.create(
                organization=run.organization,
                rule=rule,
                rule_name=rule.name if rule else RULE_NAME,
                severity=rule.severity if rule else Severity.WARNING,
                dedupe_key=dedupe_key(run.organization_id, run.profile_name, run.target),
                title=_title(run, evidence),
                evidence=evidence,
                opened_at=now,
            )
    except IntegrityError:
        return "updated"
    record(
        "alert.incident_open",
        organization=run.organization,
        actor="alerting",
        target=AuditTarget("monitoring.incident", str(incident.uuid), incident.title[:200]),
        data={
            "state": incident.state,
            "rule": incident.rule_name,
            "run": str(run.uuid),
            "value": evidence["value"],
        },
    )
    alerting.queue_notifications(incident, "opened")
    return "opened"
