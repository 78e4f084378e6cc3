"""Wiring done once per process, from ``MonitoringConfig.ready``."""

from __future__ import annotations

_done = False


def setup() -> None:
    global _done
    if _done:
        return
    _done = True
    from django.conf import settings

    _register_status_collector()
    if not settings.METRICS_ENABLED:
        return
    from omni.gateway import observe
    from omni.monitoring.metrics import celery_signals, subscriber

    observe.subscribe(subscriber.observe)
    celery_signals.connect()


def _register_status_collector() -> None:
    """The downstream status families (omni_downstream_*) of the server status part, when present."""
    try:
        from omni.monitoring.status import metrics as status_metrics
    except ImportError:
        return
    from omni.monitoring.metrics import register_collector

    register_collector(status_metrics.collect)
