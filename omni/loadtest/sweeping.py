"""The safety net for shards nobody finishes (beat: ``sweep_load_shards`` every minute).

- a ``running`` shard whose worker died (killed, machine lost) never reports: it is failed once
  its warm-up, duration and ``LOADTEST_SHARD_GRACE_S`` have passed since it started;
- a ``queued`` shard of a cancelled run is cancelled (no worker may ever take it);
- a ``queued`` shard of a run that started longer ago than all its phases and twice the grace is
  failed (no worker consumes ``LOADTEST_QUEUE``);
- a run whose shards have all ended but that was never finished (its finisher died) is finished.

Each step goes through ``execution.complete_shard``/``finish_run``: idempotent, safe beside a
worker that reports at the same moment and beside another sweep.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from django.conf import settings
from django.utils import timezone

from omni.loadtest.execution import SHARD_FINISHED, complete_shard
from omni.loadtest.finishing import finish_run
from omni.loadtest.models import LoadRun, LoadShard


def _window_s(spec: dict[str, Any]) -> float:
    return float(spec.get("warmup_s") or 0) + float(spec.get("duration_s") or 0)


def _planned_s(run: LoadRun) -> float:
    """How long every phase of the run takes, one after the other."""
    phases: dict[str, float] = {}
    for shard in run.shards.all():
        phases[shard.phase] = max(phases.get(shard.phase, 0.0), _window_s(shard.spec or {}))
    return sum(phases.values())


def sweep(now: Any = None) -> dict[str, int]:
    """One pass; returns how many shards it failed or cancelled and runs it finished."""
    now = now or timezone.now()
    grace = timedelta(seconds=settings.LOADTEST_SHARD_GRACE_S)
    counts = {"lost": 0, "cancelled": 0, "not_started": 0, "finished": 0}
    for shard in LoadShard.objects.filter(status=LoadShard.Status.RUNNING, started_at__isnull=False):
        if shard.started_at + timedelta(seconds=_window_s(shard.spec or {})) + grace < now:
            error = f"no result from {shard.worker or 'its worker'} in time: the worker was lost"
            counts["lost"] += complete_shard(shard.pk, LoadShard.Status.FAILED, error=error)
    runs = LoadRun.objects.filter(status__in=[LoadRun.Status.RUNNING, LoadRun.Status.QUEUED])
    for run in runs.filter(shards__status=LoadShard.Status.QUEUED).distinct():
        queued = run.shards.filter(status=LoadShard.Status.QUEUED).values_list("pk", flat=True)
        if run.cancel_requested:
            for pk in list(queued):
                counts["cancelled"] += complete_shard(
                    pk, LoadShard.Status.CANCELLED, error="cancelled before it started"
                )
        elif run.started_at and run.started_at + timedelta(seconds=_planned_s(run)) + 2 * grace < now:
            error = f"never started: no worker took it from the queue {settings.LOADTEST_QUEUE!r}"
            for pk in list(queued):
                counts["not_started"] += complete_shard(pk, LoadShard.Status.FAILED, error=error)
    for run in LoadRun.objects.filter(status=LoadRun.Status.RUNNING):
        if not run.shards.exclude(status__in=SHARD_FINISHED).exists():
            finish_run(run)
            counts["finished"] += 1
    return counts
