"""Heartbeats of Celery workers and beat, from Celery's signals (connected in the app's ready()).

* ``worker_ready``: the worker's main process starts a heartbeat thread (kind ``worker``: its node
  name, pool, concurrency, queues); ``worker_shutdown`` stops it and removes the heartbeat.
* ``after_setup_logger`` / ``after_setup_task_logger``: the last-errors handler goes back on the
  loggers Celery set up (errors of workers and beat reach the system health page).
* ``beat_init``: beat starts a heartbeat thread (kind ``beat``); every task beat sends
  (``before_task_publish`` in the beat process) updates ``last_tick``, so the page shows when beat
  last sent work. The ``health_tick`` task, on beat's schedule, records when that work was run.
"""

from __future__ import annotations

import atexit
import time
from typing import Any

from celery import signals

from omni.monitoring.health.runtime import Beater


def _keep_last_errors(logger: Any = None, **kwargs: Any) -> None:
    """Celery's worker and beat replace the root logger's handlers (``worker_hijack_root_logger``)
    and keep task loggers from propagating: put the last-errors handler back on both."""
    from omni.monitoring.health.errors import LastErrorsHandler

    if logger is not None and not any(isinstance(h, LastErrorsHandler) for h in logger.handlers):
        logger.addHandler(LastErrorsHandler())


signals.after_setup_logger.connect(_keep_last_errors, dispatch_uid="omni.health.errors_root", weak=False)
signals.after_setup_task_logger.connect(_keep_last_errors, dispatch_uid="omni.health.errors_task", weak=False)


_state: dict[str, Any] = {"worker": None, "beat": None, "last_tick": None, "last_task": "", "sent": 0}


def _worker_payload(consumer: Any) -> dict[str, Any]:
    def payload() -> dict[str, Any]:
        controller = getattr(consumer, "controller", None)
        pool = getattr(controller, "pool", None)
        queues = []
        try:
            queues = sorted(q.name for q in consumer.task_consumer.queues)
        except Exception:  # noqa: S110 - not started yet or already stopped
            pass
        return {
            "node": getattr(consumer, "hostname", ""),
            "pool": type(pool).__module__.rsplit(".", 1)[-1] if pool is not None else "",
            "concurrency": getattr(controller, "concurrency", None),
            "queues": queues,
        }

    return payload


@signals.worker_ready.connect(dispatch_uid="omni.health.worker_ready")
def _on_worker_ready(sender: Any = None, **kwargs: Any) -> None:
    if _state["worker"] is None:
        _state["worker"] = Beater("worker", _worker_payload(sender)).start()


@signals.worker_shutdown.connect(dispatch_uid="omni.health.worker_shutdown")
def _on_worker_shutdown(sender: Any = None, **kwargs: Any) -> None:
    beater = _state["worker"]
    if beater is not None:
        _state["worker"] = None
        beater.stop()


def _beat_payload() -> dict[str, Any]:
    return {"last_tick": _state["last_tick"], "last_task": _state["last_task"], "sent": _state["sent"]}


@signals.beat_init.connect(dispatch_uid="omni.health.beat_init")
def _on_beat_init(sender: Any = None, **kwargs: Any) -> None:
    if _state["beat"] is None:
        _state["beat"] = Beater("beat", _beat_payload).start()
        atexit.register(_state["beat"].stop)  # beat has no shutdown signal: forget it on a clean exit


@signals.before_task_publish.connect(dispatch_uid="omni.health.beat_tick")
def _on_publish(sender: str | None = None, **kwargs: Any) -> None:
    if _state["beat"] is not None:  # only in the beat process
        _state["last_tick"] = time.time()
        _state["last_task"] = sender or ""
        _state["sent"] += 1
