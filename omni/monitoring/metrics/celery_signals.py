"""Counts finished Celery tasks (by task name and state) and their run time, in whatever process
runs them: a worker, or a web process in the embedded default (eager tasks)."""

from __future__ import annotations

import time
from typing import Any

from celery import signals

from omni.monitoring.metrics import instruments

_started: dict[str, float] = {}
MAX_STARTED = 10_000


def _prerun(task_id: str | None = None, **_: Any) -> None:
    if task_id and len(_started) < MAX_STARTED:
        _started[task_id] = time.perf_counter()


def _postrun(task_id: str | None = None, task: Any = None, state: str | None = None, **_: Any) -> None:
    name = getattr(task, "name", None) or "unknown"
    instruments.celery_tasks.labels(name, (state or "unknown").lower()).inc()
    started = _started.pop(task_id, None) if task_id else None
    if started is not None:
        instruments.celery_task_duration.labels(name).observe(time.perf_counter() - started)


def connect() -> None:
    signals.task_prerun.connect(_prerun, weak=False, dispatch_uid="omni-metrics-prerun")
    signals.task_postrun.connect(_postrun, weak=False, dispatch_uid="omni-metrics-postrun")
