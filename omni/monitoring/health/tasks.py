"""The health app's periodic task (``CELERY_BEAT_SCHEDULE["health-tick"]``)."""

from __future__ import annotations

from typing import Any

from celery import shared_task


@shared_task(name="omni.monitoring.health.tasks.health_tick", ignore_result=True)
def health_tick() -> dict[str, Any]:
    """Beat's tick made visible: record that a scheduled task ran (and where), and delete database
    heartbeats gone long ago (embedded default)."""
    from django.conf import settings

    from omni.monitoring.health import heartbeats

    source = (
        "beat" if settings.REDIS_URL and not settings.CELERY_TASK_ALWAYS_EAGER else "in-process scheduler"
    )
    heartbeats.record_tick(source)
    return {"removed": heartbeats.cleanup()}
