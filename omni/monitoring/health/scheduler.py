"""The in-process scheduler: ``CELERY_BEAT_SCHEDULE`` run inside the web process.

In the embedded default (no ``REDIS_URL``: no broker, no worker, no beat, Celery tasks run eagerly)
the web process runs every schedule entry itself, on the same schedule beat would keep: numbers
(seconds), ``timedelta`` and ``celery.schedules`` objects (``crontab``, ``schedule``, ``solar``).
One daemon thread per process, started once (``ensure_started``, from the web process's first
request or its lifespan start-up), never by management commands, never inside a pytest run unless
a test starts one itself. Each run is ``task.apply()`` in that thread; this thread's database
connections are closed after every run; a failing task is logged (ERROR, with its traceback) and
the loop goes on. It stops when the process starts draining (``omni.lifecycle``).

``INPROCESS_SCHEDULER``: ``auto`` (default: on exactly when ``REDIS_URL`` is unset), ``on``,
``off``. With ``REDIS_URL`` beat does this work; ``on`` there would run every entry once more per
web process.
"""

from __future__ import annotations

import logging
import threading
import time
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from django.conf import settings

from omni import lifecycle

logger = logging.getLogger(__name__)

MAX_SLEEP = 1.0  # seconds: how late a stop or a due entry is noticed at most


def enabled() -> bool:
    mode = settings.INPROCESS_SCHEDULER
    if mode == "off":
        return False
    if mode == "on":
        return True
    return not settings.REDIS_URL


def as_schedule(value: Any) -> Any:
    """A celery schedule object for a beat entry's ``schedule`` (seconds, timedelta or object)."""
    from celery import schedules

    from omni.celery import app

    if isinstance(value, bool):
        raise ValueError(f"schedule {value!r} is not a number of seconds, a timedelta or a celery schedule")
    if isinstance(value, int | float):
        if value <= 0:
            raise ValueError(f"schedule {value!r} must be positive")
        return schedules.schedule(timedelta(seconds=value), app=app)
    if isinstance(value, timedelta):
        if value.total_seconds() <= 0:
            raise ValueError(f"schedule {value!r} must be positive")
        return schedules.schedule(value, app=app)
    if hasattr(value, "is_due") and hasattr(value, "remaining_estimate"):
        return value
    raise ValueError(f"schedule {value!r} is not a number of seconds, a timedelta or a celery schedule")


@dataclass
class Entry:
    name: str
    task: str
    schedule: Any
    args: tuple = ()
    kwargs: dict = field(default_factory=dict)
    last_run_at: datetime | None = None
    next_check: float = 0.0  # monotonic time of the next is_due check
    runs: int = 0
    failures: int = 0
    last_error: str = ""
    last_duration: float | None = None
    last_finished: float | None = None  # epoch seconds

    def as_json(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "task": self.task,
            "schedule": str(self.schedule),
            "runs": self.runs,
            "failures": self.failures,
            "last_error": self.last_error,
            "last_duration": None if self.last_duration is None else round(self.last_duration, 3),
            "last_finished": self.last_finished,
        }


class InProcessScheduler:
    """Runs the entries of a beat schedule in one background thread (see the module docstring)."""

    def __init__(self, schedule: dict[str, dict[str, Any]]) -> None:
        from omni.celery import app

        self.app = app
        self.entries: list[Entry] = []
        self.invalid: dict[str, str] = {}
        for name, spec in schedule.items():
            try:
                entry = Entry(
                    name=name,
                    task=str(spec["task"]),
                    schedule=as_schedule(spec["schedule"]),
                    args=tuple(spec.get("args") or ()),
                    kwargs=dict(spec.get("kwargs") or {}),
                )
            except (KeyError, TypeError, ValueError) as exc:
                self.invalid[name] = str(exc)
                logger.error("in-process scheduler: entry %r is not valid and never runs: %s", name, exc)
                continue
            entry.last_run_at = entry.schedule.now()  # like beat: the first run one period from now
            self.entries.append(entry)
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.started: float | None = None

    # ------------------------------------------------------------------ control
    def start(self) -> InProcessScheduler:
        if self._thread is not None:
            return self
        self.started = time.time()
        self._thread = threading.Thread(target=self._loop, name="omni-inprocess-scheduler", daemon=True)
        self._thread.start()
        logger.info(
            "in-process scheduler: %d entries (%s)",
            len(self.entries),
            ", ".join(e.name for e in self.entries),
        )
        return self

    def stop(self, timeout: float = 10.0) -> None:
        """Stop after the task running now (if any); waits at most ``timeout`` seconds."""
        self._stop.set()
        if self._thread is not None and self._thread is not threading.current_thread():
            self._thread.join(timeout)

    @property
    def running(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    def state(self) -> dict[str, Any]:
        return {
            "running": self.running,
            "started": self.started,
            "entries": [entry.as_json() for entry in self.entries],
            "invalid": dict(self.invalid),
        }

    # ------------------------------------------------------------------ the loop
    def _loop(self) -> None:
        # The tasks of every installed app (not loader.import_default_modules(): its signal makes
        # Celery's Django fixup run django.setup() again, which reconfigures logging).
        try:
            self.app.autodiscover_tasks(force=True)
        except Exception:
            logger.exception("in-process scheduler: task discovery failed")
        while not self._stop.is_set() and not lifecycle.is_draining():
            now = time.monotonic()
            for entry in self.entries:
                if self._stop.is_set():
                    break
                if entry.next_check > now:
                    continue
                try:
                    due, next_in = entry.schedule.is_due(entry.last_run_at)
                except Exception:
                    logger.exception("in-process scheduler: schedule of %r failed", entry.name)
                    due, next_in = False, 60.0
                if due:
                    entry.last_run_at = entry.schedule.now()
                    self._run(entry)
                entry.next_check = time.monotonic() + max(0.0, float(next_in))
            soonest = min((e.next_check for e in self.entries), default=time.monotonic() + MAX_SLEEP)
            self._stop.wait(min(MAX_SLEEP, max(0.01, soonest - time.monotonic())))
        logger.info("in-process scheduler stopped")

    def _run(self, entry: Entry) -> None:
        from django.db import connections

        started = time.perf_counter()
        try:
            task = self.app.tasks.get(entry.task)
            if task is None:
                raise LookupError(f"no task named {entry.task!r} is registered")
            task.apply(args=entry.args, kwargs=entry.kwargs, throw=True)
            entry.last_error = ""
        except Exception as exc:
            entry.failures += 1
            entry.last_error = f"{type(exc).__name__}: {str(exc)[:300]}"
            logger.exception("in-process scheduler: %s (%s) failed", entry.name, entry.task)
        finally:
            entry.runs += 1
            entry.last_duration = time.perf_counter() - started
            entry.last_finished = time.time()
            try:
                connections.close_all()  # this thread's connections only
            except Exception:
                logger.warning("in-process scheduler: closing database connections failed", exc_info=True)


# --------------------------------------------------------------------------- the process's one scheduler
_lock = threading.Lock()
_scheduler: InProcessScheduler | None = None


def current() -> InProcessScheduler | None:
    return _scheduler


def ensure_started() -> InProcessScheduler | None:
    """Start this process's scheduler once when ``enabled()`` (cheap to call again)."""
    global _scheduler
    if _scheduler is not None or not enabled():
        return _scheduler
    with _lock:
        if _scheduler is None:
            _scheduler = InProcessScheduler(settings.CELERY_BEAT_SCHEDULE).start()
    return _scheduler


def stop() -> None:
    """Stop this process's scheduler (the drain hook)."""
    if _scheduler is not None:
        _scheduler.stop()
