"""Wiring done once per process, from ``MonitoringConfig.ready``."""

from __future__ import annotations

_done = False


def setup() -> None:
    global _done
    if _done:
        return
    _done = True
    from django.conf import settings

    if not settings.METRICS_ENABLED:
        return
    from omni.gateway import observe
    from omni.monitoring.metrics import celery_signals, subscriber

    observe.subscribe(subscriber.observe)
    celery_signals.connect()
