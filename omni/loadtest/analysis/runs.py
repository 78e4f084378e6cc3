"""The analysis of a finished run, in one call for ``execution.finish_run`` and the command:
thresholds, fairness (several organizations), overhead (a direct phase), the knee (an SLO), the
comparison with the baseline, the verdict, and the incident."""

from __future__ import annotations

import logging
from typing import Any

from omni.loadtest.analysis.alerts import notify_verdict
from omni.loadtest.analysis.baselines import baseline_of_run
from omni.loadtest.analysis.compare import compare
from omni.loadtest.analysis.fairness import fairness
from omni.loadtest.analysis.knee import knee
from omni.loadtest.analysis.overhead import overhead
from omni.loadtest.analysis.thresholds import ThresholdError, check_thresholds
from omni.loadtest.models import LoadRun

logger = logging.getLogger(__name__)


def org_weights(spec: dict[str, Any]) -> dict[str, float]:
    """slug → weight from the profile's organizations (a list of {org|slug, weight} or a mapping)."""
    orgs = spec.get("orgs", spec.get("organizations")) or []
    if isinstance(orgs, dict):
        return {
            str(slug): float(w if not isinstance(w, dict) else w.get("weight", 1.0))
            for slug, w in orgs.items()
        }
    weights: dict[str, float] = {}
    for item in orgs:
        if isinstance(item, str):
            weights[item] = 1.0
        elif isinstance(item, dict):
            slug = item.get("org") or item.get("slug") or item.get("organization")
            if slug:
                weights[str(slug)] = float(item.get("weight", 1.0))
    return weights


def stress_slo(spec: dict[str, Any]) -> Any:
    return spec.get("slo") or (spec.get("stress") or {}).get("slo")


def analyse_run(
    run: LoadRun, *, baseline_name: str | None = None, alert: bool = True, save: bool = True
) -> LoadRun:
    """Fill ``run.report`` (thresholds, fairness, overhead, knee), ``run.comparison`` (against the
    baseline ``baseline_name``, default ``profile:target``, when one exists and is another run) and
    ``run.verdict`` ("regressed", "thresholds" or "passed"); then open or resolve the incident of
    its profile and target. A run that did not complete gets no verdict."""
    if run.status != LoadRun.Status.COMPLETED:
        return run
    spec = run.spec or {}
    report = dict(run.report or {})
    problems: list[str] = []
    thresholds = spec.get("thresholds") or []
    try:
        report["thresholds"] = check_thresholds(report, thresholds)
    except ThresholdError as exc:
        problems.append(str(exc))
        report["thresholds"] = []
    baseline = baseline_of_run(run, baseline_name)
    if baseline is not None and baseline.run_id == run.pk:
        baseline = None
    reference = baseline.run.report if baseline is not None else None
    if len(report.get("orgs") or {}) > 1:
        report["fairness"] = fairness(report, org_weights(spec), reference=reference)
    if report.get("direct"):
        report["overhead"] = overhead(report, report["direct"])
    slo = stress_slo(spec)
    if slo:
        try:
            report["knee"] = knee(report, slo, arrival=spec.get("arrival"))
        except ThresholdError as exc:
            problems.append(str(exc))
    comparison: dict[str, Any] = {}
    if reference and reference.get("operations"):
        try:
            comparison = compare(report, reference, thresholds)
        except ThresholdError as exc:
            problems.append(str(exc))
        else:
            comparison["baseline"] = {
                "name": baseline.name,
                "run": str(baseline.run.uuid),
                "saved_at": baseline.created_at.isoformat(),
            }
    if problems:
        report["analysis_problems"] = problems
    if comparison.get("verdict") == "regressed":
        verdict = LoadRun.Verdict.REGRESSED
    elif any(not row["passed"] for row in report["thresholds"]):
        verdict = LoadRun.Verdict.FAILED_THRESHOLDS
    else:
        verdict = LoadRun.Verdict.PASSED
    run.report, run.comparison, run.verdict = report, comparison, verdict
    if save:
        run.save(update_fields=["report", "comparison", "verdict"])
        if alert:
            try:
                notify_verdict(run)
            except Exception:  # noqa: BLE001 - the verdict stands even when alerting fails
                logger.exception("load run %s: opening or resolving its incident failed", run.uuid)
    return run
