"""The end of a run: merge its shards into the report, analyse it, give the verdict.

``finish_run(run)`` runs once per run (under its row lock; a second call does nothing):

1. merges the results of the ``main`` phase into ``LoadRun.report`` and those of every later phase
   into ``report[phase]`` (``report["direct"]``: the same load sent to the server alone);
2. when the run completed, asks the analysis part (``omni.loadtest.analysis``): thresholds of the
   profile (``check_thresholds``), the comparison with a baseline (``compare``; the baseline named
   by ``run.comparison["baseline"]``, which the command's ``--compare`` sets, or by the profile's
   ``baseline`` key), ``fairness`` when several organizations took part, ``overhead`` when the
   direct phase ran, ``knee`` when the profile has an ``slo``;
3. sets the status (``cancelled`` when a cancel was requested, ``failed`` when a shard failed, else
   ``completed``) and the verdict (``thresholds`` when one failed, ``regressed`` when the comparison
   says so, else ``passed``), releases the run's credentials and publishes ``loadrun.finished``.

An analysis step that raises is recorded in ``report["analysis_errors"]``; it never loses the run.
"""

from __future__ import annotations

import logging
from typing import Any

from django.db import transaction
from django.utils import timezone

from omni.loadtest import live
from omni.loadtest.merging import merge
from omni.loadtest.models import LoadRun, LoadShard

log = logging.getLogger(__name__)


def _analysis() -> Any:
    try:
        from omni.loadtest import analysis
    except ImportError:  # the analysis part is not installed (yet)
        return None
    return analysis


def _failed(item: dict[str, Any]) -> bool:
    return item.get("passed") is False or item.get("ok") is False or item.get("status") in {"failed", "fail"}


def baseline_name(run: LoadRun) -> str:
    return str((run.comparison or {}).get("baseline") or (run.spec or {}).get("baseline") or "")


def analyse(run: LoadRun, report: dict[str, Any]) -> tuple[dict[str, Any], str]:
    """The analysis keys of ``report`` (added in place), the comparison and the verdict."""
    analysis = _analysis()
    spec = run.spec or {}
    errors: list[str] = []
    comparison: dict[str, Any] = dict(run.comparison or {})
    if analysis is None:
        report["analysis_errors"] = ["omni.loadtest.analysis is not available"]
        return comparison, LoadRun.Verdict.PASSED

    def step(name: str, call: Any) -> Any:
        try:
            return call()
        except Exception as exc:  # noqa: BLE001 (recorded on the report)
            log.warning("loadtest: analysis %s of run %s failed", name, run.uuid, exc_info=True)
            errors.append(f"{name}: {type(exc).__name__}: {exc}")
            return None

    thresholds = spec.get("thresholds")
    if thresholds:
        checked = step("thresholds", lambda: analysis.check_thresholds(report, thresholds))
        if checked is not None:
            report["thresholds"] = checked
    if len(report.get("orgs") or {}) > 1:
        fairness = step("fairness", lambda: analysis.fairness(report))
        if fairness is not None:
            report["fairness"] = fairness
    if report.get("direct"):
        overhead = step("overhead", lambda: analysis.overhead(report, report["direct"]))
        if overhead is not None:
            report["overhead"] = overhead
    if spec.get("slo"):
        knee = step("knee", lambda: analysis.knee(report, spec["slo"]))
        if knee is not None:
            report["knee"] = knee
    name = baseline_name(run)
    if name:
        baseline = step("baseline", lambda: analysis.baseline_for(run.organization, name))
        if baseline is None and not errors:
            comparison = {"baseline": name, "error": f"no baseline named {name!r}"}
        elif baseline is not None:
            result = step("compare", lambda: analysis.compare(report, baseline.run.report, thresholds))
            if result is not None:
                comparison = {**result, "baseline": name, "baseline_run": str(baseline.run.uuid)}
    if errors:
        report["analysis_errors"] = errors
    if any(_failed(item) for item in report.get("thresholds") or [] if isinstance(item, dict)):
        return comparison, LoadRun.Verdict.FAILED_THRESHOLDS
    if comparison.get("verdict") == "regressed":
        return comparison, LoadRun.Verdict.REGRESSED
    return comparison, LoadRun.Verdict.PASSED


def build_report(run: LoadRun) -> dict[str, Any]:
    """The merged report of the run's shards as they are now (main, and each later phase)."""
    by_phase: dict[str, list[dict[str, Any]]] = {}
    for phase, result in run.shards.order_by("phase", "index").values_list("phase", "result"):
        by_phase.setdefault(phase, [])
        if result:
            by_phase[phase].append(result)
    report: dict[str, Any] = dict(merge(by_phase.pop("main", [])))
    for phase, results in by_phase.items():
        if results:
            report[phase] = dict(merge(results))
    return report


def finish_run(run: LoadRun) -> LoadRun:
    """Merge, analyse, give the verdict, release credentials, publish (once per run)."""
    with transaction.atomic():
        run = LoadRun.objects.select_for_update().select_related("organization").get(pk=run.pk)
        if run.finished:
            return run
        failed = list(
            run.shards.filter(status=LoadShard.Status.FAILED)
            .order_by("phase", "index")
            .values_list("phase", "index", "error")
        )
        run.shards.filter(status__in=[LoadShard.Status.QUEUED, LoadShard.Status.RUNNING]).update(
            status=LoadShard.Status.CANCELLED,
            error="the run ended before this shard",
            finished_at=timezone.now(),
        )
        report = build_report(run)
        verdict = LoadRun.Verdict.NONE
        if run.cancel_requested:
            run.status = LoadRun.Status.CANCELLED
        elif failed:
            run.status = LoadRun.Status.FAILED
            run.error = "; ".join(f"shard {phase}/{index}: {error}" for phase, index, error in failed)[:4000]
        else:
            run.status = LoadRun.Status.COMPLETED
            run.comparison, verdict = analyse(run, report)
        run.report = report
        run.verdict = verdict
        run.finished_at = timezone.now()
        run.shards_done = run.shards.count()
        run.shards_total = max(run.shards_total, run.shards_done)
        fields = ["status", "report", "comparison", "verdict", "error", "finished_at"]
        run.save(update_fields=[*fields, "shards_done", "shards_total"])
        status, finished = live.status_message(run), live.finished_message(run)
        transaction.on_commit(lambda: _after_finish(run, status, finished))
    return run


def _after_finish(run: LoadRun, status: dict[str, Any], finished: dict[str, Any]) -> None:
    try:
        from omni.loadtest.services import release_credentials
    except ImportError:
        release_credentials = None
    if release_credentials is not None:
        try:
            release_credentials(run)
        except Exception:
            log.exception("loadtest: releasing the credentials of run %s failed", run.uuid)
    live.publish(run.uuid, status)
    live.publish(run.uuid, finished)
