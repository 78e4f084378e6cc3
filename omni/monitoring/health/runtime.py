"""This process's heartbeat thread, and the start of a web process's background work.

``Beater`` writes a heartbeat every ``HEALTH_HEARTBEAT_SECONDS`` from a daemon thread (never on the
event loop, never on a request's path), with a payload the owner computes (requests served, tick
times …). Web processes start theirs with ``ensure_web_started()`` (called by
``ProcessLifecycle`` on the first request or at the lifespan start-up: daphne sends no lifespan),
which also starts the in-process scheduler when it is enabled and registers the drain hook that
stops both and removes the heartbeat. Celery workers and beat start theirs from Celery signals
(``celery_hooks.py``).
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from typing import Any

from omni import lifecycle
from omni.monitoring.health import heartbeats

logger = logging.getLogger(__name__)


class Beater:
    """A daemon thread that records ``process``'s heartbeat until ``stop()``."""

    def __init__(self, kind: str, payload: Callable[[], dict[str, Any]] | None = None) -> None:
        self.process = heartbeats.Process(kind)
        self.payload = payload or dict
        self.beats = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name=f"omni-heartbeat-{kind}", daemon=True)

    def start(self) -> Beater:
        self._thread.start()
        return self

    def beat_now(self) -> bool:
        try:
            payload = self.payload()
        except Exception as exc:
            logger.warning("heartbeat payload failed: %r", exc)
            payload = {}
        if heartbeats.write(self.process, payload):
            self.beats += 1
            return True
        return False

    def _loop(self) -> None:
        while not self._stop.is_set():
            self.beat_now()
            _close_connections()  # embedded default: no connection held between beats
            self._stop.wait(heartbeats.interval())

    def stop(self, *, remove: bool = True, timeout: float = 5.0) -> None:
        self._stop.set()
        if self._thread.is_alive() and self._thread is not threading.current_thread():
            self._thread.join(timeout)
        if remove:
            heartbeats.remove(self.process)
            _close_connections()


def _close_connections() -> None:
    """Close this thread's database connections (heartbeat threads and drain hooks only)."""
    from django.conf import settings

    if settings.REDIS_URL:
        return
    from django.db import connections

    try:
        connections.close_all()
    except Exception as exc:
        logger.warning("heartbeat: closing database connections failed: %r", exc)


# --------------------------------------------------------------------------- the web process
_lock = threading.Lock()
_web: Beater | None = None
_stats: dict[str, Any] = {"requests": 0, "in_flight": lambda: 0}


def count_request() -> None:
    """One more HTTP request served (called by ProcessLifecycle; a plain integer add)."""
    _stats["requests"] += 1


def _web_payload() -> dict[str, Any]:
    from omni.monitoring.health import scheduler

    in_flight = _stats["in_flight"]
    payload: dict[str, Any] = {"requests": _stats["requests"], "in_flight": int(in_flight())}
    running = scheduler.current()
    if running is not None:
        payload["scheduler"] = {
            "running": running.running,
            "runs": sum(entry.runs for entry in running.entries),
            "failures": sum(entry.failures for entry in running.entries),
        }
    return payload


def ensure_web_started(in_flight: Callable[[], int] | None = None) -> bool:
    """Start this web process's heartbeat and (when enabled) in-process scheduler, once.

    Returns False and starts nothing inside a pytest run: tests start what they test themselves."""
    global _web
    if _web is not None:
        return True
    if heartbeats.running_under_pytest():
        return False
    with _lock:
        if _web is not None:
            return True
        if in_flight is not None:
            _stats["in_flight"] = in_flight
        from omni.monitoring.health import scheduler

        _web = Beater("web", _web_payload).start()
        scheduler.ensure_started()
        lifecycle.on_drain(_on_drain)
    return True


async def _on_drain() -> None:
    import asyncio

    from omni.monitoring.health import scheduler

    await asyncio.to_thread(scheduler.stop)
    if _web is not None:
        await asyncio.to_thread(_web.stop)
