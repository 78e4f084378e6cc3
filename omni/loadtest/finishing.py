"""The end of a run: merge its shards into the report, analyse it, give the verdict.

``finish_run(run)`` runs once per run (under its row lock; a second call does nothing):

1. merges the results of the ``main`` phase into ``LoadRun.report`` and those of every later phase
   into ``report[phase]`` (``report["direct"]``: the same load sent to the server alone);
2. when the run completed, hands it to the analysis part (``omni.loadtest.analysis.analyse_run``):
   the profile's thresholds, the comparison with the baseline (the one named by
   ``run.comparison["baseline"]``, which the command's ``--compare`` sets, or by the profile's
   ``baseline`` key; else the default ``profile:target`` when it exists), fairness when several
   organizations took part, the overhead when the direct phase ran, the knee when the profile has
   an ``slo``, and the verdict (``regressed``, ``thresholds`` or ``passed``);
3. sets the status (``cancelled`` when a cancel was requested, ``failed`` when a shard failed, else
   ``completed``; only a completed run gets a verdict), then after the commit releases the run's
   credentials, opens or resolves the regression incident (``analysis.notify_verdict``) and
   publishes ``loadrun.status`` and ``loadrun.finished``.

An analysis that raises is recorded in ``report["analysis_errors"]``; it never loses the run.
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


def baseline_name(run: LoadRun) -> str | None:
    """The baseline the run is compared with when one is named (``--compare``, the profile's
    ``baseline`` key); None: the analysis part's default (``profile:target``) when it exists."""
    requested = (run.comparison or {}).get("baseline")
    name = requested if isinstance(requested, str) else (run.spec or {}).get("baseline")
    return str(name) if name else None


def analyse(run: LoadRun) -> None:
    """Thresholds, comparison with the baseline, fairness, overhead, knee and the verdict, by
    ``omni.loadtest.analysis.analyse_run`` (on ``run`` in memory; the caller saves it)."""
    analysis = _analysis()
    if analysis is None:
        run.report = {**run.report, "analysis_errors": ["omni.loadtest.analysis is not available"]}
        return
    try:
        with transaction.atomic():  # a savepoint: a database error in it does not break the finish
            analysis.analyse_run(run, baseline_name=baseline_name(run), save=False, alert=False)
    except Exception as exc:  # noqa: BLE001 (recorded on the report; the run keeps its results)
        log.exception("loadtest: the analysis of run %s failed", run.uuid)
        run.report = {**run.report, "analysis_errors": [f"{type(exc).__name__}: {exc}"]}
        run.verdict = LoadRun.Verdict.NONE


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
        run.report = build_report(run)
        run.verdict = LoadRun.Verdict.NONE
        if run.cancel_requested:
            run.status = LoadRun.Status.CANCELLED
        elif failed:
            run.status = LoadRun.Status.FAILED
            run.error = "; ".join(f"shard {phase}/{index}: {error}" for phase, index, error in failed)[:4000]
        else:
            run.status = LoadRun.Status.COMPLETED
            analyse(run)
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
    analysis = _analysis()
    if analysis is not None and run.status == LoadRun.Status.COMPLETED:
        try:
            analysis.notify_verdict(run)  # a regression opens an incident, a pass resolves it
        except Exception:
            log.exception("loadtest: the incident of run %s could not be opened or resolved", run.uuid)
    try:  # "save as baseline" asked on the start form: done now, not when someone opens the page
        from omni.loadtest.followups import apply_followups

        apply_followups(run, run.created_by)
    except Exception:
        log.exception("loadtest: the follow-ups of run %s failed", run.uuid)
    live.publish(run.uuid, status)
    live.publish(run.uuid, finished)
